"""Client resilience against a fault-injecting server: retries, timeouts, breaker, headers, secrets.

Faults a real Triton cannot be made to produce on demand; everything else is tested against
the real server in test_client.py.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import pickle
import ssl
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import numpy as np
import pytest

from pyflink_triton.client import ClientStats
from pyflink_triton.client.breaker import CircuitState
from pyflink_triton.client.client import TritonClient
from pyflink_triton.client.transport import ERROR_MAP, Transport, ssl_context
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import (
    TritonCircuitOpenError,
    TritonClientRequestError,
    TritonConfigError,
    TritonConnectionError,
    TritonProtocolError,
    TritonSchemaError,
    TritonServiceError,
    TritonTimeoutError,
)

from .conftest import free_port
from .faultserver import FaultServer

SECRET = "tok-S3CRET-value"


class Sleeps:
    """Records the retry delays instead of sleeping them."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


#: The HTTP client of the inference requests made through ``options_for``.
_HTTP_CLIENT = {"name": "aiohttp"}


@pytest.fixture(autouse=True, params=["aiohttp", "httptools"])
def http_client(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test here (and in the modules that import this fixture) runs with each HTTP
    client of option 'http-client': the faults must look the same through both."""
    _HTTP_CLIENT["name"] = request.param
    try:
        yield request.param
    finally:
        _HTTP_CLIENT["name"] = "aiohttp"


def options_for(url: str, **options: Any) -> TritonOptions:
    return TritonOptions.from_map(
        {
            "endpoint": url + "/v2/models",
            "model-name": "m",
            "http-client": _HTTP_CLIENT["name"],
            **{k.replace("_", "-"): v for k, v in options.items()},
        }
    )


def client_for(
    url: str, sleeps: Callable[[float], Awaitable[Any]] | None = None, rng: float = 0.0, **options: Any
) -> TritonClient:
    return TritonClient(options_for(url, **options), sleep=sleeps or Sleeps(), rng=lambda: rng)


X = {"x": np.arange(6, dtype=np.float32).reshape(3, 2)}


async def test_echo_round_trip_binary(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url) as c:
        out = await c.infer(X)
    np.testing.assert_array_equal(out["OUT_x"], X["x"])
    (req,) = loop_fault.infer_requests
    assert req.headers["Inference-Header-Content-Length"]
    assert req.headers["Accept-Encoding"] == "identity"
    assert req.header_json["inputs"][0]["parameters"]["binary_data_size"] == 24


async def test_503_then_200_gives_the_row_with_exactly_two_requests(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("status", 503, "queue full")]
    sleeps = Sleeps()
    async with client_for(loop_fault.url, sleeps, max_retries="3") as c:
        out = await c.infer(X)
        assert c.stats.retries == 1 and c.stats.failures == 1 and c.stats.rows == 3
    np.testing.assert_array_equal(out["OUT_x"], X["x"])
    assert len(loop_fault.infer_requests) == 2
    assert sleeps.delays == [pytest.approx(0.05)]  # equal jitter, rng=0: d/2 of 100 ms


async def test_three_503s_exhaust_two_retries_with_a_clear_error(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("status", 503, "queue full")] * 3
    sleeps = Sleeps()
    async with client_for(loop_fault.url, sleeps, rng=1.0, max_retries="2") as c:
        with pytest.raises(TritonServiceError) as info:
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 3
    assert sleeps.delays == [pytest.approx(0.1), pytest.approx(0.2)]
    err = info.value
    assert err.status == 503 and err.server_message == "queue full" and err.model == "m"
    assert (
        str(err)
        == (
            f"Triton model 'm' at {loop_fault.url}: inference failed with HTTP 503: queue full "
            f"[request {err.request_id}]"
        )
        and err.request_id
    )


async def test_400_is_never_retried(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("status", 400, "unexpected shape for input 'x'")]
    async with client_for(loop_fault.url, max_retries="3") as c:
        with pytest.raises(TritonClientRequestError, match="HTTP 400: unexpected shape") as info:
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 1
    assert info.value.status == 400


async def test_connection_refused_is_retried_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    sleeps = Sleeps()
    async with client_for(url, sleeps, max_retries="2") as c:
        with pytest.raises(TritonConnectionError) as info:
            await c.infer(X, split=False)
        assert c.stats.requests == 3
    assert len(sleeps.delays) == 2
    assert url in str(info.value) and "inference failed" in str(info.value)
    assert isinstance(info.value, ConnectionError)


async def test_stall_past_the_timeout(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("stall", 1.0), ("stall", 1.0)]
    async with client_for(loop_fault.url, timeout="200ms", max_retries="1") as c:
        with pytest.raises(TritonTimeoutError, match="timed out after 0.2s") as info:
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 2
    assert isinstance(info.value, TimeoutError)


async def test_stall_then_success_recovers(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("stall", 1.0)]
    async with client_for(loop_fault.url, timeout="200ms", max_retries="1") as c:
        out = await c.infer(X)
    np.testing.assert_array_equal(out["OUT_x"], X["x"])


async def test_connection_reset_is_a_retryable_network_error(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("reset",)]
    async with client_for(loop_fault.url, max_retries="1") as c:
        out = await c.infer(X)
    assert len(loop_fault.infer_requests) == 2
    np.testing.assert_array_equal(out["OUT_x"], X["x"])


async def test_malformed_body_is_a_protocol_error_not_retried(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("garbage",)]
    async with client_for(loop_fault.url, max_retries="3") as c:
        with pytest.raises(TritonProtocolError, match="Triton model 'm'"):
            await c.infer(X)
    assert len(loop_fault.infer_requests) == 1


async def test_wrong_row_count_is_a_schema_error(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("echo_rows", 2)]
    async with client_for(loop_fault.url) as c:
        with pytest.raises(TritonSchemaError, match=r"output 'OUT_x' has shape \[2, 2\] for a batch of 3 rows"):
            await c.infer(X)


async def test_batches_are_split_to_the_model_limit_and_rejoined_in_order(loop_fault: FaultServer) -> None:
    loop_fault.max_batch_size = 4
    loop_fault.stall_each_s = 0.05
    loop_fault.datatype = "INT64"  # the metadata the client checks the echo against
    x = np.arange(22, dtype=np.int64).reshape(11, 2)
    async with client_for(loop_fault.url, max_concurrent_requests="2") as c:
        out = await c.infer({"x": x, "s": np.array([str(i) for i in range(11)], dtype=object)})
    np.testing.assert_array_equal(out["OUT_x"], x)
    assert list(out["OUT_s"]) == [str(i).encode() for i in range(11)]
    assert sorted(r.header_json["inputs"][0]["shape"][0] for r in loop_fault.infer_requests) == [3, 4, 4]
    assert loop_fault.max_in_flight == 2


async def test_batch_size_option_caps_below_the_model_limit(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url, batch_size="5") as c:
        assert await c.max_batch_size() == 5
        await c.infer({"x": np.zeros((12, 1), np.float32)})
    assert [r.header_json["inputs"][0]["shape"][0] for r in loop_fault.infer_requests] == [5, 5, 2]


async def test_sequence_chunks_go_in_order_with_start_and_end_flags(loop_fault: FaultServer) -> None:
    loop_fault.max_batch_size = 2
    loop_fault.datatype = "INT32"
    async with client_for(
        loop_fault.url, sequence_id="42", sequence_start="true", sequence_end="true", priority="3"
    ) as c:
        await c.infer({"x": np.arange(5, dtype=np.int32).reshape(5, 1)})
    params = [r.header_json["parameters"] for r in loop_fault.infer_requests]
    assert [p["sequence_id"] for p in params] == [42, 42, 42]  # digits travel as uint64
    assert [p.get("sequence_start", False) for p in params] == [True, False, False]
    assert [p.get("sequence_end", False) for p in params] == [False, False, True]
    assert all(p["priority"] == 3 for p in params)
    assert [r.header_json["inputs"][0]["shape"][0] for r in loop_fault.infer_requests] == [2, 2, 1]


async def test_string_sequence_ids_and_custom_parameters(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url, sequence_id="conv-001", request_parameters='{"temperature": 0.5}') as c:
        await c.infer(X)
    params = loop_fault.infer_requests[0].header_json["parameters"]
    assert params["sequence_id"] == "conv-001" and params["temperature"] == 0.5
    assert loop_fault.infer_requests[0].header_json["id"] != "conv-001"  # the request id, not the sequence's


async def test_headers_auth_and_gzip(loop_fault: FaultServer) -> None:
    loop_fault.gzip_responses = True  # aiohttp decompresses the answer; the codec sees plain bytes
    async with client_for(
        loop_fault.url, auth_token="Bearer abc", compression="gzip", custom_headers="X-Trace:t1,X-Tenant:acme"
    ) as c:
        out = await c.infer(X)
    np.testing.assert_array_equal(out["OUT_x"], X["x"])
    h = loop_fault.infer_requests[0].headers
    assert h["Authorization"] == "Bearer abc"  # not 'Bearer Bearer abc'
    assert h["X-Trace"] == "t1" and h["X-Tenant"] == "acme"
    assert h["Content-Encoding"] == "gzip" and h["Accept-Encoding"] == "gzip"
    gzip.decompress(loop_fault.infer_requests[0].body)  # really gzip


async def test_plain_token_gets_the_bearer_prefix(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url, auth_token="abc") as c:
        await c.infer(X)
    assert loop_fault.infer_requests[0].headers["Authorization"] == "Bearer abc"


async def test_url_credentials_become_basic_auth_and_never_leak(
    loop_fault: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = loop_fault.url.replace("http://", f"http://alice:{SECRET}@")
    loop_fault.actions = [("status", 500, "boom"), ("status", 500, "boom")]
    c = client_for(url, max_retries="1")
    assert SECRET not in repr(c) and SECRET not in repr(c.options)
    async with c:
        with pytest.raises(TritonServiceError) as info:
            await c.infer(X)
    assert loop_fault.infer_requests[0].headers["Authorization"].startswith("Basic ")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    assert SECRET not in caplog.text
    assert "Retrying Triton inference" in caplog.text


async def test_auth_token_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"http://127.0.0.1:{free_port()}"
    async with client_for(url, max_retries="1", auth_token=SECRET) as c:
        with pytest.raises(TritonConnectionError) as info:
            await c.infer(X, split=False)
        assert not await c.server_live()
    assert SECRET not in str(info.value) and SECRET not in caplog.text


async def test_breaker_opens_after_failures_and_fails_fast(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("status", 503, "down")] * 10
    async with client_for(loop_fault.url, circuit_breaker_enabled="true") as c:
        for _ in range(10):
            with pytest.raises(TritonServiceError):
                await c.infer(X)
        assert c.breaker is not None and c.breaker.state is CircuitState.OPEN
        with pytest.raises(TritonCircuitOpenError, match="circuit breaker is OPEN"):
            await c.infer(X)
        assert c.stats.breaker_rejections == 1
    assert len(loop_fault.infer_requests) == 10  # the 11th was never sent


async def test_breaker_half_open_probes_then_closes(loop_fault: FaultServer) -> None:
    clock = [0.0]
    loop_fault.actions = [("status", 503, "down")] * 10
    opts = TritonOptions.from_map(
        {
            "endpoint": loop_fault.url,
            "model-name": "m",
            "circuit-breaker-enabled": "true",
            "circuit-breaker-timeout": "10s",
            "circuit-breaker-half-open-requests": "2",
        }
    )
    async with TritonClient(opts, clock=lambda: clock[0]) as c:
        for _ in range(10):
            with pytest.raises(TritonServiceError):
                await c.infer(X)
        clock[0] += 10
        await c.infer(X)
        assert c.breaker is not None and c.breaker.state is CircuitState.HALF_OPEN
        await c.infer(X)
        assert c.breaker.state is CircuitState.CLOSED


async def test_4xx_does_not_count_against_the_breaker(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("status", 400, "bad input")] * 12
    async with client_for(loop_fault.url, circuit_breaker_enabled="true") as c:
        for _ in range(12):
            with pytest.raises(TritonClientRequestError):
                await c.infer(X)
        assert c.breaker is not None and c.breaker.state is CircuitState.CLOSED


async def test_retried_then_successful_request_is_one_success(loop_fault: FaultServer) -> None:
    loop_fault.actions = [("status", 503, "x"), ("echo",)] * 10  # each logical request: 503 then ok
    async with client_for(loop_fault.url, max_retries="1", circuit_breaker_enabled="true") as c:
        for _ in range(10):
            await c.infer(X)
        assert c.breaker is not None and c.breaker.state is CircuitState.CLOSED
        assert c.breaker.failure_rate == 0.0


async def test_health_check_probes_live_then_ready_on_the_v2_root(loop_fault: FaultServer) -> None:
    loop_fault.live_status = 503
    async with client_for(loop_fault.url) as c:
        assert await c.check_health()
        loop_fault.ready_status = 503
        assert not await c.check_health()
        assert c.healthy is False
    paths = [r.path for r in loop_fault.requests]
    assert paths == ["/v2/health/live", "/v2/health/ready", "/v2/health/live", "/v2/health/ready"]


async def test_health_failures_count_against_the_breaker_but_successes_do_not_close_it(loop_fault: FaultServer) -> None:
    clock = [0.0]
    loop_fault.live_status = loop_fault.ready_status = 503
    opts = TritonOptions.from_map(
        {
            "endpoint": loop_fault.url,
            "model-name": "m",
            "circuit-breaker-enabled": "true",
            "circuit-breaker-timeout": "1s",
        }
    )
    async with TritonClient(opts, clock=lambda: clock[0]) as c:
        for _ in range(10):
            await c.check_health()
        assert c.breaker is not None and c.breaker.state is CircuitState.OPEN
        clock[0] += 1
        loop_fault.live_status = 200
        assert c.breaker.try_acquire()  # -> HALF_OPEN, one probe taken
        for _ in range(5):
            assert await c.check_health()
        assert c.breaker.state is CircuitState.HALF_OPEN


async def test_periodic_health_check_runs_in_the_background(loop_fault: FaultServer) -> None:
    async with client_for(
        loop_fault.url, asyncio.sleep, health_check_enabled="true", health_check_interval="50ms"
    ) as c:
        for _ in range(200):  # readiness poll, bounded
            if len(loop_fault.requests) >= 3:
                break
            await asyncio.sleep(0.01)
        assert c.healthy is True
    assert len([r for r in loop_fault.requests if r.path == "/v2/health/live"]) >= 3


async def test_health_probe_has_its_own_short_timeout(loop_fault: FaultServer) -> None:
    # A server that stalls health probes: the probe must give up after health-check-timeout.
    async with client_for(f"http://127.0.0.1:{free_port()}", health_check_timeout="100ms") as c:
        assert not await c.server_ready()


async def test_client_refuses_use_after_close(loop_fault: FaultServer) -> None:
    c = client_for(loop_fault.url)
    await c.open()
    assert c.pool_open
    await c.close()
    assert not c.pool_open  # the pool is released
    with pytest.raises(RuntimeError, match="closed"):
        await c.open()
    with pytest.raises(RuntimeError, match="closed"):
        await c.infer(X)


# -- the health loop on the injected sleep --------------------------------------------------


class ParkingSleep:
    """Records each delay; after ``steps`` sleeps, signals ``done`` and parks until cancelled."""

    def __init__(self, steps: int) -> None:
        self.delays: list[float] = []
        self.steps = steps
        self.done = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if len(self.delays) >= self.steps:
            self.done.set()
            await asyncio.get_running_loop().create_future()  # until close() cancels the loop


async def test_health_loop_sleeps_through_the_injected_sleep(loop_fault: FaultServer) -> None:
    sleep = ParkingSleep(3)
    # An hour between checks: only the fake sleep lets three checks happen in this test.
    async with client_for(loop_fault.url, sleep, health_check_enabled="true", health_check_interval="3600s") as c:
        await asyncio.wait_for(sleep.done.wait(), 10)
        assert c.healthy is True
    assert sleep.delays == [3600.0] * 3
    assert [r.path for r in loop_fault.requests] == ["/v2/health/live"] * 3


async def test_health_loop_failures_open_the_breaker(loop_fault: FaultServer) -> None:
    loop_fault.live_status = loop_fault.ready_status = 503
    sleep = ParkingSleep(10)
    async with client_for(
        loop_fault.url, sleep, health_check_enabled="true", health_check_interval="7s", circuit_breaker_enabled="true"
    ) as c:
        await asyncio.wait_for(sleep.done.wait(), 10)
        assert c.healthy is False
        assert c.breaker is not None and c.breaker.state is CircuitState.OPEN  # 10 failed checks
        with pytest.raises(TritonCircuitOpenError):
            await c.infer(X)
    assert sleep.delays == [7.0] * 10
    assert not loop_fault.infer_requests


# -- the retry policy, built once -----------------------------------------------------------


async def test_requests_that_succeed_make_no_tenacity_objects(
    loop_fault: FaultServer, tenacity_objects: dict[str, int]
) -> None:
    sleeps = Sleeps()
    async with client_for(loop_fault.url, sleeps, max_retries="3", circuit_breaker_enabled="true") as c:
        made = dict(tenacity_objects)
        assert made == {"retrying": 1, "states": 0}  # the policy's template, built in __init__
        await c.model_metadata()
        await c.model_config()
        for _ in range(20):
            await c.infer(X)
        assert tenacity_objects == made
        loop_fault.actions = [("status", 503, "busy")]
        await c.infer(X)
        assert tenacity_objects["retrying"] == made["retrying"] + 1  # one copy for the retried request
        assert c.stats.retries == 1 and c.stats.requests == 22 and sleeps.delays == [pytest.approx(0.05)]
        assert c.breaker is not None and c.breaker.failure_rate == 0.0  # 21 successes, no failure


async def test_metadata_and_config_gets_are_retried_the_same_way(
    loop_fault: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    loop_fault.get_actions = [("status", 503, "warming up"), ("status", 502, "bad gateway")]
    sleeps = Sleeps()
    async with client_for(loop_fault.url, sleeps, max_retries="2") as c:
        meta = await c.model_metadata()
        assert meta["name"] == "m"
        assert sleeps.delays == [pytest.approx(0.05), pytest.approx(0.1)]
        assert c.stats.retries == 0 and c.stats.requests == 0  # inference counters only
        assert "Retrying Triton model metadata (retry 1 of 2" in caplog.text
        loop_fault.get_actions = [("status", 404, "no config")]
        with pytest.raises(TritonClientRequestError, match="model config failed with HTTP 404: no config"):
            await c.model_config()
    assert len([r for r in loop_fault.requests if r.path.endswith("/config")]) == 1  # a 4xx is not retried


async def test_get_retries_are_exhausted_like_inference(loop_fault: FaultServer) -> None:
    loop_fault.get_actions = [("status", 500, "boom")] * 3
    sleeps = Sleeps()
    async with client_for(loop_fault.url, sleeps, rng=1.0, max_retries="2") as c:
        with pytest.raises(TritonServiceError, match="model config failed with HTTP 500: boom"):
            await c.model_config()
    assert sleeps.delays == [pytest.approx(0.1), pytest.approx(0.2)]
    assert len([r for r in loop_fault.requests if r.path.endswith("/config")]) == 3


# -- latencies through the client ---------------------------------------------------------


async def test_client_latencies_are_summed_and_bounded(loop_fault: FaultServer) -> None:
    ticks = iter(range(10_000))
    loop_fault.actions = [("echo",)] * 11 + [("status", 400, "bad")]
    async with TritonClient(options_for(loop_fault.url), clock=lambda: next(ticks) * 0.25) as c:
        c.stats = ClientStats(recent_latencies_max=8)
        for _ in range(11):
            await c.infer(X)
        with pytest.raises(TritonClientRequestError):
            await c.infer(X)
        stats = c.stats
        # Each request reads the clock twice: every latency is one tick, 0.25 s.
        assert (stats.latency_count, stats.latency_sum_s, stats.latency_max_s) == (12, 3.0, 0.25)
        assert stats.drain_latencies() == [0.25] * 8  # only the 8 most recent were kept
        assert stats.requests == 12 and stats.failures == 1 and stats.rows == 33


# -- the transport: pool, TLS, and the one error mapping ------------------------------------


async def test_pool_is_sized_to_requests_in_flight_plus_two(loop_fault: FaultServer) -> None:
    async with client_for(loop_fault.url, max_concurrent_requests="5") as c:
        session = c._transport.session
        assert session is not None and session.connector is not None
        assert session.connector.limit == 7


#: A self-signed CA certificate (public part only), for the tls-ca-file option.
TEST_CA_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBmjCCAT+gAwIBAgIUWs1w9wldr6FsSjXxPXIUHNPr4cEwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWcHlmbGluay10cml0b24gdGVzdCBDQTAgFw0yNjExMzAyMzMy
NDVaGA8yMTI2MTEwNjIzMzI0NVowITEfMB0GA1UEAwwWcHlmbGluay10cml0b24g
dGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHQQNXLX9w7ZludWqV5a
M19UAdZgj3i1+VRsPEe9sB2uM/V9hUkUhVEshvVldlkEVYPt029QZSffRLXVoujg
oZajUzBRMB0GA1UdDgQWBBSRIRvTCJZIDUNX3DgL8lmKfWapOTAfBgNVHSMEGDAW
gBSRIRvTCJZIDUNX3DgL8lmKfWapOTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0kAMEYCIQDHzDDnoRw4CNjj28jyQmz/Y0O5LZfL0rTVewVBKFml0gIhAIgm
A1S6occeOUF3NDj6GPMVOfbbad0vuCTWSXcjwawo
-----END CERTIFICATE-----
"""


def test_tls_settings_come_from_the_options(tmp_path: Any) -> None:
    assert ssl_context(options_for("https://h")) is True
    assert ssl_context(options_for("https://h", tls_verify="false")) is False
    ca = tmp_path / "ca.pem"
    ca.write_text(TEST_CA_PEM)
    context = ssl_context(options_for("https://h", tls_ca_file=str(ca)))
    assert isinstance(context, ssl.SSLContext) and context.verify_mode is ssl.CERT_REQUIRED
    assert [dict(c["subject"][0])["commonName"] for c in context.get_ca_certs()] == ["pyflink-triton test CA"]
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TritonConfigError, match="tls-ca-file") as info:
        ssl_context(options_for("https://h", tls_ca_file=str(bad)))
    assert info.value.option == "tls-ca-file"


async def test_unloadable_ca_file_fails_open_with_a_config_error(tmp_path: Any) -> None:
    c = client_for("https://127.0.0.1:1", tls_ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(TritonConfigError, match="tls-ca-file"):
        await c.open()
    assert not c.pool_open
    await c.close()


def _transport(url: str = "http://127.0.0.1:1", **options: Any) -> Transport:
    opts = options_for(url, **options)
    return Transport(opts, headers={}, context={"model": "m", "version": "latest", "endpoint": "http://127.0.0.1:1"})


@pytest.mark.parametrize(
    ("backend", "ours", "message"),
    [
        (TimeoutError(), TritonTimeoutError, "inference timed out after 0.2s"),
        # Also a ClientError and an OSError: the timeout row must match first.
        (aiohttp.ServerTimeoutError("read timed out"), TritonTimeoutError, "inference timed out after 0.2s"),
        (
            aiohttp.ServerDisconnectedError(),
            TritonConnectionError,
            "inference failed: ServerDisconnectedError: Server disconnected",
        ),
        (
            aiohttp.ClientPayloadError("truncated body"),
            TritonConnectionError,
            "inference failed: ClientPayloadError: truncated body",
        ),
        (
            aiohttp.ClientConnectionResetError("reset by peer"),
            TritonConnectionError,
            "inference failed: ClientConnectionResetError: reset by peer",
        ),
        (
            ConnectionRefusedError(111, "refused"),
            TritonConnectionError,
            "inference failed: ConnectionRefusedError: [Errno 111] refused",
        ),
    ],
)
def test_backend_errors_map_through_one_table(backend: BaseException, ours: type, message: str) -> None:
    err = _transport()._translate(backend, "inference", 0.2)
    assert type(err) is ours
    assert err.message == message and err.model == "m" and err.endpoint == "http://127.0.0.1:1"
    first = next(cls for kind, cls, _ in ERROR_MAP if isinstance(backend, kind))
    assert first is ours


def test_backend_texts_are_redacted() -> None:
    t = _transport(f"http://alice:{SECRET}pw@127.0.0.1:1", auth_token=SECRET)
    err = t._translate(aiohttp.ClientOSError(f"cannot reach {SECRET}pw with {SECRET}"), "probe", 1.0)
    assert SECRET not in err.message and "<redacted>" in err.message


async def test_transport_errors_are_not_chained_and_pickle(http_client: str) -> None:
    async with client_for(f"http://127.0.0.1:{free_port()}") as c:
        with pytest.raises(TritonConnectionError) as info:
            await c.infer(X, split=False)
    err = info.value
    # The backend's exception is not chained: its text is not redacted and tracebacks get logged.
    assert err.__cause__ is None and err.__suppress_context__
    assert ("ClientConnectorError" if http_client == "aiohttp" else "ConnectionRefusedError") in err.message
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is TritonConnectionError and str(again) == str(err)
