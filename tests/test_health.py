"""Health checks as the Java provider's ``TritonHealthChecker`` makes them: live, and ready only
after live *answered* non-200 (never after a timeout or a refused connection); every periodic
verdict told to the breaker (``recordHealthProbe``): successes count in CLOSED too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web

from pyflink_triton.client.breaker import CircuitBreaker, CircuitState
from pyflink_triton.client.client import TritonClient
from pyflink_triton.client.health import HealthChecker
from pyflink_triton.config import TritonOptions

from .conftest import free_port
from .faultserver import FaultServer, Recorded

LIVE = "http://triton:8000/v2/health/live"
READY = "http://triton:8000/v2/health/ready"


class Probe:
    """A scripted probe: URL -> ``True`` (200), ``False`` (other status), ``None`` (no answer)."""

    def __init__(self, **answers: bool | None) -> None:
        self.answers = answers
        self.urls: list[str] = []

    async def __call__(self, url: str) -> bool | None:
        self.urls.append(url)
        return self.answers[url.rsplit("/", 1)[-1]]


async def no_sleep(_: float) -> None:
    return None


def checker(probe: Probe, breaker: CircuitBreaker | None = None) -> HealthChecker:
    options = TritonOptions.from_map({"endpoint": "http://triton:8000", "model-name": "m"})
    return HealthChecker(
        probe,
        options.parsed_endpoint,
        "http://triton:8000/v2/models/m",
        breaker=breaker,
        sleep=no_sleep,
        interval_s=30.0,
    )


# -- live, then ready only after an answer ----------------------------------------------------


async def test_live_without_an_answer_is_not_followed_by_ready() -> None:
    probe = Probe(live=None, ready=True)
    health = checker(probe)
    assert await health.check() is False
    assert probe.urls == [LIVE]
    assert health.healthy is False


async def test_live_answered_non_200_falls_back_to_ready() -> None:
    probe = Probe(live=False, ready=True)
    assert await checker(probe).check() is True
    assert probe.urls == [LIVE, READY]


async def test_live_200_is_enough() -> None:
    probe = Probe(live=True, ready=False)
    assert await checker(probe).check() is True
    assert probe.urls == [LIVE]


async def test_ready_without_an_answer_is_unhealthy() -> None:
    assert await checker(Probe(live=False, ready=None)).check() is False


async def test_single_probes_say_true_or_false_never_none() -> None:
    health = checker(Probe(live=None, ready=None))
    assert await health.server_live() is False
    assert await health.server_ready() is False


@dataclass
class HungHealthServer(FaultServer):
    """A fault server whose health endpoints stall (they never answer in time)."""

    health_stall_s: float = 30.0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/v2/health/"):
            self.requests.append(Recorded(request.method, request.path, dict(request.headers), b""))
            await asyncio.sleep(self.health_stall_s)
            return web.Response(status=200)
        return await super()._handle(request)


@pytest.fixture
async def hung() -> AsyncIterator[HungHealthServer]:
    server = await HungHealthServer().start()
    try:
        yield server
    finally:
        await server.stop()


def client(url: str, **options: str) -> TritonClient:
    opts = TritonOptions.from_map(
        {"endpoint": url, "model-name": "m", **{k.replace("_", "-"): v for k, v in options.items()}}
    )
    return TritonClient(opts, sleep=no_sleep)


async def test_a_hung_server_costs_one_health_timeout_not_two(hung: HungHealthServer) -> None:
    async with client(hung.url, health_check_timeout="200ms") as c:
        assert await c.check_health() is False
        assert c.healthy is False
    # One probe (live) timed out; ready was never asked: one health-check-timeout, not two.
    assert [r.path for r in hung.requests] == ["/v2/health/live"]


async def test_a_refused_connection_is_one_failed_check() -> None:
    async with client(f"http://127.0.0.1:{free_port()}", health_check_timeout="200ms") as c:
        assert await c.check_health() is False


# -- what the breaker is told ----------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_healthy_checks_count_as_successes_while_closed() -> None:
    # Java's testRecordHealthProbeInClosedStateFeedsFailureRate: 9 healthy + 1 unhealthy.
    breaker = CircuitBreaker(0.5, 60, 3, clock=Clock())
    probe = Probe(live=True, ready=True)
    health = checker(probe, breaker)
    for _ in range(9):
        await health.check()
    probe.answers = {"live": None, "ready": None}
    await health.check()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_rate == pytest.approx(0.1)


async def test_occasional_failed_checks_do_not_open_a_quiet_breaker() -> None:
    # No inference traffic; one check in three fails. Counting only failures opened it at the
    # tenth failure; with successes counted the rate stays at a third.
    breaker = CircuitBreaker(0.5, 60, 3, clock=Clock())
    probe = Probe(live=True, ready=True)
    health = checker(probe, breaker)
    for i in range(30):
        probe.answers["live"] = None if i % 3 == 2 else True
        await health.check()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failure_rate == pytest.approx(1 / 3)


async def test_healthy_checks_neither_close_half_open_nor_take_its_probes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(0.5, 60, 3, clock=clock)
    for _ in range(10):
        breaker.record_failure()
    clock.now += 60
    assert breaker.try_acquire() and breaker.state is CircuitState.HALF_OPEN
    health = checker(Probe(live=True, ready=True), breaker)
    for _ in range(50):
        assert await health.check()
    assert breaker.state is CircuitState.HALF_OPEN
    assert [breaker.try_acquire() for _ in range(3)] == [True, True, False]


async def test_a_failed_check_reopens_half_open() -> None:
    clock = Clock()
    breaker = CircuitBreaker(0.5, 60, 3, clock=clock)
    for _ in range(10):
        breaker.record_failure()
    clock.now += 60
    assert breaker.try_acquire()
    await checker(Probe(live=None, ready=None), breaker).check()
    assert breaker.state is CircuitState.OPEN
    assert not breaker.try_acquire()


async def test_checks_while_open_change_nothing() -> None:
    clock = Clock()
    breaker = CircuitBreaker(0.5, 60, 3, clock=clock)
    for _ in range(10):
        breaker.record_failure()
    clock.now += 30
    probe = Probe(live=True, ready=True)
    health = checker(probe, breaker)
    for i in range(10):
        probe.answers["live"] = None if i % 2 else True
        await health.check()
    assert breaker.state is CircuitState.OPEN
    assert breaker.seconds_until_probe() == pytest.approx(30)  # the timeout alone decides


async def test_client_health_checks_count_successes_against_the_fault_server() -> None:
    server = await FaultServer().start()
    try:
        async with client(server.url, circuit_breaker_enabled="true") as c:
            assert c.breaker is not None
            for i in range(30):
                server.live_status = server.ready_status = 503 if i % 3 == 2 else 200
                await c.check_health()
            assert c.breaker.state is CircuitState.CLOSED
            assert c.breaker.failure_rate == pytest.approx(1 / 3)
    finally:
        await server.stop()
