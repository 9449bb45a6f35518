"""TritonOptions: every key parsed and validated, Flink's formats, secrets kept out of text."""

from __future__ import annotations

import json
import pickle
import re
from typing import Any

import pytest

from pyflink_triton.config import (
    OPTION_SPECS,
    SUPPORTED_KEYS,
    TritonOptions,
    TritonProvider,
    format_duration,
    parse_bool,
    parse_duration,
    parse_map,
)
from pyflink_triton.errors import TritonConfigError

EP = "http://localhost:8000/v2/models"
BASE = {"provider": "triton", "endpoint": EP, "model-name": "m"}

JAVA_KEYS = {
    "endpoint",
    "model-name",
    "model-version",
    "timeout",
    "flatten-batch-dim",
    "priority",
    "sequence-id",
    "sequence-start",
    "sequence-end",
    "compression",
    "auth-token",
    "custom-headers",
    "max-retries",
    "retry-initial-backoff",
    "retry-max-backoff",
    "default-value",
    "health-check-enabled",
    "health-check-interval",
    "circuit-breaker-enabled",
    "circuit-breaker-failure-threshold",
    "circuit-breaker-timeout",
    "circuit-breaker-half-open-requests",
}


def opts(**extra: str) -> TritonOptions:
    return TritonOptions.from_map({**BASE, **{k.replace("_", "-"): v for k, v in extra.items()}})


def test_all_22_java_keys_are_supported_with_flink_defaults() -> None:
    assert len(JAVA_KEYS) == 22
    assert set(SUPPORTED_KEYS) >= JAVA_KEYS
    assert {s.key for s in OPTION_SPECS if not s.ours} == JAVA_KEYS
    o = TritonOptions.from_map(BASE)
    assert (o.model_version, o.timeout_s, o.flatten_batch_dim, o.priority) == ("latest", 30.0, False, None)
    assert (o.sequence_id, o.sequence_start, o.sequence_end, o.compression) == (None, False, False, None)
    assert (o.auth_token, o.custom_headers, o.max_retries) == (None, {}, 0)
    assert (o.retry_initial_backoff_s, o.retry_max_backoff_s, o.default_value) == (0.1, 30.0, None)
    assert (o.health_check_enabled, o.health_check_interval_s) == (False, 30.0)
    assert (o.circuit_breaker_enabled, o.circuit_breaker_failure_threshold) == (False, 0.5)
    assert (o.circuit_breaker_timeout_s, o.circuit_breaker_half_open_requests) == (60.0, 3)
    # ours
    assert (o.batch_size, o.binary_data, o.max_concurrent_requests) == (None, True, 4)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10s", 10.0),
        ("30000ms", 30.0),
        ("1 min", 60.0),
        ("10000", 10.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("5 seconds", 5.0),
        ("250 millis", 0.25),
        ("7m", 420.0),
        ("3000us", 0.003),
        ("0", 0.0),
        ("  15 S ", 15.0),
    ],
)
def test_durations_follow_flink(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "ten seconds", "-5s", "1.5s", "10 fortnights", "s"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(TritonConfigError, match="'timeout'.*Accepted: a duration") as info:
        opts(timeout=text)
    assert info.value.option == "timeout"


def test_format_duration_round_trips() -> None:
    for seconds in (0.1, 30.0, 60.0, 0.25, 120.0, 3.5):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "value"), [("true", True), ("FALSE", False), (" True ", True)])
def test_booleans(text: str, value: bool) -> None:
    assert parse_bool(text) is value
    assert opts(flatten_batch_dim=text).flatten_batch_dim is value


@pytest.mark.parametrize(
    "key",
    [
        "flatten-batch-dim",
        "sequence-start",
        "sequence-end",
        "health-check-enabled",
        "circuit-breaker-enabled",
        "binary-data",
        "tls-verify",
    ],
)
def test_bad_booleans_name_the_option(key: str) -> None:
    with pytest.raises(TritonConfigError, match=f"'{key}'.*'true' or 'false'"):
        TritonOptions.from_map({**BASE, key: "yes"})


def test_custom_headers_flink_map_syntax_and_json() -> None:
    assert opts(custom_headers="X-A:1,X-B:two").custom_headers == {"X-A": "1", "X-B": "two"}
    assert opts(custom_headers="X-Url:http://h:8000/x").custom_headers == {"X-Url": "http://h:8000/x"}
    assert opts(custom_headers="'X-A':'a,b'").custom_headers == {"X-A": "a,b"}
    seed_json = '{"X-Custom-Header": "custom-value", "X-Request-ID": "req-123"}'
    assert opts(custom_headers=seed_json).custom_headers == {
        "X-Custom-Header": "custom-value",
        "X-Request-ID": "req-123",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("X-A", "no 'key:value' form"),
        ("{not json", "not valid JSON"),
        ('{"a": {"b": 1}}', "object of scalar values"),
        ('{"X-A": ["a"]}', "(header 'X-A'): a list value. Accepted: a string"),
        ({"X-A": None}, "(header 'X-A'): a NoneType value"),
        ("Bad Name:1", "not a valid HTTP header name"),
        ("Content-Length:5", "set by the client itself"),
    ],
)
def test_bad_custom_headers(value: Any, message: str) -> None:
    with pytest.raises(TritonConfigError, match=re.escape(message)) as info:
        opts(custom_headers=value)
    assert "custom-headers" in str(info.value)


def test_header_values_with_line_breaks_are_rejected() -> None:
    with pytest.raises(TritonConfigError, match="line break"):
        TritonOptions(endpoint="http://h:1", model_name="m", custom_headers={"X-A": "a\r\nEvil: 1"})


def test_parse_map_keeps_json_types() -> None:
    assert parse_map('{"a": 1, "b": true, "c": "x"}') == {"a": 1, "b": True, "c": "x"}
    assert parse_map("") == {}


@pytest.mark.parametrize(
    ("key", "good", "bad", "accepted"),
    [
        ("model-version", "3", "v3", "'latest' or a version number"),
        ("timeout", "10s", "0", "greater than zero"),
        # One rule, [0, 255], as Flink's docs and PyFlink's TritonProvider have it.
        ("priority", "0", "-1", r"an integer in \[0, 255\]"),
        ("priority", "255", "256", r"an integer in \[0, 255\]"),
        ("priority", "7", "high", "an integer"),
        ("compression", "gzip", "brotli", "'gzip'"),
        ("max-retries", "3", "-1", "an integer >= 0"),
        ("circuit-breaker-failure-threshold", "1.0", "0", r"\(0.0, 1.0\]"),
        ("circuit-breaker-failure-threshold", "0.2", "1.5", r"\(0.0, 1.0\]"),
        ("circuit-breaker-failure-threshold", "0.2", "half", "a number"),
        ("circuit-breaker-half-open-requests", "1", "0", "an integer > 0"),
        ("circuit-breaker-timeout", "5s", "forever", "a duration"),
        ("health-check-interval", "1s", "0ms", "greater than zero"),
        ("health-check-timeout", "1s", "0", "greater than zero"),
        ("batch-size", "64", "0", "an integer > 0"),
        ("max-concurrent-requests", "2", "0", "an integer > 0"),
    ],
)
def test_each_option_good_and_bad(key: str, good: str, bad: str, accepted: str) -> None:
    TritonOptions.from_map({**BASE, key: good})
    with pytest.raises(TritonConfigError, match=f"option '{key}'.*Accepted: .*{accepted}") as info:
        TritonOptions.from_map({**BASE, key: bad})
    assert info.value.option == key
    assert isinstance(info.value, ValueError)


def test_typed_values_after_parsing() -> None:
    o = opts(
        model_version="2",
        timeout="1 min",
        priority="3",
        sequence_id="42",
        sequence_start="true",
        compression="GZIP",
        max_retries="5",
        retry_initial_backoff="50ms",
        retry_max_backoff="2s",
        batch_size="128",
        binary_data="false",
        default_value="FAILED",
        health_check_interval="10s",
        circuit_breaker_failure_threshold="0.25",
        circuit_breaker_timeout="30s",
        circuit_breaker_half_open_requests="2",
    )
    assert (o.model_version, o.version, o.timeout_s, o.priority) == ("2", "2", 60.0, 3)
    assert (o.sequence_id, o.sequence_start, o.compression) == ("42", True, "gzip")
    assert (o.max_retries, o.retry_initial_backoff_s, o.retry_max_backoff_s) == (5, 0.05, 2.0)
    assert (o.batch_size, o.binary_data, o.default_value) == (128, False, "FAILED")
    assert (o.health_check_interval_s, o.circuit_breaker_failure_threshold) == (10.0, 0.25)
    assert (o.circuit_breaker_timeout_s, o.circuit_breaker_half_open_requests) == (30.0, 2)


def test_latest_and_empty_version_mean_no_version() -> None:
    assert opts(model_version="latest").version is None
    assert opts(model_version="LATEST").version is None
    assert opts(model_version="").version is None


def test_retry_backoff_rules_apply_only_with_retries() -> None:
    # Flink checks initial > 0 and max >= initial only when max-retries > 0.
    opts(retry_initial_backoff="0", retry_max_backoff="0")
    with pytest.raises(TritonConfigError, match="'retry-initial-backoff'"):
        opts(max_retries="3", retry_initial_backoff="0")
    with pytest.raises(TritonConfigError, match="'retry-max-backoff'.*>= 'retry-initial-backoff'"):
        opts(max_retries="3", retry_initial_backoff="2s", retry_max_backoff="1s")


def test_unknown_keys_are_rejected_with_the_supported_list() -> None:
    with pytest.raises(TritonConfigError) as info:
        TritonOptions.from_map({**BASE, "batchsize": "4", "foo": "1"})
    text = str(info.value)
    assert "Unsupported options found for 'triton'" in text
    assert "batchsize\nfoo" in text
    assert "Supported options:" in text and "circuit-breaker-timeout" in text


def test_seed_advanced_example_is_accepted_with_our_batch_size() -> None:
    o = TritonOptions.from_map(
        {
            "provider": "triton",
            "endpoint": "https://triton.example.com/v2/models",
            "model-name": "advanced-nlp-model",
            "model-version": "latest",
            "timeout": "15000",
            "max-retries": "5",
            "batch-size": "4",
            "priority": "100",
            "auth-token": "Bearer your-auth-token-here",
            "custom-headers": '{"X-Custom-Header": "custom-value", "X-Request-ID": "req-123"}',
            "compression": "gzip",
        }
    )
    assert (o.timeout_s, o.batch_size, o.priority) == (15.0, 4, 100)


def test_required_options() -> None:
    with pytest.raises(TritonConfigError, match="(?s)required options are missing.*model-name"):
        TritonOptions.from_map({"provider": "triton", "endpoint": "http://h:8000"})
    with pytest.raises(TritonConfigError, match="endpoint"):
        TritonOptions.from_map({"provider": "triton", "model-name": "m"})


def test_other_providers_are_not_ours() -> None:
    with pytest.raises(TritonConfigError, match="'openai'.*not 'triton'"):
        TritonOptions.from_map({**BASE, "provider": "openai"})
    assert TritonOptions.from_map({**BASE, "provider": "TRITON"}).model_name == "m"


@pytest.mark.parametrize("endpoint", ["ftp://h", "localhost:8000", "http://", "http://h:99999", "http://h/x?y=1"])
def test_bad_endpoints(endpoint: str) -> None:
    with pytest.raises(TritonConfigError, match="'endpoint'"):
        TritonOptions.from_map({**BASE, "endpoint": endpoint})


def test_request_parameters_reject_reserved_names() -> None:
    assert opts(request_parameters="my_param:42").request_parameters == {"my_param": "42"}
    assert opts(request_parameters='{"n": 3}').request_parameters == {"n": 3}
    for name in ("sequence_id", "priority", "timeout", "headers", "binary_data_output", "triton_x"):
        with pytest.raises(TritonConfigError, match=f"'{name}' is reserved"):
            opts(request_parameters=f"{name}:1")
    # Triton's parameters are scalars: a list is for a generate request's model input only.
    accepted = "a list value. Accepted: a string, an integer, a boolean or a finite number."
    with pytest.raises(TritonConfigError, match=re.escape(f"'request-parameters' (parameter 'n'): {accepted}")):
        opts(request_parameters='{"n": [3]}')


def test_auth_token_and_authorization_header_conflict() -> None:
    with pytest.raises(TritonConfigError, match="both set an Authorization header"):
        opts(auth_token="t", custom_headers="Authorization:Basic x")


SECRET = "s3cr3t-T0ken"


def test_secrets_never_in_repr_or_errors() -> None:
    o = opts(
        auth_token=SECRET, endpoint=f"http://user:{SECRET}@h:8000/v2", custom_headers=f"X-Api-Key:{SECRET},X-Trace:abc"
    )
    for text in (repr(o), str(o)):
        assert SECRET not in text
        assert "X-Trace" in text and "abc" in text
    assert o.safe_endpoint == "http://h:8000"
    with pytest.raises(TritonConfigError) as info:
        TritonOptions.from_map({**BASE, "endpoint": f"ftp://user:{SECRET}@h"})
    assert SECRET not in str(info.value)
    with pytest.raises(TritonConfigError) as info:
        opts(auth_token=SECRET + "\n")
    assert SECRET not in str(info.value)


def test_options_pickle_and_round_trip_through_to_map() -> None:
    o = opts(
        timeout="15s",
        custom_headers="X-A:1",
        max_retries="2",
        default_value="-1",
        request_parameters='{"k": 1}',
        batch_size="32",
    )
    assert pickle.loads(pickle.dumps(o)) == o
    assert TritonOptions.from_map(o.to_map()) == o
    assert TritonOptions.from_map(o.to_map(include_defaults=True)) == o
    assert o.replace(max_retries=1).max_retries == 1
    with pytest.raises(TritonConfigError, match="'max-retries'"):
        o.replace(max_retries=-2)


def test_python_values_in_a_dict_are_accepted() -> None:
    o = TritonOptions.from_map(
        {
            **BASE,
            "max-retries": 2,
            "flatten-batch-dim": True,
            "default-value": [1, 2],
            "circuit-breaker-failure-threshold": 0.3,
        }
    )
    assert (o.max_retries, o.flatten_batch_dim, o.default_value) == (2, True, "[1, 2]")
    assert o.circuit_breaker_failure_threshold == 0.3


# Control characters (C0, DEL, C1 such as U+0085, and the Unicode line/paragraph separators):
# each is rejected when the options are validated, naming the option (and the header), never
# echoing a secret, instead of failing later inside aiohttp or going on the wire.
CONTROL_CHARACTERS = [
    "\x00",
    "\x01",
    "\t",
    "\x0b",
    "\x1b",
    "\x1f",
    "\x7f",
    "\x85",
    "\x9f",
    "\u2028",
    "\u2029",
    "\r",
    "\n",
]
CONTROL_CASES = [
    pytest.param("auth-token", "Bearer tok{c}S3CRET", None, id="auth-token"),
    pytest.param("sequence-id", "conv{c}42", None, id="sequence-id"),
    pytest.param("model-name", "text{c}classifier", None, id="model-name"),
    pytest.param("endpoint", "http://user:S3CRET-pw@h{c}x:8000/v2/models", None, id="endpoint"),
    pytest.param("custom-headers", lambda c: json.dumps({"X-Api-Key": f"S3CRET{c}key"}), "X-Api-Key", id="header-json"),
    pytest.param("custom-headers", lambda c: {"X-Trace": f"abc{c}def"}, "X-Trace", id="header-dict"),
    pytest.param("request-parameters", lambda c: json.dumps({"my_param": f"a{c}b"}), "my_param", id="param-json"),
    pytest.param("request-parameters", lambda c: {"my_param": f"a{c}b"}, "my_param", id="param-dict"),
    pytest.param("request-parameters", lambda c: {f"my{c}param": "v"}, None, id="param-name"),
]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize(("key", "template", "name"), CONTROL_CASES)
def test_control_characters_are_rejected_naming_the_option(
    key: str, template: object, name: str | None, char: str
) -> None:
    value = template(char) if callable(template) else str(template).format(c=char)
    with pytest.raises(TritonConfigError) as info:
        TritonOptions.from_map({**BASE, key: value})
    text = str(info.value)
    assert info.value.option == key and f"option '{key}'" in text
    assert "control character" in text and "Accepted:" in text
    if name is not None:
        assert repr(name) in text  # which header or parameter
    assert "S3CRET" not in text and "S3CRET" not in repr(info.value)


@pytest.mark.parametrize("char", ["\x00", "\x7f", "\x85", "\u2028"], ids=lambda c: f"U+{ord(c):04X}")
def test_control_characters_in_direct_construction_and_the_provider(char: str) -> None:
    with pytest.raises(TritonConfigError, match="'custom-headers'.*'X-A'"):
        TritonOptions(endpoint="http://h:1", model_name="m", custom_headers={"X-A": f"a{char}b"})
    with pytest.raises(TritonConfigError, match="'auth-token'") as info:
        TritonProvider(endpoint=EP, model_name="m", auth_token=f"S3CRET{char}x").to_triton_options()
    assert "S3CRET" not in str(info.value)


def test_ordinary_text_is_still_accepted() -> None:
    o = opts(
        auth_token="Bearer abc.def-ghi_jkl",
        sequence_id="conv 42",
        model_name="my model",
        custom_headers='{"X-A": "a b\u00e9\u4e2d"}',
        request_parameters='{"p": "x y", "n": 2}',
    )
    assert (o.auth_token, o.sequence_id, o.model_name) == ("Bearer abc.def-ghi_jkl", "conv 42", "my model")
    assert o.custom_headers == {"X-A": "a b\u00e9\u4e2d"} and o.request_parameters == {"p": "x y", "n": 2}
    # Surrounding whitespace is trimmed as before: a trailing newline of a pasted endpoint is not an error.
    assert opts(endpoint="http://h:8000/v2\n").safe_endpoint == "http://h:8000"
