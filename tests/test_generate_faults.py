"""TritonClient.generate against a fault-injecting server: streams cut, stalled, endless or
malformed, errors inside 200 answers, a server without the generate extension, bounds, headers,
secrets, and closing mid-stream. The real server's behaviour is in test_generate.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pyflink_triton.client.client import TritonClient
from pyflink_triton.client.correlation import is_traceparent
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import (
    TritonCircuitOpenError,
    TritonClientRequestError,
    TritonConnectionError,
    TritonModelError,
    TritonProtocolError,
    TritonServiceError,
    TritonTimeoutError,
)
from pyflink_triton.protocol.generate import MAX_EVENT_BYTES

from .faultserver import FaultServer

SECRET = "tok-S3CRET-value"
PROMPT = {"text_input": "one two three", "max_tokens": 3}


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def client_for(url: str, **options: Any) -> TritonClient:
    opts = TritonOptions.from_map(
        {"endpoint": url + "/v2/models", "model-name": "m", **{k.replace("_", "-"): str(v) for k, v in options.items()}}
    )
    return TritonClient(opts, sleep=Sleeps(), rng=lambda: 0.0)


def event(text: str, **extra: Any) -> bytes:
    return b"data: " + json.dumps({"model_name": "m", "text_output": text, **extra}).encode() + b"\n\n"


def texts(events: tuple[dict[str, Any], ...]) -> list[str]:
    return [e["text_output"] for e in events]


def target(fault: FaultServer) -> str:
    return f"Triton model 'm' at {fault.url}"


# -- what is sent ----------------------------------------------------------------------------------


@pytest.mark.parametrize("http_client", ["aiohttp", "httptools"])
async def test_stream_headers_auth_and_plain_body(loop_fault: FaultServer, http_client: str) -> None:
    async with client_for(
        loop_fault.url, auth_token=SECRET, custom_headers="X-Tenant:acme", compression="gzip", http_client=http_client
    ) as c:
        answer = await c.generate(PROMPT, stream=True, request_id="rid-7")
    assert texts(answer.events) == ["one", "two", "three"]
    (req,) = loop_fault.generate_requests
    assert (req.method, req.path) == ("POST", "/v2/models/m/generate_stream")
    h = req.headers
    assert h["Authorization"] == f"Bearer {SECRET}" and h["X-Tenant"] == "acme"
    assert h["X-Request-ID"] == "rid-7"
    assert h["Accept"] == "text/event-stream" and h["Content-Type"] == "application/json"
    # Triton refuses compressed generate requests and never compresses the answer.
    assert h["Accept-Encoding"] == "identity" and "Content-Encoding" not in h
    assert json.loads(req.body) == PROMPT  # plain JSON, and no "id" (it would reach the model)


async def test_generate_posts_to_the_generate_route_with_a_version(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url, model_version="3") as c:
        answer = await c.generate({"text_input": "a b"})
        assert c.stats.requests == 1 and c.stats.rows == 1 and c.stats.in_flight_requests == 0
    assert answer.events == ({"model_name": "m", "model_version": "1", "text_output": "a b"},)
    assert loop_fault.generate_requests[0].path == "/v2/models/m/versions/3/generate"
    assert loop_fault.generate_requests[0].headers["Accept"] == "application/json"


async def test_request_ids_and_tracing_as_for_infer(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url, tracing="true") as c:
        await c.generate(PROMPT)
        await c.generate(PROMPT, stream=True)
    first, second = (r.headers for r in loop_fault.generate_requests)
    assert first["X-Request-ID"] != second["X-Request-ID"]  # a fresh id per call
    assert first["X-Request-ID"].startswith(c.request_ids.prefix)
    assert is_traceparent(first["traceparent"]) and is_traceparent(second["traceparent"])


# -- streams cut short -----------------------------------------------------------------------------


async def test_a_stream_cut_mid_way_is_retried_whole(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("sse", [event("one"), event("two")], "cut")]
    async with client_for(loop_fault.url, max_retries=2) as c:
        answer = await c.generate(PROMPT, stream=True)
        assert c.stats.retries == 1 and c.stats.failures == 1
    assert texts(answer.events) == ["one", "two", "three"]  # the second attempt only: nothing twice
    assert len(loop_fault.generate_requests) == 2


async def test_a_stream_cut_mid_way_past_the_retries_is_a_clear_error(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("sse", [event("one"), b'data: {"text_out'], "cut")] * 3
    async with client_for(loop_fault.url, max_retries=2) as c:
        with pytest.raises(TritonConnectionError) as info:
            await c.generate(PROMPT, stream=True, request_id="cut-1")
    assert len(loop_fault.generate_requests) == 3
    assert str(info.value).startswith(f"{target(loop_fault)}: generate_stream failed: ClientPayloadError: ")
    assert str(info.value).endswith(" [request cut-1]")


async def test_a_stream_that_ends_inside_an_event_is_retried(loop_fault: FaultServer) -> None:
    half = ("sse", [event("one"), b'data: {"text_output": "tw'], "finish")
    loop_fault.generate_actions = [half, half]
    async with client_for(loop_fault.url, max_retries=1) as c:
        with pytest.raises(TritonConnectionError) as info:
            await c.generate(PROMPT, stream=True, request_id="half-1")
    assert len(loop_fault.generate_requests) == 2
    assert str(info.value) == (
        f"{target(loop_fault)}: generate_stream response: the event stream ended in the middle of an event "
        "(1 complete events before it): the answer is incomplete [request half-1]"
    )


# -- errors inside answers -------------------------------------------------------------------------


async def test_an_error_event_mid_stream_is_a_model_error_never_retried(loop_fault: FaultServer) -> None:
    error = b'data: {"error":"CUDA out of memory; token ' + SECRET.encode() + b'"}\n\n'
    loop_fault.generate_actions = [("sse", [event("one"), error, event("two")], "finish")]
    async with client_for(loop_fault.url, max_retries=3, auth_token=SECRET) as c:
        with pytest.raises(TritonModelError) as info:
            await c.generate(PROMPT, stream=True, request_id="err-1")
    assert len(loop_fault.generate_requests) == 1
    assert info.value.status == 200
    assert str(info.value) == (
        f"{target(loop_fault)}: generate_stream failed: the model sent an error in event 2 of the stream "
        "after HTTP 200: CUDA out of memory; token <redacted> [request err-1]"
    )


async def test_an_error_in_a_200_generate_body_is_a_model_error(loop_fault: FaultServer) -> None:
    body = b'{"error":"generate expects model to produce exactly 1 response"}'
    loop_fault.generate_actions = [("raw", 200, {"Content-Type": "application/json"}, body)]
    async with client_for(loop_fault.url, max_retries=3) as c:
        with pytest.raises(TritonModelError, match="in its answer after HTTP 200: generate expects model"):
            await c.generate(PROMPT)
    assert len(loop_fault.generate_requests) == 1


async def test_an_error_status_before_the_stream_is_retried_like_infer(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("status", 503, "queue full")]
    async with client_for(loop_fault.url, max_retries=1) as c:
        answer = await c.generate(PROMPT, stream=True)
    assert texts(answer.events) == ["one", "two", "three"]
    loop_fault.generate_actions = [("status", 503, "queue full")] * 2
    async with client_for(loop_fault.url, max_retries=1) as c:
        with pytest.raises(TritonServiceError, match="generate_stream failed with HTTP 503: queue full"):
            await c.generate(PROMPT, stream=True)


async def test_an_error_first_response_framed_as_an_event_shows_the_message(loop_fault: FaultServer) -> None:
    body = b'data: {"error":"expected number of inputs between 1 and 3 but got 0"}\n\n'
    loop_fault.generate_actions = [("raw", 400, {"Content-Type": "text/event-stream"}, body)]
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.generate({}, stream=True)
    assert info.value.server_message == "expected number of inputs between 1 and 3 but got 0"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"data: {not json}\n\n", "event 2 is not JSON: '{not json}'"),
        (b"data: [1, 2]\n\n", "event 2 is not a JSON object: '[1, 2]'"),
        (b"<html>proxy error</html>\n\n", "line '<html>proxy error</html>' of event 2 is not a server-sent event"),
    ],
)
async def test_malformed_data_lines_are_protocol_errors_not_retried(
    loop_fault: FaultServer, line: bytes, message: str
) -> None:
    loop_fault.generate_actions = [("sse", [event("one"), line, event("two")], "finish")]
    async with client_for(loop_fault.url, max_retries=3) as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.generate(PROMPT, stream=True, request_id="bad-1")
    assert len(loop_fault.generate_requests) == 1
    assert str(info.value) == f"{target(loop_fault)}: generate_stream response: {message} [request bad-1]"


async def test_comments_and_other_sse_fields_are_ignored(loop_fault: FaultServer) -> None:
    pieces = [b": keep-alive\n\n", b"event: message\r\nid: 1\r\n", event("one").replace(b"\n", b"\r\n"), event("two")]
    loop_fault.generate_actions = [("sse", pieces, "finish")]
    async with client_for(loop_fault.url) as c:
        answer = await c.generate(PROMPT, stream=True)
    assert texts(answer.events) == ["one", "two"]


# -- bounds ----------------------------------------------------------------------------------------


async def test_a_stream_that_never_ends_is_cut_by_the_timeout(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("sse_forever", event("tick"), 0.02)]
    async with client_for(loop_fault.url, timeout="400ms", max_retries=0) as c:
        with pytest.raises(TritonTimeoutError) as info:
            await c.generate(PROMPT, stream=True, request_id="slow-1")
    assert str(info.value) == (
        f"{target(loop_fault)}: generate_stream timed out after 0.4s (option 'timeout' bounds the whole "
        "answer, streamed or not) [request slow-1]"
    )


async def test_an_endless_line_is_bounded(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("sse_forever", b"x" * 65536, 0)]
    async with client_for(loop_fault.url, max_retries=3) as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.generate(PROMPT, stream=True, request_id="line-1")
    assert len(loop_fault.generate_requests) == 1
    assert loop_fault.sent < MAX_EVENT_BYTES + 8 * 1024 * 1024  # read no further than the bound (and buffers)
    assert str(info.value) == (
        f"{target(loop_fault)}: generate_stream response: a line of event 1 is longer than 8mb (8388608 bytes; "
        "one event holds one response of the model); reading stopped [request line-1]"
    )


async def test_max_response_size_bounds_the_whole_stream(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("sse_forever", event("tick") * 20, 0)]
    async with client_for(loop_fault.url, max_response_size="64kb", max_retries=3) as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.generate(PROMPT, stream=True, request_id="big-1")
    assert len(loop_fault.generate_requests) == 1
    message = str(info.value)
    assert message.startswith(
        f"{target(loop_fault)}: generate_stream response: exceeds the limit of 64kb (65536 bytes) set by option "
        "'max-response-size' ("
    )
    assert message.endswith(" events read; reading stopped) [request big-1]")


async def test_max_response_size_bounds_a_generate_body(loop_fault: FaultServer) -> None:
    body = json.dumps({"text_output": "x" * 70_000}).encode()
    loop_fault.generate_actions = [("raw", 200, {"Content-Type": "application/json"}, body)]
    async with client_for(loop_fault.url, max_response_size="64kb") as c:
        with pytest.raises(TritonProtocolError, match="exceeds the limit of 64kb .65536 bytes. set by option"):
            await c.generate(PROMPT)


# -- a server without the extension ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (404, {"Content-Type": "text/plain"}, b'{"error":"Not Found"}'),  # 2.51's answer for a route it lacks
        (405, {"Content-Type": "application/json"}, b'{"error":"Method Not Allowed"}'),
        (400, {}, b""),  # Tritons before 2.39 answered an unknown route with an empty 400
    ],
)
async def test_a_server_without_the_generate_extension_says_so(
    loop_fault: FaultServer, status: int, headers: dict[str, str], body: bytes
) -> None:
    loop_fault.generate_actions = [("raw", status, headers, body)]
    async with client_for(loop_fault.url, max_retries=3) as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.generate(PROMPT, request_id="old-1")
    assert len(loop_fault.generate_requests) == 1
    shown = f": {json.loads(body)['error']}" if body else ""
    assert str(info.value) == (
        f"{target(loop_fault)}: generate failed with HTTP {status}{shown}: the server does not serve Triton's "
        "generate extension (/generate and /generate_stream, Triton 2.39 or later); upgrade Triton, or call a "
        "model that is not decoupled with option 'inference-api' = 'infer' [request old-1]"
    )


async def test_an_unknown_model_is_not_a_missing_extension(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("status", 404, "Request for unknown model: 'm' is not found")]
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.generate(PROMPT)
    assert "generate extension" not in str(info.value)
    assert "generate failed with HTTP 404: Request for unknown model: 'm' is not found" in str(info.value)


# -- breaker, secrets, closing ---------------------------------------------------------------------


async def test_generate_failures_open_the_breaker(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("status", 503, "down")] * 10
    async with client_for(loop_fault.url, max_retries=0, circuit_breaker_enabled="true") as c:
        for _ in range(10):
            with pytest.raises(TritonServiceError):
                await c.generate(PROMPT, stream=True)
        with pytest.raises(TritonCircuitOpenError, match="circuit breaker is OPEN"):
            await c.generate(PROMPT, stream=True)
        assert c.stats.breaker_rejections == 1
    assert len(loop_fault.generate_requests) == 10  # the 11th was never sent


async def test_a_secret_echoed_in_an_error_body_is_redacted(loop_fault: FaultServer) -> None:
    loop_fault.generate_actions = [("status", 401, f"bad token Bearer {SECRET}")]
    async with client_for(loop_fault.url, auth_token=SECRET) as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.generate(PROMPT, stream=True)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert "bad token Bearer <redacted>" in str(info.value)


async def test_a_secret_echoed_in_a_malformed_event_is_redacted(loop_fault: FaultServer) -> None:
    echoed = b"data: {unauthorized: Bearer " + SECRET.encode() + b"}\n\n"
    loop_fault.generate_actions = [("sse", [echoed], "finish")]
    async with client_for(loop_fault.url, auth_token=SECRET) as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.generate(PROMPT, stream=True, request_id="sec-1")
    assert str(info.value) == (
        f"{target(loop_fault)}: generate_stream response: event 1 is not JSON: "
        "'{unauthorized: Bearer <redacted>}' [request sec-1]"
    )


@pytest.mark.parametrize(
    ("action", "stream"),
    [(("sse", [event("one")], "hang"), True), (("stall", 30), False)],
    ids=["mid-stream", "before-the-headers"],
)
async def test_closing_the_client_mid_request_leaves_no_task_or_connection(
    fault: FaultServer, action: tuple[Any, ...], stream: bool
) -> None:
    fault.generate_actions = [action]
    client = await client_for(fault.url, max_retries=2).open()
    session = client._transport.session
    assert session is not None and session.connector is not None
    connector = session.connector
    task = asyncio.create_task(client.generate(PROMPT, stream=stream, request_id="close-1"))
    for _ in range(500):  # until the request is on the wire and its answer awaited
        if fault.generate_requests and connector._acquired:  # type: ignore[attr-defined]
            break
        await asyncio.sleep(0.01)
    assert fault.generate_requests and not task.done()
    await client.close()
    with pytest.raises(TritonConnectionError) as info:
        await asyncio.wait_for(task, 5)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert connector.closed and not connector._acquired  # type: ignore[attr-defined]
    assert len(fault.generate_requests) == 1  # not retried after close
    route = "generate_stream" if stream else "generate"
    assert str(info.value) == (
        f"{target(fault)}: {route} failed: the client was closed while the answer was being read [request close-1]"
    )
