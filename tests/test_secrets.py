"""Secrets by reference: the auth token as ``${VAR}``, a file and a variable name, resolved where
the client opens, sent to a server that refuses any other token, and never in the options' text,
their pickled form or an error (issue 19, item 5). The server is the fault server with
``authorization`` set: a real Triton has no auth."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from pyflink_triton.client.client import TritonClient
from pyflink_triton.config import TritonOptions
from pyflink_triton.config import secrets as secrets_module
from pyflink_triton.errors import TritonClientRequestError, TritonConfigError

from .faultserver import FaultServer

TOKEN = "supersecret-123"
X = {"x": np.arange(4, dtype=np.float32).reshape(2, 2)}


def options(url: str, **extra: str) -> TritonOptions:
    return TritonOptions.from_map({"endpoint": url + "/v2/models", "model-name": "m", **extra})


FORMS = {
    "variable": {"auth-token": "${TOK_19}"},
    "variable-default": {"auth-token": "${TOK_19:-not-this-one}"},
    "env": {"auth-token-env": "TOK_19"},
    "file": {"auth-token-file": "<file>"},
}


@pytest.mark.parametrize("http_client", ["aiohttp", "httptools"])
@pytest.mark.parametrize("form", sorted(FORMS))
async def test_each_form_authenticates_and_keeps_the_value_out_of_the_options(
    loop_fault: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, http_client: str
) -> None:
    loop_fault.authorization = f"Bearer {TOKEN}"
    monkeypatch.setenv("TOK_19", TOKEN)
    (tmp_path / "token").write_text(TOKEN + "\n")  # as `kubectl create secret --from-file` keeps it
    extra = {k: str(tmp_path / "token") if v == "<file>" else v for k, v in FORMS[form].items()}
    opts = options(loop_fault.url, **extra, **{"http-client": http_client, "health-check-enabled": "true"})
    # What a catalog stores, a plan prints and a job carries: the reference, never the value.
    for text in (repr(opts), str(opts.to_map()), pickle.dumps(opts), pickle.dumps(TritonClient(opts))):
        assert (TOKEN.encode() if isinstance(text, bytes) else TOKEN) not in text, form
    async with TritonClient(opts) as client:
        out = await client.infer(X)
        assert await client.server_live() and await client.check_health()
    np.testing.assert_array_equal(out["OUT_x"], X["x"])
    assert {r.headers.get("Authorization") for r in loop_fault.requests} == {f"Bearer {TOKEN}"}


async def test_a_changed_token_file_is_picked_up_and_refusals_are_redacted(
    loop_fault: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets_module, "RECHECK_S", 0.0)  # stat before every request
    token_file = tmp_path / "token"
    token_file.write_text("old-token-AAAA")
    loop_fault.authorization = "Bearer old-token-AAAA"
    async with TritonClient(options(loop_fault.url, **{"auth-token-file": str(token_file)})) as client:
        await client.infer(X)
        # Kubernetes updates a Secret volume by swapping a symlink: a new file, new inode.
        (tmp_path / "token.new").write_text("new-token-BBBBBB")
        os.replace(tmp_path / "token.new", token_file)
        with pytest.raises(TritonClientRequestError) as refused:
            await client.infer(X)  # the server still wants the old one: 401, its echo redacted
        loop_fault.authorization = "Bearer new-token-BBBBBB"
        await client.infer(X)
    assert "HTTP 401" in str(refused.value) and "<redacted>" in str(refused.value)
    assert "new-token-BBBBBB" not in str(refused.value)
    sent = [r.headers["Authorization"] for r in loop_fault.infer_requests]
    assert sent == ["Bearer old-token-AAAA", "Bearer new-token-BBBBBB", "Bearer new-token-BBBBBB"]


async def test_a_reference_that_cannot_be_resolved_fails_the_open_naming_it(
    loop_fault: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TOK_19_MISSING", raising=False)
    monkeypatch.setenv("TOK_19_EMPTY", "")
    cases = {
        "auth-token ": ("${TOK_19_EMPTY}", "Option 'auth-token': '${TOK_19_EMPTY}' is empty"),
        "auth-token": ("${TOK_19_MISSING}", "Option 'auth-token' refers to ${TOK_19_MISSING}, which is not set"),
        "auth-token-env": ("TOK_19_MISSING", "Option 'auth-token-env': the environment variable TOK_19_MISSING"),
        "auth-token-file": (str(tmp_path / "nope"), f"Option 'auth-token-file': cannot read '{tmp_path / 'nope'}'"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(TritonConfigError) as exc:
            await TritonClient(options(loop_fault.url, **{key.strip(): value})).open()
        assert str(exc.value).startswith(message), str(exc.value)
    assert loop_fault.requests == []  # nothing sent without its token


def test_forms_are_validated_naming_the_options() -> None:
    base = "http://h:1"
    with pytest.raises(TritonConfigError, match="Options 'auth-token' and 'auth-token-env' each give the auth token"):
        options(base, **{"auth-token": "x", "auth-token-env": "T"})
    with pytest.raises(TritonConfigError, match="'auth-token-env': 'TRITON TOKEN'. Accepted: an environment variable"):
        options(base, **{"auth-token-env": "TRITON TOKEN"})
    with pytest.raises(TritonConfigError, match="'custom-headers' both set an Authorization header"):
        options(base, **{"auth-token-file": "/t", "custom-headers": "Authorization:x"})
    with pytest.raises(TritonConfigError, match="'tls-client-key-password-env' is set without 'tls-client-cert'"):
        options(base, **{"tls-client-key-password-env": "PW"})
