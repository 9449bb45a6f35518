"""What a server sends cannot make the client buffer or wait without a limit, decode garbage
as data, or leak credentials: response size limits (``max-response-size``), bodies that cannot
be decoded, outputs that do not fit the request or the model, and redaction of server texts.

Faults a real Triton cannot produce go through the fault server; what a real Triton does show
(an explicitly requested output it leaves out) is tested against the real server.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import time
from typing import Any

import numpy as np
import pytest

from pyflink_triton.client.client import TritonClient
from pyflink_triton.client.redact import Redactor
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import (
    TritonClientRequestError,
    TritonConfigError,
    TritonConnectionError,
    TritonProtocolError,
    TritonSchemaError,
    TritonServiceError,
    TritonTimeoutError,
)

from .faultserver import FaultServer
from .test_client_faults import SECRET, X, client_for, http_client, options_for  # noqa: F401 - http_client: a fixture

MIB = 1024 * 1024


def echo_body(outputs: list[dict[str, Any]]) -> bytes:
    return json.dumps({"model_name": "m", "model_version": "1", "outputs": outputs}).encode()


JSON = {"Content-Type": "application/json"}


# -- the option -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("256mb", 256 * MIB),
        ("64MB", 64 * MIB),
        ("1 gb", 1024 * MIB),
        ("512kb", 512 * 1024),
        ("1048576", MIB),
        ("100b", 100),
        ("2t", 2 * 1024**4),
        (4096, 4096),
    ],
)
def test_max_response_size_reads_byte_sizes(text: Any, size: int) -> None:
    assert options_for("http://h", max_response_size=text).max_response_size == size


def test_max_response_size_default_and_text_form() -> None:
    options = options_for("http://h")
    assert options.max_response_size == 256 * MIB
    assert options_for("http://h", max_response_size="1024mb").to_map()["max-response-size"] == "1gb"


@pytest.mark.parametrize("bad", ["0", "-1", "1.5mb", "12 parsecs", "", True, 0, 2.5])
def test_max_response_size_must_be_a_positive_size(bad: Any) -> None:
    with pytest.raises(TritonConfigError, match="'max-response-size'") as info:
        TritonOptions.from_map({"endpoint": "http://h", "model-name": "m", "max-response-size": bad})
    assert info.value.option == "max-response-size"


# -- defect 1: bounded reads -------------------------------------------------------------------


def assert_limit_error(err: TritonProtocolError, url: str, what: str, limit: str) -> None:
    text = str(err)
    assert f"{what} response exceeds the limit of {limit}" in text
    assert "option 'max-response-size'" in text
    assert err.model == "m" and err.endpoint == url and f"Triton model 'm' at {url}" in text
    assert not err.retryable


async def test_announced_content_length_over_the_limit_fails_at_once(loop_fault: FaultServer) -> None:
    # 2 GiB announced, a few bytes sent, then silence: nothing is read, nothing is awaited.
    loop_fault.actions = [("announce", 200, 2 * 1024 * MIB, b'{"outputs": [')]
    started = time.monotonic()
    async with client_for(loop_fault.url, timeout="20s", max_retries="3") as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.infer(X)
    assert time.monotonic() - started < 5
    assert_limit_error(info.value, loop_fault.url, "inference", "256mb")
    assert "Content-Length 2147483648 announced" in str(info.value)
    assert len(loop_fault.infer_requests) == 1  # not retried


async def test_endless_chunked_body_stops_past_the_limit(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("endless", 200)]
    async with client_for(loop_fault.url, timeout="20s", max_response_size="1mb", max_retries="2") as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.infer(X)
        assert c.stats.failures == 1
    assert_limit_error(info.value, loop_fault.url, "inference", "1mb")
    assert "(1048576 bytes)" in str(info.value) and "reading stopped" in str(info.value)
    assert len(loop_fault.infer_requests) == 1
    # Reading stopped near the limit: the server could only fill the socket buffers beyond it.
    assert loop_fault.sent < 64 * MIB


async def test_gzip_bomb_is_capped_after_decompression(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("bomb", 200, 64 * MIB)]  # about 64 KiB on the wire
    async with client_for(loop_fault.url, compression="gzip", max_response_size="1mb") as c:
        with pytest.raises(TritonProtocolError) as info:
            await c.infer(X)
    assert_limit_error(info.value, loop_fault.url, "inference", "1mb")
    assert "gzip body inflates to more" in str(info.value)


async def test_metadata_and_config_bodies_are_capped(loop_fault: FaultServer) -> None:
    loop_fault.get_actions = [("announce", 200, 10 * MIB, b"{"), ("endless", 200), ("bomb", 200, 8 * MIB)]
    async with client_for(loop_fault.url, max_response_size="1mb", max_retries="2") as c:
        with pytest.raises(TritonProtocolError) as meta:
            await c.model_metadata()
        with pytest.raises(TritonProtocolError) as config:
            await c.model_config()
        with pytest.raises(TritonProtocolError) as bomb:
            await c.model_config(refresh=True)
        assert_limit_error(meta.value, loop_fault.url, "model metadata", "1mb")
        assert_limit_error(config.value, loop_fault.url, "model config", "1mb")
        assert_limit_error(bomb.value, loop_fault.url, "model config", "1mb")
        assert (await c.model_metadata())["name"] == "m"  # the next answer is read normally
    assert len([r for r in loop_fault.requests if not r.path.endswith("/infer")]) == 4  # no retries


async def test_error_bodies_are_read_only_to_a_small_cap(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("endless", 500), ("bomb", 503, 64 * MIB)]
    started = time.monotonic()
    async with client_for(loop_fault.url, timeout="20s") as c:
        with pytest.raises(TritonServiceError) as endless:
            await c.infer(X)
        with pytest.raises(TritonServiceError) as bomb:
            await c.infer(X)
    assert time.monotonic() - started < 10
    assert endless.value.status == 500 and endless.value.server_message.startswith("xxxx")
    assert len(endless.value.server_message) <= 503
    assert bomb.value.status == 503
    assert loop_fault.sent < 64 * MIB


async def test_a_body_that_stalls_half_way_times_out(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("slow_body", 1000, b'{"outputs": [')]
    async with client_for(loop_fault.url, timeout="300ms") as c:
        with pytest.raises(TritonTimeoutError, match="timed out after 0.3s"):
            await c.infer(X)


# -- defect 2: undecodable bodies are not network errors --------------------------------------


async def test_corrupt_gzip_is_a_protocol_error_not_retried(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("raw", 200, {**JSON, "Content-Encoding": "gzip"}, b"this is not gzip")] * 4
    async with client_for(loop_fault.url, compression="gzip", max_retries="3") as c:
        with pytest.raises(TritonProtocolError, match="cannot decompress gzip response") as info:
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 1
    assert info.value.model == "m" and "inference response" in str(info.value)


async def test_truncated_gzip_stream_is_a_protocol_error(loop_fault: FaultServer) -> None:
    good = gzip.compress(echo_body([{"name": "OUT_x", "datatype": "FP32", "shape": [1], "data": [1.0]}]))
    loop_fault.actions = [("raw", 200, {**JSON, "Content-Encoding": "gzip"}, good[:-12])] * 2
    async with client_for(loop_fault.url, compression="gzip", max_retries="1") as c:
        with pytest.raises(TritonProtocolError, match="truncated"):
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 1


async def test_unknown_content_encoding_is_a_protocol_error(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("raw", 200, {**JSON, "Content-Encoding": "zz"}, b"{}")] * 2
    async with client_for(loop_fault.url, max_retries="1") as c:
        with pytest.raises(TritonProtocolError, match="unsupported response Content-Encoding 'zz'"):
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 1


async def test_undecodable_error_body_keeps_the_status(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("raw", 400, {"Content-Encoding": "gzip"}, b"not gzip")]
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonClientRequestError, match="HTTP 400: .*cannot be decoded") as info:
            await c.infer(X)
    assert info.value.status == 400


async def test_reset_mid_body_stays_a_retryable_connection_error(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("cut", 1000, b'{"outputs": ['), ("cut", 1000, b'{"outputs": [')]
    async with client_for(loop_fault.url, max_retries="1") as c:
        with pytest.raises(TritonConnectionError) as info:
            await c.infer(X)
        assert info.value.retryable and c.stats.retries == 1
        loop_fault.actions = [("cut", 1000, b'{"outputs": [')]
        out = await c.infer(X)  # the retry gets the echo
    np.testing.assert_array_equal(out["OUT_x"], X["x"])


async def test_bad_inference_header_length_is_a_protocol_error(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("raw", 200, {"Inference-Header-Content-Length": "twelve"}, b"{}")]
    async with client_for(loop_fault.url) as c:
        parts = await c.infer_parts(X)
    assert isinstance(parts[0].error, TritonProtocolError)
    assert "invalid header length 'twelve'" in str(parts[0].error)


async def test_deeply_nested_json_is_a_protocol_error(loop_fault: FaultServer) -> None:
    nested = b"[" * 100_000
    loop_fault.actions = [("raw", 200, JSON, nested)]
    loop_fault.get_actions = [("raw", 200, JSON, nested)]
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonProtocolError, match="model metadata: the server's answer is not JSON"):
            await c.model_metadata()
        with pytest.raises(TritonProtocolError, match="not valid JSON"):
            await c.infer(X, split=False)


# -- defect 3: silently wrong values ----------------------------------------------------------


async def test_fractional_json_data_under_an_integer_output_is_refused(loop_fault: FaultServer) -> None:
    loop_fault.datatype = "INT64"
    body = echo_body([{"name": "OUT_x", "datatype": "INT64", "shape": [3, 2], "data": [0, 1, 2, 3, 4.5, 5]}])
    loop_fault.actions = [("raw", 200, JSON, body)]
    async with client_for(loop_fault.url, binary_data="false", max_retries="2") as c:
        with pytest.raises(TritonProtocolError, match=r"output 'OUT_x': data does not match INT64: 4\.5"):
            await c.infer({"x": np.arange(6, dtype=np.int64).reshape(3, 2)})
    assert len(loop_fault.infer_requests) == 1


async def test_requested_output_missing_from_the_answer(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonSchemaError) as info:
            await c.infer(X, outputs=["OUT_x", "OUT_y"])
        parts = await c.infer_parts(X, outputs=["OUT_y"], split=False)
    assert str(info.value) == (
        f"Triton model 'm' at {loop_fault.url}: inference response: requested output(s) 'OUT_y' "
        f"missing from the response (it has 'OUT_x') [request {info.value.request_id}]"
    )
    assert isinstance(parts[0].error, TritonSchemaError) and "'OUT_y'" in str(parts[0].error)


async def test_requested_output_the_real_server_leaves_out(triton_url: str) -> None:
    # echo-all-types answers only the outputs of the inputs sent, even when asked for others.
    opts = TritonOptions.from_map({"endpoint": triton_url, "model-name": "echo-all-types"})
    flags = np.array([[True, False]])
    async with TritonClient(opts) as c:
        out = await c.infer({"IN_BOOL": flags}, outputs=["OUT_BOOL"])
        assert out["OUT_BOOL"].tolist() == [[True, False]]
        with pytest.raises(TritonSchemaError) as info:
            await c.infer({"IN_BOOL": flags}, outputs=["OUT_BOOL", "OUT_INT8"])
        for binary in ("true", "false"):
            async with TritonClient(opts.replace(binary_data=binary == "true")) as each:
                assert set(await each.infer({"IN_BOOL": flags})) == {"OUT_BOOL"}  # no names: no check
    assert "requested output(s) 'OUT_INT8' missing from the response (it has 'OUT_BOOL')" in str(info.value)
    assert info.value.model == "echo-all-types" and info.value.endpoint == triton_url


async def test_output_datatype_other_than_the_metadata_is_refused(loop_fault: FaultServer) -> None:
    # The metadata declares OUT_x FP32; the server answers INT64 data under it.
    ints = {"x": np.arange(6, dtype=np.int64).reshape(3, 2)}
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonSchemaError) as info:
            await c.infer(ints)
    assert str(info.value) == (
        f"Triton model 'm' at {loop_fault.url}: inference response: output 'OUT_x' came back as "
        f"INT64, but the model's metadata declares FP32 [request {info.value.request_id}]"
    )
    loop_fault.datatype = "INT64"
    async with client_for(loop_fault.url) as c:
        np.testing.assert_array_equal((await c.infer(ints))["OUT_x"], ints["x"])


async def test_datatypes_are_checked_without_split_once_the_metadata_is_known(loop_fault: FaultServer) -> None:
    ints = {"x": np.arange(6, dtype=np.int64).reshape(3, 2)}
    async with client_for(loop_fault.url) as c:
        await c.infer(ints, split=False)  # one request, no metadata asked: nothing to check against
        assert [r.path for r in loop_fault.requests] == ["/v2/models/m/infer"]
        await c.model_metadata()
        with pytest.raises(TritonSchemaError, match="came back as INT64"):
            await c.infer(ints, split=False)


# -- defect 4: redaction ----------------------------------------------------------------------


async def test_401_echoing_the_bearer_token_is_redacted(
    loop_fault: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = {"error": f"unauthorized: got 'Authorization: Bearer {SECRET}'", "headers": {"Authorization": SECRET}}
    loop_fault.actions = [("raw", 401, JSON, json.dumps(echo).encode())]
    loop_fault.get_actions = [("raw", 403, {}, f"forbidden for token {SECRET}".encode())]
    async with client_for(loop_fault.url, auth_token=SECRET) as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.infer(X, split=False)
        with pytest.raises(TritonClientRequestError) as meta:
            await c.model_metadata()
    for err in (info.value, meta.value):
        assert SECRET not in str(err) and SECRET not in repr(err) and SECRET not in err.server_message
        assert "<redacted>" in err.server_message
    assert info.value.server_message == "unauthorized: got 'Authorization: Bearer <redacted>'"
    assert SECRET not in caplog.text


async def test_basic_auth_password_and_credential_are_redacted(loop_fault: FaultServer) -> None:
    password = "pw-S3CRET-value"
    credential = base64.b64encode(f"alice:{password}".encode()).decode()
    echo = f"bad login for alice/{password} (Authorization: Basic {credential})"
    loop_fault.actions = [("raw", 401, JSON, json.dumps({"error": echo}).encode())]
    async with client_for(loop_fault.url.replace("http://", f"http://alice:{password}@")) as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.infer(X, split=False)
    text = str(info.value)
    assert password not in text and credential not in text
    assert info.value.server_message == "bad login for alice/<redacted> (Authorization: Basic <redacted>)"


async def test_a_secret_cut_by_a_shortened_message_is_not_half_shown(loop_fault: FaultServer) -> None:
    for filler in range(480, 500):  # the cut falls anywhere in the token
        loop_fault.actions = [("raw", 401, {}, ("x" * filler + f" Bearer {SECRET} more text " * 3).encode())]
        async with client_for(loop_fault.url, auth_token=SECRET) as c:
            with pytest.raises(TritonClientRequestError) as info:
                await c.infer(X, split=False)
        message = info.value.server_message
        assert message.endswith("...") and SECRET[:4] not in message, message[-40:]


async def test_a_malformed_200_body_echoing_secrets_is_redacted(loop_fault: FaultServer) -> None:
    body = f'{{"echo": "X-Api-Key: k3y-S3CRET and {SECRET}", '.encode()
    loop_fault.actions = [("raw", 200, JSON, body)]
    async with client_for(loop_fault.url, auth_token=SECRET, custom_headers="X-Api-Key:k3y-S3CRET") as c:
        with pytest.raises(TritonProtocolError, match="not valid JSON") as info:
            await c.infer(X, split=False)
    assert SECRET not in str(info.value) and "k3y-S3CRET" not in str(info.value)


def test_redactor_covers_every_form_of_every_credential() -> None:
    opts = TritonOptions.from_map(
        {
            "endpoint": "http://bob:p%40ss-w0rd@h:8000",
            "model-name": "m",
            "custom-headers": '{"X-Api-Key": "k/ey+1", "X-Trace": "t1"}',
        }
    )
    redact = Redactor(opts)
    basic = base64.b64encode(b"bob:p%40ss-w0rd").decode()
    for leaked in ("p%40ss-w0rd", "p@ss-w0rd", basic, "k/ey+1", "k%2Fey%2B1"):
        assert redact(f"<<{leaked}>>") == "<<<redacted>>>", leaked
    assert redact("X-Trace t1, user bob") == "X-Trace t1, user bob"  # not secrets
    token = Redactor(opts.replace(endpoint="http://h", auth_token='Bearer a"b\\c-token'))
    assert token('{"error": "a\\"b\\\\c-token"}') == '{"error": "<redacted>"}'  # JSON-escaped
    assert token('a"b\\c-tok...') == "<redacted>..."
