"""A fault-injecting KServe v2 HTTP server, for faults a real Triton cannot be made to produce.

It answers inference with a script of actions (503 storms, stalls, resets, malformed bodies),
then echoes: every input comes back as an output of the same name prefixed ``OUT_``, decoded
here independently of our codec. It records every request it gets. Binds 127.0.0.1 on a
free port; the test that starts it stops it.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    header_json: dict[str, Any] | None = None


@dataclass
class FaultServer:
    """Script ``actions`` (consumed one per inference request) then the default ``echo``.

    Actions: ``("status", code, text)``, ``("stall", seconds)``, ``("reset",)``,
    ``("garbage",)``, ``("echo",)``, ``("echo_rows", n)`` (echo, but only the first n rows).
    Body faults: ``("raw", status, headers, body)``; ``("announce", status, length, prefix)``
    (``Content-Length: length``, then ``prefix`` and silence until the client hangs up);
    ``("endless", status)`` (a chunked body that never ends; ``sent`` counts its bytes);
    ``("bomb", status, size)`` (``size`` zero bytes, a multiple of 1 MiB, gzip-encoded); ``("cut", length, prefix)``
    (``Content-Length: length``, ``prefix``, then the connection is closed);
    ``("slow_body", length, prefix)`` (``prefix``, then silence). ``get_actions`` script
    metadata and config GETs with ``("status", code, text)`` or a body fault, then they answer
    normally. With ``gzip_responses``, inference answers are gzip-encoded for a client that
    accepts gzip. ``datatype`` is what the metadata declares for ``x`` and ``OUT_x``.

    Generate extension (``.../generate``, ``.../generate_stream``): ``generate_actions`` script
    them, then the default answers the words of ``text_input``, one ``data:`` event each on the
    stream (one JSON object on ``/generate``). Actions: ``("status", code, text)``,
    ``("raw", status, headers, body)``, ``("stall", seconds)`` (then the default answer);
    ``("sse", [pieces], end)`` writes each piece as it is
    (one write each, chunked) then ends the body (``end`` "finish"), closes the connection
    (``"cut"``) or waits until the client hangs up (``"hang"``); ``("sse_forever", piece,
    pause_s)`` writes ``piece`` again and again (``sent`` counts the bytes).

    Echo faults (a faithful echo, then one thing wrong with it): ``("echo_datatype", dt)``
    (every output claims datatype ``dt``; the bytes are the echo's); ``("echo_rename", name)``
    (every output is named ``name``, so the requested one is missing);
    ``("echo_header_length", delta)`` (``Inference-Header-Content-Length`` off by ``delta``);
    ``("echo_gzip_corrupt",)`` (``Content-Encoding: gzip``, a valid gzip header, then deflate
    data that is not: invalid block type).
    """

    max_batch_size: int = 1024
    live_status: int = 200
    ready_status: int = 200
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    get_actions: list[tuple[Any, ...]] = field(default_factory=list)
    gzip_responses: bool = False
    requests: list[Recorded] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    stall_each_s: float = 0.0
    datatype: str = "FP32"
    sent: int = 0  # bytes of 'endless' bodies written
    generate_actions: list[tuple[Any, ...]] = field(default_factory=list)

    async def start(self) -> FaultServer:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Keep request bodies as sent, so tests can check they really travelled gzip.
        self._runner = web.AppRunner(app, access_log=None, auto_decompress=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def infer_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/infer")]

    @property
    def generate_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(("/generate", "/generate_stream"))]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = Recorded(request.method, request.path, dict(request.headers), body)
        self.requests.append(rec)
        path = request.path
        if path.endswith("/health/live"):
            return web.Response(status=self.live_status)
        if path.endswith("/health/ready"):
            return web.Response(status=self.ready_status)
        if path.endswith(("/generate", "/generate_stream")):
            return await self._generate(request, body)
        if not path.endswith("/infer") and self.get_actions:
            action = self.get_actions.pop(0)
            if action[0] == "status":
                return web.json_response({"error": action[2]}, status=action[1])
            return await self._body_fault(request, action)
        if path.endswith("/config"):
            return web.json_response({"name": "m", "max_batch_size": self.max_batch_size})
        if not path.endswith("/infer"):
            # Metadata of an echo model: 'x' (FP32, [batch, -1]) comes back as 'OUT_x'.
            shape = [-1, -1] if self.max_batch_size else [-1]
            return web.json_response(
                {
                    "name": "m",
                    "versions": ["1"],
                    "platform": "fault",
                    "inputs": [{"name": "x", "datatype": self.datatype, "shape": shape}],
                    "outputs": [{"name": "OUT_x", "datatype": self.datatype, "shape": shape}],
                }
            )
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        hlen = int(request.headers.get("Inference-Header-Content-Length", len(body)))
        rec.header_json = json.loads(body[:hlen])
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.stall_each_s:
                await asyncio.sleep(self.stall_each_s)
            action = self.actions.pop(0) if self.actions else ("echo",)
            kind = action[0]
            if kind == "status":
                return web.json_response({"error": action[2]}, status=action[1])
            if kind == "stall":
                await asyncio.sleep(action[1])
                return web.Response(status=200)
            if kind == "reset":
                assert request.transport is not None
                request.transport.close()
                return web.Response(status=200)
            if kind == "garbage":
                return web.Response(body=b'{"outputs": [', content_type="application/json")
            if kind in _BODY_FAULTS:
                return await self._body_fault(request, action)
            if kind in _ECHO_FAULTS:
                return self._echo_fault(rec.header_json, body[hlen:], action)
            response = self._echo(rec.header_json, body[hlen:], action[1] if kind == "echo_rows" else None)
            if self.gzip_responses and "gzip" in request.headers.get("Accept-Encoding", ""):
                assert isinstance(response.body, bytes)
                response.body = gzip.compress(response.body)
                response.headers["Content-Encoding"] = "gzip"
            return response
        finally:
            self.in_flight -= 1

    async def _generate(self, request: web.Request, body: bytes) -> web.StreamResponse:
        stream = request.path.endswith("/generate_stream")
        action = self.generate_actions.pop(0) if self.generate_actions else ("answer",)
        kind = action[0]
        if kind == "status":
            return web.json_response({"error": action[2]}, status=action[1])
        if kind == "raw":
            return web.Response(status=action[1], headers=action[2], body=action[3])
        if kind == "stall":
            await asyncio.sleep(action[1])
        words = str(json.loads(body).get("text_input", "")).split()
        if kind == "answer" and not stream:
            return web.json_response({"model_name": "m", "model_version": "1", "text_output": " ".join(words)})
        if kind == "answer":
            action = ("sse", [_event({"model_name": "m", "text_output": w}) for w in words], "finish")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            if action[0] == "sse_forever":
                while True:
                    await response.write(action[1])
                    self.sent += len(action[1])
                    await asyncio.sleep(action[2])
            for piece in action[1]:
                await response.write(piece)
            if action[2] == "cut":
                assert request.transport is not None
                request.transport.close()
            elif action[2] == "hang":
                await _until_closed(request)
            else:
                await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up
        return response

    async def _body_fault(self, request: web.Request, action: tuple[Any, ...]) -> web.StreamResponse:
        kind = action[0]
        if kind == "raw":
            return web.Response(status=action[1], headers=action[2], body=action[3])
        if kind == "bomb":
            packer, size = zlib.compressobj(9, zlib.DEFLATED, 31), action[2]  # gzip framing
            body = b"".join(packer.compress(bytes(1 << 20)) for _ in range(size >> 20)) + packer.flush()
            return web.Response(status=action[1], body=body, headers={"Content-Encoding": "gzip"})
        status = action[1] if kind in ("announce", "endless") else 200
        response = web.StreamResponse(status=status)
        if kind == "endless":
            response.enable_chunked_encoding()
        else:
            response.content_length = action[-2]
        await response.prepare(request)
        try:
            if kind == "endless":
                chunk = b"x" * 65536
                while True:  # backpressure: write() waits while the client does not read
                    await response.write(chunk)
                    self.sent += len(chunk)
            await response.write(action[-1])
            if kind == "cut":
                assert request.transport is not None
                request.transport.close()
            else:
                await _until_closed(request)
        except (ConnectionError, RuntimeError):
            pass  # the client hung up: what these faults wait for
        return response

    @classmethod
    def _echo_fault(cls, header: dict[str, Any], binary: bytes, action: tuple[Any, ...]) -> web.Response:
        kind = action[0]
        echo = cls._echo(header, binary, None)
        assert isinstance(echo.body, bytes)
        hlen = int(echo.headers.get("Inference-Header-Content-Length", len(echo.body)))
        head, tail = json.loads(echo.body[:hlen]), echo.body[hlen:]
        for out in head["outputs"]:
            if kind == "echo_datatype":
                out["datatype"] = action[1]
            elif kind == "echo_rename":
                out["name"] = action[1]
        packed = json.dumps(head).encode()
        headers: dict[str, str] = {}
        if tail or kind == "echo_header_length":
            lie = action[1] if kind == "echo_header_length" else 0
            headers["Inference-Header-Content-Length"] = str(len(packed) + lie)
        payload = packed + tail
        if kind == "echo_gzip_corrupt":
            # gzip's 10-byte header, then 0xff: a final block of the reserved type 11.
            payload = gzip.compress(payload)[:10] + b"\xff" * 32
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=payload, headers=headers, content_type="application/octet-stream")

    @staticmethod
    def _echo(header: dict[str, Any], binary: bytes, rows: int | None) -> web.Response:
        outputs, chunks, offset = [], [], 0
        for tensor in header["inputs"]:
            size = (tensor.get("parameters") or {}).get("binary_data_size")
            shape = list(tensor["shape"])
            out: dict[str, Any] = {"name": "OUT_" + tensor["name"], "datatype": tensor["datatype"]}
            if size is None:
                data = tensor["data"]
                if rows is not None:
                    per_row = len(data) // shape[0] if shape[0] else 0
                    data, shape[0] = data[: rows * per_row], rows
                out.update(shape=shape, data=data)
            else:
                raw = binary[offset : offset + size]
                offset += size
                if rows is not None:
                    raw, shape[0] = raw[: len(raw) // shape[0] * rows], rows
                out.update(shape=shape, parameters={"binary_data_size": len(raw)})
                chunks.append(raw)
            outputs.append(out)
        head = json.dumps({"model_name": "m", "model_version": "1", "outputs": outputs}).encode()
        if not chunks:
            return web.Response(body=head, content_type="application/json")
        return web.Response(
            body=head + b"".join(chunks),
            headers={"Inference-Header-Content-Length": str(len(head))},
            content_type="application/octet-stream",
        )


_BODY_FAULTS = ("raw", "announce", "endless", "bomb", "cut", "slow_body")
_ECHO_FAULTS = ("echo_datatype", "echo_rename", "echo_header_length", "echo_gzip_corrupt")


def _event(obj: dict[str, Any]) -> bytes:
    """One server-sent event as Triton writes it."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


async def _until_closed(request: web.Request, most_s: float = 30.0) -> None:
    """Wait until the client closes the connection (at most ``most_s``)."""
    for _ in range(int(most_s / 0.02)):
        if request.transport is None or request.transport.is_closing():
            return
        await asyncio.sleep(0.02)
