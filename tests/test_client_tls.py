"""HTTPS against a certificate made here: verified with ``tls-ca-file``, refused without it,
accepted with ``tls-verify`` = false, which warns once per client.

The CA and the server certificate (for IP 127.0.0.1) are made with the ``openssl`` command
line tool in a temporary folder (neither ``cryptography`` nor ``trustme`` is a dependency);
the HTTPS server is a small aiohttp application on 127.0.0.1, stopped by the fixture.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from pyflink_triton.client.client import TritonClient
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import TritonClientRequestError, TritonConnectionError

SECRET = "tls-tok-S3CRET"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``ca.pem`` and ``server.pem``/``server.key`` (signed by the CA, for 127.0.0.1)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line tool is needed to make test certificates")
    folder = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=pyflink-triton test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=folder)
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        cwd=folder,
    )
    return folder


@pytest.fixture
async def https_url(certificates: Path) -> AsyncIterator[str]:
    """An HTTPS server on 127.0.0.1 answering ``/v2/health/ready``, model ``m``'s metadata,
    its inference with a 400 (an answer that proves the TLS exchange), and a two-event
    ``generate_stream``."""

    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def metadata(_: web.Request) -> web.Response:
        return web.json_response({"name": "m", "versions": ["1"], "inputs": [], "outputs": []})

    async def infer(_: web.Request) -> web.Response:
        return web.json_response({"error": "answered over TLS"}, status=400)

    async def generate_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for piece in ("over", " TLS"):
            await response.write(b'data: {"text_output":"' + piece.encode() + b'"}\n\n')
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v2/models/m/infer", infer)
    app.router.add_post("/v2/models/m/generate_stream", generate_stream)
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2/models/m", metadata)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def client(url: str, **options: str) -> TritonClient:
    return TritonClient(
        TritonOptions.from_map(
            {
                "endpoint": url,
                "model-name": "m",
                "auth-token": SECRET,
                **{k.replace("_", "-"): v for k, v in options.items()},
            }
        )
    )


def tls_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and "tls-verify" in r.getMessage()]


async def test_verified_with_the_ca_file(https_url: str, certificates: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with client(https_url, tls_ca_file=str(certificates / "ca.pem")) as c:
        assert await c.server_ready()
        assert (await c.model_metadata())["name"] == "m"
    assert not tls_warnings(caplog)


async def test_refused_without_the_ca_file(https_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with client(https_url, max_retries="0") as c:
        assert not await c.server_ready()
        with pytest.raises(TritonConnectionError) as info:
            await c.model_metadata()
    text = str(info.value)
    assert text.startswith(f"Triton model 'm' at {https_url}: model metadata failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in text and "option 'tls-ca-file'" in text
    assert SECRET not in text and not tls_warnings(caplog)


async def test_accepted_without_verification_with_one_warning_per_client(
    https_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with client(https_url, tls_verify="false") as c:
        assert await c.server_ready()
        assert (await c.model_metadata())["name"] == "m"
        assert await c.server_ready()
    (record,) = tls_warnings(caplog)
    assert record.name == "pyflink_triton.client.transport"
    assert https_url in record.getMessage() and "not verified" in record.getMessage()
    assert SECRET not in caplog.text
    async with client(https_url, tls_verify="false") as again:
        assert await again.server_ready()
    assert len(tls_warnings(caplog)) == 2  # once per client


async def test_no_warning_while_verifying(https_url: str, certificates: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with client(https_url, tls_verify="true", tls_ca_file=str(certificates / "ca.pem")) as c:
        assert await c.server_ready()  # a TLS conversation, with the server's certificate verified
        assert (await c.model_metadata())["name"] == "m"
    assert not tls_warnings(caplog)
    async with client(https_url, tls_verify="false") as unverified:  # the same capture sees the warning
        assert await unverified.server_ready()
    assert len(tls_warnings(caplog)) == 1


@pytest.mark.parametrize("http_client", ["aiohttp", "httptools"])
async def test_inference_over_tls_through_either_http_client(
    https_url: str, certificates: Path, http_client: str
) -> None:
    rows = {"x": np.zeros((1, 2), np.float32)}
    for settings in ({"tls_ca_file": str(certificates / "ca.pem")}, {"tls_verify": "false"}):
        async with client(https_url, http_client=http_client, **settings) as c:
            with pytest.raises(TritonClientRequestError) as answered:
                await c.infer(rows, split=False)
        assert "HTTP 400" in str(answered.value) and "answered over TLS" in str(answered.value)
    async with client(https_url, http_client=http_client, max_retries="0") as c:
        with pytest.raises(TritonConnectionError) as refused:
            await c.infer(rows, split=False)
    text = str(refused.value)
    assert text.startswith(f"Triton model 'm' at {https_url}: inference failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in text and "option 'tls-ca-file'" in text and SECRET not in text


async def test_generate_stream_over_tls(https_url: str, certificates: Path) -> None:
    async with client(https_url, tls_ca_file=str(certificates / "ca.pem")) as c:
        answer = await c.generate({"text_input": "hi"}, stream=True)
    assert [e["text_output"] for e in answer.events] == ["over", " TLS"]
    async with client(https_url, max_retries="0") as c:
        with pytest.raises(TritonConnectionError) as refused:
            await c.generate({"text_input": "hi"}, stream=True)
    text = str(refused.value)
    assert text.startswith(f"Triton model 'm' at {https_url}: generate_stream failed: ")
    assert "CERTIFICATE_VERIFY_FAILED" in text and "option 'tls-ca-file'" in text and SECRET not in text
