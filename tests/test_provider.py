"""TritonProvider: the seed's keyword API, validation and to_options(), converted to TritonOptions."""

from __future__ import annotations

import inspect
import json

import pytest

from pyflink_triton.config import OPTION_SPECS, PROVIDER_KEYWORDS, TritonOptions, TritonProvider
from pyflink_triton.errors import TritonConfigError

EP = "http://localhost:8000/v2/models"


def test_names_and_defaults_match_the_seed() -> None:
    p = TritonProvider(endpoint=EP, model_name="classifier")
    assert p.provider_name() == "triton"
    assert p.model_option_key() == "model-name"
    assert p.to_options() == {
        "endpoint": EP,
        "model-name": "classifier",
        "model-version": "latest",
        "timeout": "30s",
        "flatten-batch-dim": "false",
        "sequence-start": "false",
        "sequence-end": "false",
        "max-retries": "0",
        "retry-initial-backoff": "100ms",
        "retry-max-backoff": "30s",
        "health-check-enabled": "false",
        "health-check-interval": "30s",
        "circuit-breaker-enabled": "false",
        "circuit-breaker-failure-threshold": "0.5",
        "circuit-breaker-timeout": "60s",
        "circuit-breaker-half-open-requests": "3",
    }


def test_every_keyword_maps_to_its_java_key() -> None:
    p = TritonProvider(
        endpoint=EP,
        model_name="m",
        model_version="2",
        timeout="10s",
        flatten_batch_dim=True,
        priority=5,
        sequence_id="conv-001",
        sequence_start=True,
        sequence_end=True,
        compression="gzip",
        auth_token="tok",
        custom_headers="X-A:1",
        max_retries=2,
        retry_initial_backoff="50ms",
        retry_max_backoff="1s",
        default_value="FAILED",
        health_check_enabled=True,
        health_check_interval="5s",
        circuit_breaker_enabled=True,
        circuit_breaker_failure_threshold=0.25,
        circuit_breaker_timeout="9s",
        circuit_breaker_half_open_requests=2,
        **{"batch-size": 16},
    )
    o = p.to_options()
    assert o["flatten-batch-dim"] == "true" and o["priority"] == "5"
    assert o["sequence-id"] == "conv-001" and o["compression"] == "gzip"
    assert o["auth-token"] == "tok" and o["custom-headers"] == "X-A:1"
    assert o["circuit-breaker-failure-threshold"] == "0.25" and o["batch-size"] == "16"
    t = p.to_triton_options()
    assert (t.model_version, t.timeout_s, t.priority, t.sequence_id) == ("2", 10.0, 5, "conv-001")
    assert (t.max_retries, t.retry_initial_backoff_s, t.retry_max_backoff_s) == (2, 0.05, 1.0)
    assert (t.circuit_breaker_timeout_s, t.circuit_breaker_half_open_requests, t.batch_size) == (9.0, 2, 16)
    assert t.custom_headers == {"X-A": "1"} and t.default_value == "FAILED"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (-1, "-1"),
        (2.5, "2.5"),
        ("null", "null"),
        ([1.0, 2.0], "[1.0, 2.0]"),
        ((1, "a"), '[1, "a"]'),
        ({"k": [1]}, '{"k": [1]}'),
    ],
)
def test_default_value_formatting(value: object, text: str) -> None:
    opts = TritonProvider(endpoint=EP, model_name="m", default_value=value).to_options()
    assert opts["default-value"] == text


def test_default_value_rejects_non_json() -> None:
    with pytest.raises(ValueError, match="non-JSON-serializable"):
        TritonProvider(endpoint=EP, default_value=[object()])
    with pytest.raises(ValueError, match="non-JSON-serializable"):
        TritonProvider(endpoint=EP, default_value=[float("nan")])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"endpoint": 8000}, TypeError, "endpoint must be a string"),
        ({"compression": "zstd"}, ValueError, "compression must be 'gzip'"),
        ({"priority": 256}, ValueError, r"priority must be in range \[0, 255\]"),
        ({"priority": -1}, ValueError, r"priority must be in range \[0, 255\]"),
        ({"max_retries": -1}, ValueError, "max_retries must be >= 0"),
        ({"circuit_breaker_failure_threshold": 0.0}, ValueError, "failure_threshold must be in range"),
        ({"circuit_breaker_half_open_requests": 0}, ValueError, "must be positive"),
        ({"custom_headers": {"X": "1"}}, TypeError, "custom_headers must be a string"),
        ({"custom_headers": "X-A:1\nX-B:2"}, ValueError, "cannot contain line breaks"),
        ({"custom_headers": "X-A:1\r"}, ValueError, "cannot contain line breaks"),
    ],
)
def test_validation_like_the_seed(kwargs: dict, error: type, message: str) -> None:
    kwargs = {"endpoint": EP, **kwargs}
    with pytest.raises(error, match=message):
        TritonProvider(**kwargs)


def test_model_name_is_optional_until_conversion() -> None:
    p = TritonProvider(endpoint=EP)
    assert "model-name" not in p.to_options()
    with pytest.raises(TritonConfigError, match="model-name"):
        p.to_triton_options()
    assert p.to_triton_options(model_name="classifier").model_name == "classifier"


def test_conversion_validates_durations_with_the_option_key() -> None:
    with pytest.raises(TritonConfigError, match="'timeout'"):
        TritonProvider(endpoint=EP, model_name="m", timeout="soon").to_triton_options()


def test_extra_options_pass_through_as_strings() -> None:
    p = TritonProvider(endpoint=EP, model_name="m", **{"binary-data": False, "foo": 1})
    assert p.to_options()["binary-data"] == "false" and p.to_options()["foo"] == "1"
    with pytest.raises(TritonConfigError, match="(?s)Unsupported options.*foo"):
        p.to_triton_options()


def test_repr_hides_secrets() -> None:
    p = TritonProvider(
        endpoint="http://u:pw123@h:8000", model_name="m", auth_token="tok-xyz", custom_headers="X-Api-Key:k-123"
    )
    text = repr(p)
    assert "tok-xyz" not in text and "pw123" not in text and "k-123" not in text
    assert "model_name='m'" in text
    json.dumps(p.to_options())  # plain strings


def _as_text(value: object) -> str:
    # How a keyword's default reaches CREATE MODEL text (PyFlink's _stringify).
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_signature_agrees_with_the_option_table() -> None:
    params = inspect.signature(TritonProvider).parameters
    keywords = {n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert list(keywords) == [s.keyword for s in OPTION_SPECS if s.keyword]
    assert params["extra_options"].kind is inspect.Parameter.VAR_KEYWORD
    assert set(params) == set(keywords) | {"extra_options"}  # keyword-only, as in PyFlink
    assert {s.keyword: s.key for s in OPTION_SPECS if s.keyword} == PROVIDER_KEYWORDS
    for spec in OPTION_SPECS:
        if spec.keyword is None:
            continue
        default = keywords[spec.keyword].default
        if spec.default is None:
            # Unset in the table: no default (endpoint) or None (left out of to_options()).
            assert default in (inspect.Parameter.empty, None), spec.key
        else:
            assert _as_text(default) == spec.default, spec.key
        assert f":param {spec.keyword}:" in (TritonProvider.__doc__ or ""), spec.keyword


def test_signature_defaults_parse_to_the_options_defaults() -> None:
    # The provider's defaults, through to_options(), give exactly TritonOptions' defaults.
    converted = TritonProvider(endpoint=EP, model_name="m").to_triton_options()
    assert converted == TritonOptions(endpoint=EP, model_name="m")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"priority": 256}, "priority"),
        ({"priority": -1}, "priority"),
        ({"max_retries": -1}, "max-retries"),
        ({"circuit_breaker_failure_threshold": 0.0}, "circuit-breaker-failure-threshold"),
        ({"circuit_breaker_failure_threshold": 1.5}, "circuit-breaker-failure-threshold"),
        ({"circuit_breaker_half_open_requests": 0}, "circuit-breaker-half-open-requests"),
        ({"compression": "zstd"}, "compression"),
        ({"custom_headers": "X-A:1\nX-B:2"}, "custom-headers"),
    ],
)
def test_early_checks_never_contradict_triton_options(kwargs: dict, key: str) -> None:
    # What PyFlink's early checks reject, TritonOptions rejects too (naming the same option).
    with pytest.raises(ValueError):
        TritonProvider(endpoint=EP, **kwargs)
    [(keyword, value)] = kwargs.items()
    options = {"endpoint": EP, "model-name": "m", PROVIDER_KEYWORDS[keyword]: value}
    with pytest.raises(TritonConfigError) as info:
        TritonOptions.from_map(options)
    assert info.value.option == key


@pytest.mark.parametrize(
    "kwargs",
    [
        {"priority": 0},
        {"priority": 255},
        {"max_retries": 0},
        {"circuit_breaker_failure_threshold": 1.0},
        {"circuit_breaker_half_open_requests": 1},
        {"compression": "gzip"},
        {"custom_headers": "X-A:1"},
    ],
)
def test_what_early_checks_accept_triton_options_accepts(kwargs: dict) -> None:
    options = TritonProvider(endpoint=EP, model_name="m", **kwargs).to_triton_options()
    [(keyword, value)] = kwargs.items()
    expected = {"X-A": "1"} if keyword == "custom_headers" else value
    assert getattr(options, keyword) == expected  # accepted, and kept as given
