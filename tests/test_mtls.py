"""Client certificates (mTLS): an HTTPS server that requires a certificate signed by a CA made
here (``trustme``) accepts the client with one, in both HTTP clients and the health checks, and
refuses it without one or with another CA's, as a ``TritonConnectionError`` that says so; an
encrypted key opens with its password (each reference form) and fails clearly with a wrong one.
The server is the fault server's echo behind a TLS gateway (:class:`MtlsGateway`) on 127.0.0.1,
both stopped by the fixture."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from pyflink_triton.client.client import TritonClient
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import TritonConfigError, TritonConnectionError

from .faultserver import FaultServer

PASSWORD = "key-pass-S3CRET"
X = {"x": np.arange(4, dtype=np.float32).reshape(2, 2)}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The server's CA and certificate; a client certificate of the CA the server trusts (key
    plain and encrypted), and one of another CA."""
    folder = tmp_path_factory.mktemp("mtls")
    server_ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    paths = {name: folder / f"{name}.pem" for name in ("server_ca", "client_ca", "server", "client", "other")}
    server_ca.cert_pem.write_to_path(str(paths["server_ca"]))
    client_ca.cert_pem.write_to_path(str(paths["client_ca"]))
    server_ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(paths["server"]))
    client = client_ca.issue_cert("flink-taskmanager@example.com")
    client.private_key_and_cert_chain_pem.write_to_path(str(paths["client"]))
    other_ca.issue_cert("intruder@example.com").private_key_and_cert_chain_pem.write_to_path(str(paths["other"]))
    paths["client_crt"] = folder / "client.crt"
    paths["client_crt"].write_bytes(b"".join(blob.bytes() for blob in client.cert_chain_pems))
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    paths["client_key_enc"] = folder / "client.key"
    paths["client_key_enc"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSWORD.encode()),
        )
    )
    paths["password"] = folder / "password"
    paths["password"].write_text(PASSWORD + "\n")
    return paths


class MtlsGateway:
    """A TLS-terminating gateway on 127.0.0.1 in front of a plain HTTP server, requiring a client
    certificate, as an mTLS proxy or service mesh does. Blocking ``ssl`` sockets, one thread per
    connection: OpenSSL then answers a missing or refused certificate with its TLS alert (an
    asyncio server closes the connection without one)."""

    def __init__(self, context: ssl.SSLContext, upstream_port: int) -> None:
        self._context, self._upstream = context, upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._serve, name="mtls-gateway", daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._listener.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _relay(self, conn: socket.socket) -> None:
        tls = self._context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()  # checks the client's certificate; a refusal sends OpenSSL's alert
        except OSError:
            # A lingering close, as a gateway does: closing with the client's request unread would
            # send a reset, which can reach the client before the alert and hide it.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(tls, socket.SHUT_WR)
                tls.settimeout(2)
                while socket.socket.recv(tls, 65536):
                    pass
            tls.close()
            return
        tls.settimeout(5)
        with tls, socket.create_connection(("127.0.0.1", self._upstream)) as upstream:
            while not self._closed:
                readable = [tls] if tls.pending() else select.select([tls, upstream], [], [], 0.5)[0]
                try:
                    for source, sink in ((tls, upstream), (upstream, tls)):
                        if source in readable:
                            data = source.recv(65536)
                            if not data:
                                return
                            sink.sendall(data)
                except OSError:
                    return


@pytest.fixture
async def mtls_url(pki: dict[str, Path]) -> AsyncIterator[str]:
    """The fault server's echo behind an :class:`MtlsGateway` trusting ``client_ca``."""
    fault = await FaultServer().start()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server"])
    context.load_verify_locations(pki["client_ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    gateway = MtlsGateway(context, fault.port)
    try:
        yield f"https://127.0.0.1:{gateway.port}"
    finally:
        gateway.close()
        await fault.stop()


def client(url: str, pki: dict[str, Path], http_client: str = "aiohttp", **options: str) -> TritonClient:
    return TritonClient(
        TritonOptions.from_map(
            {
                "endpoint": url,
                "model-name": "m",
                "tls-ca-file": str(pki["server_ca"]),
                "http-client": http_client,
                "max-retries": "0",
                **options,
            }
        )
    )


@pytest.mark.parametrize("http_client", ["aiohttp", "httptools"])
async def test_accepted_with_the_client_certificate(mtls_url: str, pki: dict[str, Path], http_client: str) -> None:
    async with client(mtls_url, pki, http_client, **{"tls-client-cert": str(pki["client"])}) as c:
        assert await c.server_live() and await c.check_health()
        np.testing.assert_array_equal((await c.infer(X))["OUT_x"], X["x"])


@pytest.mark.parametrize("http_client", ["aiohttp", "httptools"])
@pytest.mark.parametrize("certificate", [None, "other"])
async def test_refused_without_it_or_with_another_cas(
    mtls_url: str, pki: dict[str, Path], http_client: str, certificate: str | None
) -> None:
    extra = {"tls-client-cert": str(pki[certificate])} if certificate else {}
    async with client(mtls_url, pki, http_client, **extra) as c:
        assert not await c.server_live()  # the health check sees a refused server
        with pytest.raises(TritonConnectionError) as exc:
            await c.infer(X)  # fails at the model's metadata, which goes through aiohttp
        # The inference POST itself, through the client of 'http-client' (the lean one's own TLS).
        with pytest.raises(TritonConnectionError) as posted:
            await c._transport.post(f"{mtls_url}/v2/models/m/infer", b"{}", {}, what="inference")
    expected = "no client certificate was given" if certificate is None else "refused the client certificate"
    for message, what in ((str(exc.value), "model metadata"), (str(posted.value), "inference")):
        assert message.startswith(f"Triton model 'm' at {mtls_url}: {what} failed: "), message
        assert expected in message and "'tls-client-cert'" in message, message


@pytest.mark.parametrize(
    "form",
    [
        {"tls-client-key-password": "${MTLS_PW}"},
        {"tls-client-key-password-env": "MTLS_PW"},
        {"tls-client-key-password-file": "<file>"},
    ],
    ids=lambda f: next(iter(f)),
)
async def test_an_encrypted_key_opens_with_its_password(
    mtls_url: str, pki: dict[str, Path], monkeypatch: pytest.MonkeyPatch, form: dict[str, str]
) -> None:
    monkeypatch.setenv("MTLS_PW", PASSWORD)
    extra = {k: str(pki["password"]) if v == "<file>" else v for k, v in form.items()}
    pem = {"tls-client-cert": str(pki["client_crt"]), "tls-client-key": str(pki["client_key_enc"])}
    async with client(mtls_url, pki, **pem, **extra) as c:
        np.testing.assert_array_equal((await c.infer(X))["OUT_x"], X["x"])


@pytest.mark.parametrize("password", ["wrong-password", None])
async def test_a_wrong_or_missing_password_is_a_clear_config_error(
    mtls_url: str, pki: dict[str, Path], password: str | None
) -> None:
    pem = {"tls-client-cert": str(pki["client_crt"]), "tls-client-key": str(pki["client_key_enc"])}
    extra = {"tls-client-key-password": password} if password else {}
    with pytest.raises(TritonConfigError) as exc:
        await client(mtls_url, pki, **pem, **extra).open()
    message = str(exc.value)
    assert message.startswith(
        f"Option 'tls-client-cert': cannot load the client certificate '{pki['client_crt']}' with key "
        f"'{pki['client_key_enc']}'"
    ), message
    hint = "a wrong 'tls-client-key-password'?" if password else "an encrypted key needs 'tls-client-key-password'"
    assert hint in message and PASSWORD not in message and "wrong-password" not in message, message
