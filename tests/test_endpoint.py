"""Endpoint parsing: the URL forms users write, health URLs, credentials kept out of text."""

from __future__ import annotations

import pytest

from pyflink_triton.config import Endpoint
from pyflink_triton.errors import TritonConfigError


@pytest.mark.parametrize(
    "url",
    [
        "http://h:8000",
        "http://h:8000/",
        "http://h:8000/v2",
        "http://h:8000/v2/",
        "http://h:8000/v2/models",
        "http://h:8000/v2/models/",
        "HTTP://h:8000/v2/models/text-classification/infer",
    ],
)
def test_forms_users_write(url: str) -> None:
    ep = Endpoint.parse(url)
    assert ep.base_url == "http://h:8000"
    assert ep.model_url("m") == "http://h:8000/v2/models/m"
    assert ep.model_url("m", "2") == "http://h:8000/v2/models/m/versions/2"
    assert ep.model_url("m", "latest") == "http://h:8000/v2/models/m"


def test_health_url_is_not_fooled_by_a_host_named_v2() -> None:
    ep = Endpoint.parse("https://triton-v2.example.com/v2/models")
    assert ep.health_url("live") == "https://triton-v2.example.com/v2/health/live"
    ep = Endpoint.parse("http://v2:8000/v2")
    assert ep.health_url("ready") == "http://v2:8000/v2/health/ready"


def test_proxy_prefixes_are_kept() -> None:
    ep = Endpoint.parse("https://gw.example.com/ml/triton/v2/models")
    assert ep.health_url("live") == "https://gw.example.com/ml/triton/v2/health/live"
    assert Endpoint.parse("https://gw.example.com/ml/triton").v2_url == "https://gw.example.com/ml/triton/v2"


def test_model_names_are_escaped_in_paths() -> None:
    assert Endpoint.parse("http://h").model_url("a/b c") == "http://h/v2/models/a%2Fb%20c"


def test_credentials_are_parsed_and_never_shown() -> None:
    ep = Endpoint.parse("http://alice:s3cret@h:8000/v2")
    assert (ep.username, ep.password) == ("alice", "s3cret")
    assert "s3cret" not in repr(ep) and "s3cret" not in str(ep) and str(ep) == "http://h:8000"


def test_ipv6_literals() -> None:
    assert Endpoint.parse("http://[::1]:8000/v2").base_url == "http://[::1]:8000"


@pytest.mark.parametrize("url", ["", "h:8000", "ftp://h", "http://", "http://h:x", "http://h/?q=1", "http://h/#f"])
def test_bad_endpoints_name_the_option(url: str) -> None:
    with pytest.raises(TritonConfigError, match="'endpoint'"):
        Endpoint.parse(url)


def test_bad_endpoint_errors_hide_passwords() -> None:
    with pytest.raises(TritonConfigError) as info:
        Endpoint.parse("ftp://bob:hunter2@h/x")
    assert "hunter2" not in str(info.value)


def _pieces(secret: str) -> set[str]:
    """Every substring of ``secret`` of length >= 3."""
    return {secret[i:j] for i in range(len(secret)) for j in range(i + 3, len(secret) + 1)}


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("http://u:p/ss#w@host:8000", "p/ss#w"),  # '/' and '#' end urlsplit's authority early
        ("http://u:hunter/2@h:8000/v2", "hunter/2"),
        ("http://u:Pa55#word@h", "Pa55#word"),
        ("http://u:Pa55?word@h", "Pa55?word"),
        ("http://u:Pa55[word@h", "Pa55[word"),
        ("http://u:123/secret@host/v2", "123/secret"),  # parses as host 'u', port 123, path '/secret@host'
        ("http://u:Pa@55@word@h:x", "Pa@55@word"),
        ("ftp://u:Pa/55word@h", "Pa/55word"),
        ("u:Pa55/word@http://h", "Pa55/word"),
        ("http://u:Pa55/word@h/v2?q=1", "Pa55/word"),
    ],
)
def test_passwords_with_url_delimiters_never_leak(url: str, password: str) -> None:
    with pytest.raises(TritonConfigError) as info:
        Endpoint.parse(url)
    text = f"{info.value} {info.value!r} {info.value.args}"
    leaked = sorted(p for p in _pieces(password) if p in text)
    assert not leaked, text
    assert info.value.option == "endpoint" and "'endpoint'" in str(info.value)
    # The error still says where the URL went wrong, with the credentials cut out.
    assert "<redacted>" in str(info.value)


def test_an_at_sign_outside_the_credentials_is_rejected() -> None:
    with pytest.raises(TritonConfigError, match="'endpoint'.*%40"):
        Endpoint.parse("http://h:8000/v2@x")
    # Percent-encoded, every character may be in a password.
    ep = Endpoint.parse("http://u:p%2Fss%23w%40x@host:8000/v2")
    assert (ep.base_url, ep.password) == ("http://host:8000", "p%2Fss%23w%40x")
