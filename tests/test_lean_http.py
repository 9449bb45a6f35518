"""The lean HTTP client (option 'http-client' = 'httptools') against the real Triton: the same
answers as through aiohttp, kept-alive connections, and a server that closes them.

Its behaviour under faults (stalls, resets, malformed and oversized bodies, 5xx storms, TLS)
is tested with both HTTP clients in test_client_faults.py, test_client_limits.py and
test_client_tls.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from pyflink_triton.client import lean_http
from pyflink_triton.client.client import TritonClient
from pyflink_triton.errors import TritonConfigError, TritonConnectionError

from .conftest import iris_class, model_options
from .faultserver import FaultServer

ROWS = 2500  # three requests at the classifier's max_batch_size of 1024


def features(n: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return (rng.random((n, 4)) * [4, 2.5, 6, 2.5] + [4, 2, 1, 0]).astype(np.float32)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every connection the lean client opens, in order."""
    made: list[Any] = []
    original = lean_http._Connection.connection_made

    def counting(self: Any, transport: Any) -> None:
        made.append(self)
        original(self, transport)

    monkeypatch.setattr(lean_http._Connection, "connection_made", counting)
    return made


async def infer_with(url: str, http_client: str, x: np.ndarray, **extra: Any) -> dict[str, np.ndarray]:
    async with TritonClient(model_options(url, "classifier", http_client=http_client, **extra)) as client:
        return await client.infer({"features": x})


async def test_same_answers_as_through_aiohttp(triton_url: str, connections: list[Any]) -> None:
    x = features(ROWS)
    lean = await infer_with(triton_url, "httptools", x)
    plain = await infer_with(triton_url, "aiohttp", x)
    assert lean["class_id"].shape == (ROWS, 1)
    np.testing.assert_array_equal(lean["class_id"], plain["class_id"])
    assert lean["class_id"][:50, 0].tolist() == [iris_class(list(r)) for r in x[:50]]
    assert 1 <= len(connections) <= 3  # the three requests went concurrently, at most one connection each


async def test_gzip_both_ways(triton_url: str) -> None:
    x = features(300)
    lean = await infer_with(triton_url, "httptools", x, compression="gzip")
    assert lean["class_id"][:, 0].tolist() == [iris_class(list(r)) for r in x]


async def test_sequential_requests_reuse_one_connection(triton_url: str, connections: list[Any]) -> None:
    x = features(8)
    async with TritonClient(model_options(triton_url, "classifier", http_client="httptools")) as client:
        answers = [await client.infer({"features": x}, split=False) for _ in range(40)]
    assert all(np.array_equal(a["class_id"], answers[0]["class_id"]) for a in answers)
    assert len(connections) == 1
    assert connections[0].closed  # closed with the client


async def test_a_server_that_closes_each_connection(loop_fault: FaultServer, connections: list[Any]) -> None:
    body = b'{"model_name":"m","outputs":[{"name":"OUT_x","shape":[1,1],"datatype":"FP32","data":[7]}]}'
    closing = ("raw", 200, {"Content-Type": "application/json", "Connection": "close"}, body)
    loop_fault.actions = [closing, closing, closing]
    options = model_options(loop_fault.url, "m", http_client="httptools")
    async with TritonClient(options) as client:
        outs = [await client.infer({"x": np.zeros((1, 1), np.float32)}, split=False) for _ in range(3)]
    assert [o["OUT_x"].tolist() for o in outs] == [[[7.0]]] * 3
    assert len(connections) == 3 and all(c.closed for c in connections)


def test_the_option_names_its_accepted_values() -> None:
    with pytest.raises(TritonConfigError) as info:
        model_options("http://h:8000", "m", http_client="curl")
    text = str(info.value)
    assert "'http-client'" in text and "'aiohttp' or 'httptools'" in text and "curl" in text
    assert model_options("http://h:8000", "m", http_client=" HTTPTools ").http_client == "httptools"
    assert model_options("http://h:8000", "m").http_client == "aiohttp"


async def test_bytes_after_a_response_are_never_taken_for_the_next_one(connections: list[Any]) -> None:
    """A server that writes a second, unasked-for response after each answer: the connection is
    dropped, and the next request gets its own answer on a new one."""
    answers = iter(range(1, 100))

    def response(value: int) -> bytes:
        body = (
            f'{{"model_name":"m","outputs":[{{"name":"y","shape":[1,1],"datatype":"INT64","data":[{value}]}}]}}'
        ).encode()
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                await reader.readexactly(length)
                writer.write(response(next(answers)) + response(-1))  # -1: never asked for
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        options = model_options(f"http://127.0.0.1:{port}", "m", http_client="httptools")
        async with TritonClient(options) as client:
            got = [
                int((await client.infer({"x": np.zeros((1, 1), np.float32)}, split=False))["y"][0, 0]) for _ in range(3)
            ]
    finally:
        server.close()
        await server.wait_closed()
    assert got == [1, 2, 3]
    assert len(connections) == 3


async def test_request_headers(loop_fault: FaultServer) -> None:
    url = loop_fault.url.replace("http://", "http://user:pa55@")
    options = model_options(url, "m", http_client="httptools", custom_headers="X-Team:ml")
    async with TritonClient(options) as client:
        await client.infer({"x": np.zeros((2, 1), np.float32)}, split=False)
    [request] = loop_fault.infer_requests
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["host"] == loop_fault.url.removeprefix("http://")  # never the credentials
    assert headers["user-agent"] == "pyflink-triton" and headers["x-team"] == "ml"
    assert headers["authorization"].startswith("Basic ") and headers["x-request-id"]
    assert int(headers["content-length"]) == len(request.body)


@pytest.mark.parametrize("endless", ["many headers", "one endless header"])
async def test_endless_response_headers_fail_the_request(endless: str) -> None:
    """A server that never ends its headers cannot grow our buffers: the request fails once
    the status line and headers pass MAX_HEAD_BYTES, long before the timeout."""
    stopped = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n" + (b"" if endless == "many headers" else b"X-Long: "))
        try:
            while True:
                writer.write(b"X-Junk: " + b"a" * 1000 + b"\r\n" if endless == "many headers" else b"a" * 1024)
                await writer.drain()
        except ConnectionError:
            stopped.set()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        options = model_options(f"http://127.0.0.1:{port}", "m", http_client="httptools", timeout="20s")
        async with TritonClient(options) as client:
            started = asyncio.get_running_loop().time()
            with pytest.raises(TritonConnectionError) as info:
                await client.infer({"x": np.zeros((1, 1), np.float32)}, split=False)
            took = asyncio.get_running_loop().time() - started
        await asyncio.wait_for(stopped.wait(), 10)  # we hung up: the server's writes failed
    finally:
        server.close()
        await server.wait_closed()
    assert f"the response's headers exceed {lean_http.MAX_HEAD_BYTES} bytes" in str(info.value)
    assert took < 10
