"""The option table is the one source: TritonOptions' fields and defaults, value formatting,
as_options, and the size limits of the config package."""

from __future__ import annotations

import ast
import dataclasses
import math
from collections import OrderedDict
from pathlib import Path

import pytest

import pyflink_triton.config as config
from pyflink_triton.config import (
    OPTION_SPECS,
    REQUIRED_KEYS,
    SUPPORTED_KEYS,
    OptionSpec,
    TritonOptions,
    TritonProvider,
    as_options,
    format_default_value,
)
from pyflink_triton.errors import TritonConfigError

EP = "http://localhost:8000/v2/models"
BASE = {"endpoint": EP, "model-name": "m"}


def test_each_option_appears_once() -> None:
    for column in ("key", "attr", "keyword"):
        values = [getattr(s, column) for s in OPTION_SPECS if getattr(s, column) is not None]
        assert len(values) == len(set(values)), column
    assert tuple(sorted(s.key for s in OPTION_SPECS)) == SUPPORTED_KEYS
    assert set(REQUIRED_KEYS) <= set(SUPPORTED_KEYS)


def test_ours_exactly_when_pyflink_has_no_keyword() -> None:
    for spec in OPTION_SPECS:
        assert spec.ours == (spec.keyword is None), spec.key
    with pytest.raises(ValueError, match="'ours'"):
        OptionSpec("x", "x", "int", None, None)


def test_triton_options_fields_follow_the_table() -> None:
    fields = dataclasses.fields(TritonOptions)
    assert [f.name for f in fields] == [s.attr for s in OPTION_SPECS]
    by_name = {f.name: f for f in fields}
    for spec in OPTION_SPECS:
        f = by_name[spec.attr]
        if spec.key in REQUIRED_KEYS:
            assert f.default is dataclasses.MISSING and spec.default is None
        elif spec.kind == "map":
            assert f.default_factory is dict and spec.default is None
        else:
            assert f.default == spec.typed_default, spec.key


def test_table_defaults_are_what_from_map_gives() -> None:
    o = TritonOptions.from_map(BASE)
    explicit = TritonOptions.from_map({**BASE, **{s.key: s.default for s in OPTION_SPECS if s.default}})
    assert o == explicit
    assert o.to_map() == {"provider": "triton", **BASE}


def test_table_defaults_are_valid_text_of_their_kind() -> None:
    typed = {s.key: s.typed_default for s in OPTION_SPECS}
    assert (typed["timeout"], typed["retry-initial-backoff"], typed["circuit-breaker-timeout"]) == (30.0, 0.1, 60.0)
    assert (typed["binary-data"], typed["max-retries"], typed["priority"]) == (True, 0, None)


def test_descriptions_are_one_line() -> None:
    for spec in OPTION_SPECS:
        assert spec.description and "\n" not in spec.description, spec.key


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (True, "true"),
        (False, "false"),
        (-1, "-1"),
        (2.5, "2.5"),
        ("null", "null"),
        ([1.0, 2.0], "[1.0, 2.0]"),
        ((1, "a"), '[1, "a"]'),
        ({"k": [1]}, '{"k": [1]}'),
        (OrderedDict(a=1), '{"a": 1}'),
    ],
)
def test_format_default_value(value: object, text: str | None) -> None:
    assert format_default_value(value) == text  # type: ignore[arg-type]
    if text is not None:
        # The same text whichever way the value comes in.
        assert TritonOptions.from_map({**BASE, "default-value": value}).default_value == text
        provider = TritonProvider(endpoint=EP, model_name="m", default_value=value)  # type: ignore[arg-type]
        assert provider.to_options()["default-value"] == text


@pytest.mark.parametrize("value", [[math.nan], {"k": object()}])
def test_format_default_value_rejects_non_json(value: object) -> None:
    with pytest.raises(ValueError, match="non-JSON-serializable"):
        format_default_value(value)  # type: ignore[arg-type]
    with pytest.raises(TritonConfigError, match="option 'default-value'") as info:
        TritonOptions.from_map({**BASE, "default-value": value})
    assert info.value.option == "default-value"


def test_as_options_accepts_each_kind_of_model() -> None:
    opts = TritonOptions(endpoint=EP, model_name="m")
    assert as_options(opts) is opts
    assert as_options(TritonProvider(endpoint=EP, model_name="m")) == opts
    assert as_options({"provider": "triton", **BASE}) == opts
    with pytest.raises(TritonConfigError, match="model-name"):
        as_options({"endpoint": EP})


@pytest.mark.parametrize("model", [None, "triton", [("endpoint", EP)], 3])
def test_as_options_names_the_accepted_kinds(model: object) -> None:
    with pytest.raises(TypeError, match="TritonProvider, TritonOptions or a mapping") as info:
        as_options(model)  # type: ignore[arg-type]
    assert type(model).__name__ in str(info.value)


def test_package_exports() -> None:
    required = {
        "Endpoint",
        "OPTION_SPECS",
        "OptionSpec",
        "RESERVED_PARAMETERS",
        "SUPPORTED_KEYS",
        "TritonOptions",
        "TritonProvider",
        "format_duration",
        "parse_bool",
        "parse_duration",
        "parse_map",
        "as_options",
        "format_default_value",
    }
    assert required <= set(config.__all__)
    for name in config.__all__:
        assert hasattr(config, name), name


_PACKAGE = Path(config.__file__).parent


@pytest.mark.parametrize("path", sorted(_PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_config_modules_and_functions_stay_small(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.count("\n") < 400, path.name
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= 60, f"{path.name}: {node.name} is {length} lines"
