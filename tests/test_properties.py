"""Properties of the config layer, checked with generated inputs (hypothesis).

* Any value for any option key gives :class:`TritonOptions` or a :class:`TritonConfigError`
  naming an option: never another exception.
* Passwords in endpoints (with ``/``, ``#``, ``?``, ``@``... in them) and tokens never reach a
  message, ``repr`` or ``str`` of ``Endpoint``, ``TritonOptions``, ``TritonProvider`` or errors.
* Flink map syntax and JSON objects parse back to what was written; durations too.

Kept fast (a few seconds): few examples each, no deadline (the first call of a strategy is slow).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import string
from typing import Any

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from pyflink_triton.config import (
    PROVIDER_KEYWORDS,
    SUPPORTED_KEYS,
    Endpoint,
    TritonOptions,
    TritonProvider,
    format_duration,
    parse_duration,
    parse_map,
)
from pyflink_triton.config.values import format_value
from pyflink_triton.errors import TritonConfigError

# PROPERTY_EXAMPLES=5000 for a longer search (the default keeps the module at a few seconds).
FAST = settings(
    max_examples=int(os.environ.get("PROPERTY_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
BASE = {"provider": "triton", "endpoint": "http://localhost:8000/v2/models", "model-name": "m"}

# -- values of every kind a user may write or pass -------------------------------------------

_NUMBERISH = st.builds(
    lambda sign, digits, unit: f"{sign}{digits}{unit}",
    st.sampled_from(["", "-", " ", "+"]),
    st.one_of(
        st.integers(0, 10**6).map(str),
        st.integers(300, 5000).map(lambda n: "9" * n),
        st.sampled_from(["1.5", "0", "1e400", "nan", "inf", "\u0661\u0662", "\u00b2"]),
    ),
    st.sampled_from(["", "s", "ms", " min", "d", "ns", "kb", "mb", "gb", "tb", "x", "µs"]),
)
_SCALARS = st.one_of(
    st.text(max_size=30),
    _NUMBERISH,
    st.integers(),
    st.integers(10**300, 10**320),
    st.floats(),
    st.booleans(),
    st.none(),
    st.binary(max_size=10),
)
ANY_VALUE = st.one_of(
    _SCALARS,
    st.lists(_SCALARS, max_size=3),
    st.tuples(_SCALARS, _SCALARS),
    st.dictionaries(st.text(max_size=8), _SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=8), st.lists(st.integers(), max_size=2), max_size=2),
    st.sampled_from(
        [
            "{",
            '{"a": ',
            "{" * 50 + "}" * 50,
            '{"a": ' * 3000,
            "'unclosed",
            "a:'b'c",
            '{"a": 1e999}',
            '{"a": ' + "9" * 5000 + "}",
            "X-A:1,,X-B:2",
            ":v",
        ]
    ),
)


def _check_error(error: TritonConfigError) -> None:
    # Every option error names the option it is about.
    assert error.option, error
    assert error.option in str(error), error


def _same(a: TritonOptions, b: TritonOptions) -> bool:
    """Equal, durations to float precision (to_map writes them in whole nanoseconds)."""
    for field in dataclasses.fields(TritonOptions):
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                return False
        elif x != y:
            return False
    return True


@FAST
@given(st.dictionaries(st.sampled_from(SUPPORTED_KEYS), ANY_VALUE, min_size=1, max_size=4))
@example({"timeout": "9" * 5000 + "ms"})
@example({"timeout": "0" * 5000 + "1s"})
@example({"timeout": "1ns"})
@example({"timeout": 0.0005})
@example({"timeout": "9" * 400 + "d"})
@example({"circuit-breaker-failure-threshold": 10**400})
@example({"custom-headers": '{"a": ' * 3000})
@example({"request-parameters": '{"a": ' + "9" * 5000 + "}"})
@example({"request-parameters": {"p": [1, 2]}})
@example({"model-version": "\u00b2"})
def test_any_values_give_options_or_a_config_error(values: dict[str, Any]) -> None:
    try:
        options = TritonOptions.from_map({**BASE, **values})
    except TritonConfigError as exc:
        _check_error(exc)
        return
    # What was accepted is usable: it round-trips through its WITH text, and has text forms.
    assert _same(TritonOptions.from_map(options.to_map()), options)
    repr(options)


@FAST
@given(st.dictionaries(st.one_of(st.text(max_size=5), st.integers(), st.none()), st.text(max_size=5), min_size=1))
def test_unknown_keys_of_any_type_are_named(extra: dict[Any, str]) -> None:
    assume(any(k not in SUPPORTED_KEYS and k != "provider" for k in extra))
    try:
        TritonOptions.from_map({**BASE, **extra})
    except TritonConfigError as exc:
        assert exc.option is not None and "Unsupported options" in str(exc)
    else:
        raise AssertionError("unknown keys were accepted")


_KEYWORD_OF = {key: keyword for keyword, key in PROVIDER_KEYWORDS.items()}


@FAST
@given(st.sampled_from(SUPPORTED_KEYS), ANY_VALUE)
def test_any_value_through_the_provider(key: str, value: Any) -> None:
    # Java-side options by their keyword, ours as extra options, as PyFlink's provider takes them.
    given_as = {_KEYWORD_OF[key]: value} if key in _KEYWORD_OF else {key: value}
    given_as.setdefault("endpoint", BASE["endpoint"])
    try:
        provider = TritonProvider(**{"model_name": "m", **given_as})
    except TritonConfigError as exc:  # ours is a ValueError too: held to our rules, not let through
        _check_error(exc)
        return
    except (TypeError, ValueError) as exc:
        assert type(exc) in (TypeError, ValueError), exc  # PyFlink's own early checks, with its exceptions
        return
    repr(provider)
    try:
        repr(provider.to_triton_options())
    except TritonConfigError as exc:
        _check_error(exc)


# -- secrets ---------------------------------------------------------------------------------

# Passwords and tokens are made of letters that never occur in our messages (and some URL
# delimiters): a piece of one found in a message can only have come from the secret.
_MARKERS = "QZJŁЖ"  # none is in a message, a header name or a URL we write
_DELIMITERS = "/#?@:[]%!$&'()*+,;=~-._ "
SECRET = st.text(alphabet=_MARKERS + _DELIMITERS, min_size=3, max_size=16).filter(
    lambda s: sum(c in _MARKERS for c in s) >= 3
)


def _pieces(secret: str) -> list[str]:
    """The substrings of length >= 3 that hold a marker letter (punctuation alone, such as
    '://', is in every URL and proves nothing)."""
    return [
        secret[i:j]
        for i in range(len(secret))
        for j in range(i + 3, len(secret) + 1)
        if any(c in _MARKERS for c in secret[i:j])
    ]


def _assert_hidden(secret: str, *texts: str) -> None:
    joined = "\n".join(texts)
    leaked = [p for p in _pieces(secret) if p in joined]
    assert not leaked, (secret, leaked, joined)


def _texts(value: Any) -> list[str]:
    texts = [str(value), repr(value)]
    if isinstance(value, BaseException):
        texts += [str(a) for a in value.args]
        texts += [str(v) for v in vars(value).values()]
    return texts


# Any text but the marker letters.
_NOISE = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=_MARKERS), max_size=6)
_HOST = st.sampled_from(["h", "localhost", "triton.example.com", "10.0.0.7", "[::1]", "", "h:8000", "h:99999", "h:x"])
_TAIL = st.sampled_from(["", "/", "/v2", "/v2/models", "/gw/v2/models/", "?q=1", "#f", "/a@b", "@x", ":1"])
_SCHEME = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "http:/", "://"])


@st.composite
def urls_with_a_password(draw: Any) -> tuple[str, str]:
    password = draw(SECRET)
    user = draw(st.sampled_from(["u", "alice", "", "a.b"]))
    shape = draw(st.integers(0, 3))
    host, tail, scheme = draw(_HOST), draw(_TAIL), draw(_SCHEME)
    if shape == 0:  # the usual form
        url = f"{scheme}{user}:{password}@{host}{tail}"
    elif shape == 1:  # credentials before the scheme
        url = f"{user}:{password}@{scheme}{host}{tail}"
    elif shape == 2:  # with extra text around
        url = f"{scheme}{user}:{password}@{host}{draw(_NOISE)}{tail}"
    else:  # two at signs
        url = f"{scheme}{user}:{password}@{host}@{host}{tail}"
    return url, password


@FAST
@given(urls_with_a_password())
@example(("http://u:p/ssQZJ#w@host:8000", "p/ssQZJ#w"))
@example(("http://u:123/QZJ@host/v2", "123/QZJ"))
@example(("u:QZJ/w@http://h", "QZJ/w"))
def test_endpoint_passwords_never_leak(case: tuple[str, str]) -> None:
    url, password = case
    try:
        endpoint = Endpoint.parse(url)
    except TritonConfigError as exc:
        _check_error(exc)
        _assert_hidden(password, *_texts(exc))
    else:
        _assert_hidden(
            password, *_texts(endpoint), endpoint.base_url, endpoint.model_url("m", "1"), endpoint.health_url("live")
        )
    try:
        options = TritonOptions.from_map({**BASE, "endpoint": url})
    except TritonConfigError as exc:
        _assert_hidden(password, *_texts(exc))
    else:
        _assert_hidden(password, *_texts(options), options.safe_endpoint)
    provider = TritonProvider(endpoint=url, model_name="m")
    _assert_hidden(password, *_texts(provider))
    try:
        provider.to_triton_options()
    except TritonConfigError as exc:
        _assert_hidden(password, *_texts(exc))


@FAST
@given(SECRET, _NOISE, _NOISE, st.sampled_from(["auth-token", "custom-headers", "endpoint"]))
def test_tokens_and_secret_headers_never_leak(secret: str, before: str, after: str, key: str) -> None:
    value = f"{before}{secret}{after}"
    if key == "custom-headers":
        option: Any = {"X-Api-Key": value, "X-Trace": "t"}
    elif key == "endpoint":
        option = f"http://u:{value}@h:8000/v2"
    else:
        option = value
    try:
        options = TritonOptions.from_map({**BASE, key: option})
    except TritonConfigError as exc:
        _check_error(exc)
        _assert_hidden(secret, *_texts(exc))
    else:
        _assert_hidden(secret, *_texts(options))
    keyword = {"auth-token": "auth_token", "custom-headers": "custom_headers", "endpoint": "endpoint"}[key]
    try:
        provider = TritonProvider(
            **{
                "endpoint": BASE["endpoint"],
                "model_name": "m",
                keyword: json.dumps(option) if isinstance(option, dict) else option,
            }
        )
    except ValueError as exc:  # PyFlink's early check of custom_headers (line breaks), or ours
        if isinstance(exc, TritonConfigError):
            _check_error(exc)
        _assert_hidden(secret, *_texts(exc))
        return
    _assert_hidden(secret, *_texts(provider))


# -- map syntax ------------------------------------------------------------------------------


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_PLAIN_KEY = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=10)
# A plain value runs to the next comma and may hold colons (URLs); it is trimmed.
_PLAIN_VALUE = st.text(alphabet=string.ascii_letters + string.digits + "-_.:/ ", max_size=12).map(str.strip)


@FAST
@given(st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=12), max_size=5))
def test_quoted_map_syntax_round_trips(entries: dict[str, str]) -> None:
    text = ",".join(f"{_quoted(k)}:{_quoted(v)}" for k, v in entries.items())
    assert parse_map(text) == entries


@FAST
@given(st.dictionaries(_PLAIN_KEY, _PLAIN_VALUE, max_size=5), st.sampled_from(["", " ", "  "]))
def test_plain_map_syntax_round_trips(entries: dict[str, str], pad: str) -> None:
    text = ",".join(f"{pad}{k}{pad}:{pad}{v}{pad}" for k, v in entries.items())
    assert parse_map(text) == entries


_JSON_SCALAR = st.one_of(
    st.text(max_size=10),
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


@FAST
@given(st.dictionaries(st.text(max_size=10), _JSON_SCALAR, max_size=5))
def test_json_maps_round_trip_with_their_types(entries: dict[str, Any]) -> None:
    assert parse_map(json.dumps(entries)) == entries
    assert parse_map(format_value("map", entries)) == entries


@FAST
@given(st.text(max_size=40))
@example('{"a": ' * 3000)
@example('{"a": ' + "9" * 5000 + "}")
def test_any_map_text_parses_or_names_the_option(text: str) -> None:
    try:
        parsed = parse_map(text, key="custom-headers")
    except TritonConfigError as exc:
        assert exc.option == "custom-headers"
    else:
        assert isinstance(parsed, dict)


# -- durations -------------------------------------------------------------------------------


@FAST
@given(st.integers(0, 10**12))
def test_duration_format_then_parse_keeps_the_milliseconds(ms: int) -> None:
    seconds = ms / 1000
    assert round(parse_duration(format_duration(seconds)) * 1000) == ms


_UNITS = ["d", "h", "min", "m", "s", "ms", "days", "hours", "minutes", "seconds", "millis", ""]


@FAST
@given(st.integers(0, 10**6), st.sampled_from([*_UNITS, "us", "ns"]), st.sampled_from(["", " "]))
def test_duration_parse_then_format_is_stable(number: int, unit: str, space: str) -> None:
    seconds = parse_duration(f"{number}{space}{unit}")
    text = format_duration(seconds)
    assert math.isclose(parse_duration(text), seconds, rel_tol=1e-12, abs_tol=1e-9)
    assert format_duration(parse_duration(text)) == text


@FAST
@given(st.one_of(st.text(max_size=20), _NUMBERISH, st.integers(), st.floats(), st.booleans()))
@example("9" * 5000)
@example("9" * 400 + "d")
@example(10**400)
@example(1e-300)
def test_any_duration_parses_or_names_the_option(value: Any) -> None:
    try:
        seconds = parse_duration(value, key="timeout")
    except TritonConfigError as exc:
        assert exc.option == "timeout"
    else:
        assert seconds >= 0 and math.isfinite(seconds)
