"""Backoff arithmetic, the retry policy, the circuit breaker's state machine and the bounded
stats (pure: injectable clock, sleep and jitter; no network)."""

from __future__ import annotations

import asyncio
import logging
import tracemalloc

import pytest
from tenacity import RetryCallState

from pyflink_triton.client import ClientStats
from pyflink_triton.client.breaker import CircuitBreaker, CircuitState
from pyflink_triton.client.retry import RetryPolicy, backoff_delay, is_retryable, wait_equal_jitter
from pyflink_triton.client.stats import RECENT_LATENCIES
from pyflink_triton.errors import (
    TritonCircuitOpenError,
    TritonClientRequestError,
    TritonConfigError,
    TritonConnectionError,
    TritonSchemaError,
    TritonServiceError,
    TritonTimeoutError,
)


def test_backoff_doubles_from_the_initial_delay() -> None:
    assert [backoff_delay(n, 0.1, 30.0) for n in range(5)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])


def test_backoff_is_capped_and_never_overflows() -> None:
    assert backoff_delay(20, 0.1, 30.0) == 30.0
    assert backoff_delay(1000, 0.1, 30.0) == 30.0
    assert backoff_delay(63, 0.1, 30.0) == 30.0
    assert backoff_delay(3, 1.0, 5.0) == 5.0


def _state(attempt: int) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return state


@pytest.mark.parametrize("attempt", [1, 2, 3, 8, 1000])
def test_equal_jitter_stays_in_half_to_full(attempt: int) -> None:
    d = backoff_delay(attempt - 1, 0.1, 30.0)
    assert wait_equal_jitter(0.1, 30.0, rng=lambda: 0.0)(_state(attempt)) == pytest.approx(d / 2)
    assert wait_equal_jitter(0.1, 30.0, rng=lambda: 0.999999)(_state(attempt)) == pytest.approx(d, rel=1e-5)
    w = wait_equal_jitter(0.1, 30.0)
    for _ in range(200):
        assert d / 2 <= w(_state(attempt)) <= d


def test_retry_predicate() -> None:
    assert is_retryable(TritonServiceError("x", status=503))
    assert is_retryable(TritonConnectionError("x"))
    assert is_retryable(TritonTimeoutError("x"))
    assert not is_retryable(TritonClientRequestError("x", status=400))
    assert not is_retryable(TritonSchemaError("x"))
    assert not is_retryable(TritonCircuitOpenError("x"))
    assert not is_retryable(ValueError("x"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def feed(b: CircuitBreaker, failures: int, successes: int) -> None:
    for _ in range(failures):
        assert b.try_acquire()
        b.record_failure()
    for _ in range(successes):
        assert b.try_acquire()
        b.record_success()


def test_six_failures_of_ten_open_it() -> None:
    b = CircuitBreaker(0.5, 60, 3, clock=Clock())
    feed(b, 6, 4)
    assert b.state is CircuitState.OPEN
    assert not b.try_acquire()


def test_four_failures_of_ten_do_not() -> None:
    b = CircuitBreaker(0.5, 60, 3, clock=Clock())
    feed(b, 4, 6)
    assert b.state is CircuitState.CLOSED


def test_five_of_five_do_not_before_ten_requests() -> None:
    b = CircuitBreaker(0.5, 60, 3, clock=Clock())
    feed(b, 5, 0)
    assert b.state is CircuitState.CLOSED
    assert b.failure_rate == 1.0


def test_threshold_is_inclusive() -> None:
    b = CircuitBreaker(0.5, 60, 3, clock=Clock())
    feed(b, 0, 5)
    feed(b, 5, 0)
    assert b.state is CircuitState.OPEN


def open_breaker(clock: Clock, half_open: int = 3) -> CircuitBreaker:
    b = CircuitBreaker(0.5, 60, half_open, clock=clock)
    feed(b, 10, 0)
    assert b.state is CircuitState.OPEN
    return b


def test_half_open_lets_exactly_n_probes_through() -> None:
    clock = Clock()
    b = open_breaker(clock)
    clock.now += 59.9
    assert not b.try_acquire()
    assert b.seconds_until_probe() == pytest.approx(0.1)
    clock.now += 0.1
    assert [b.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert b.state is CircuitState.HALF_OPEN


def test_n_successes_close_it() -> None:
    clock = Clock()
    b = open_breaker(clock)
    clock.now += 60
    for _ in range(3):
        assert b.try_acquire()
    b.record_success()
    b.record_success()
    assert b.state is CircuitState.HALF_OPEN
    b.record_success()
    assert b.state is CircuitState.CLOSED
    assert b.failure_rate == 0.0 and b.try_acquire()


def test_a_failure_in_half_open_reopens_it() -> None:
    clock = Clock()
    b = open_breaker(clock)
    clock.now += 60
    assert b.try_acquire()
    b.record_success()
    assert b.try_acquire()
    b.record_failure()
    assert b.state is CircuitState.OPEN
    assert not b.try_acquire()
    clock.now += 60
    assert b.try_acquire() and b.state is CircuitState.HALF_OPEN


def test_late_success_while_open_is_ignored() -> None:
    clock = Clock()
    b = open_breaker(clock)
    b.record_success()
    assert b.state is CircuitState.OPEN


def test_window_halves_counts_and_keeps_the_rate() -> None:
    # Java's incrementClosedMetrics: at the cap both counts are halved, not zeroed.
    b = CircuitBreaker(0.5, 60, 3, window=20, clock=Clock())
    feed(b, 0, 11)
    feed(b, 9, 0)  # 20 outcomes, 45 %: halved to 4 of 10
    assert b.state is CircuitState.CLOSED and b.failure_rate == pytest.approx(0.4)
    feed(b, 1, 0)  # 5 of 11
    assert b.state is CircuitState.CLOSED
    feed(b, 1, 0)  # 6 of 12: an ongoing outage still opens it at once
    assert b.state is CircuitState.OPEN


def test_decay_at_the_cap_keeps_a_high_rate() -> None:
    # Java's testClosedMetricsDecayKeepsFailureRateNonZeroAtBoundary.
    b = CircuitBreaker(1.0, 60, 3, clock=Clock())
    feed(b, 0, 1)
    feed(b, 9_999, 0)
    assert b.state is CircuitState.CLOSED
    assert b.failure_rate > 0.95


def test_decay_keeps_a_steady_rate_over_many_windows() -> None:
    # Java's testClosedMetricsDecayKeepsCountersBounded: 60 % failures, threshold 0.99.
    b = CircuitBreaker(0.99, 60, 3, clock=Clock())
    for i in range(50_000):
        b.record_failure() if i % 5 < 3 else b.record_success()
    assert b.state is CircuitState.CLOSED
    assert 0.55 <= b.failure_rate <= 0.65


# -- health probes (Java's recordHealthProbe) ------------------------------------------------


def test_probes_count_both_ways_while_closed() -> None:
    b = CircuitBreaker(0.5, 60, 3, clock=Clock())
    for _ in range(9):
        b.record_probe(True)
    b.record_probe(False)
    assert b.state is CircuitState.CLOSED and b.failure_rate == pytest.approx(0.1)
    for _ in range(10):
        b.record_probe(False)  # 11 of 20
    assert b.state is CircuitState.OPEN


def test_healthy_probes_are_ignored_in_half_open_and_failed_ones_reopen() -> None:
    clock = Clock()
    b = open_breaker(clock)
    clock.now += 60
    assert b.try_acquire() and b.state is CircuitState.HALF_OPEN
    for _ in range(50):
        b.record_probe(True)
    assert b.state is CircuitState.HALF_OPEN
    assert [b.try_acquire() for _ in range(3)] == [True, True, False]  # no slot was taken
    b.record_probe(False)
    assert b.state is CircuitState.OPEN


def test_probes_are_ignored_while_open() -> None:
    clock = Clock()
    b = open_breaker(clock)
    clock.now += 59
    for _ in range(10):
        b.record_probe(True)
        b.record_probe(False)
    assert b.state is CircuitState.OPEN
    assert b.seconds_until_probe() == pytest.approx(1)


def test_gauges_and_validation() -> None:
    assert [s.gauge for s in CircuitState] == [0, 2, 1]
    with pytest.raises(
        TritonConfigError, match=r"'circuit-breaker-failure-threshold': 0\.0\. Accepted: a number in \(0\.0, 1\.0\]"
    ) as info:
        CircuitBreaker(0.0)
    assert info.value.option == "circuit-breaker-failure-threshold"
    assert isinstance(info.value, ValueError)  # callers that caught ValueError still do
    with pytest.raises(TritonConfigError, match=r"'circuit-breaker-failure-threshold': 1\.5") as info:
        CircuitBreaker(1.5)
    with pytest.raises(
        TritonConfigError, match=r"'circuit-breaker-half-open-requests': 0\. Accepted: an integer > 0"
    ) as info:
        CircuitBreaker(0.5, 60, 0)
    assert info.value.option == "circuit-breaker-half-open-requests"
    CircuitBreaker(1.0, 60, 1)  # the bounds themselves are accepted


def test_refusal_says_why() -> None:
    clock = Clock()
    b = open_breaker(clock, half_open=2)
    clock.now += 59.5
    assert b.refusal() == "circuit breaker is OPEN: the server is considered unhealthy; next probe in 0.5s"
    clock.now += 0.5
    assert b.try_acquire() and b.try_acquire() and not b.try_acquire()
    assert b.refusal() == "circuit breaker is HALF_OPEN and all 2 probe requests are taken; retry later"


# -- the retry policy ---------------------------------------------------------------------


class Script:
    """An attempt that raises the scripted errors in turn, then returns ``"ok"``."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)  # let concurrent calls interleave


def policy(max_retries: int, sleeps: Sleeps, rng: float = 0.0) -> RetryPolicy:
    return RetryPolicy(max_retries, 0.1, 30.0, rng=lambda: rng, sleep=sleeps)


def e503(n: int = 0) -> TritonServiceError:
    return TritonServiceError(f"HTTP 503 #{n}", status=503)


async def test_happy_path_makes_no_tenacity_objects(tenacity_objects: dict[str, int]) -> None:
    p = policy(3, Sleeps())
    made = dict(tenacity_objects)  # the template, built once
    assert made["retrying"] == 1
    for _ in range(100):
        assert await p.call(Script()) == "ok"
    assert tenacity_objects == made
    await p.call(Script(e503()))  # a retryable failure enters tenacity's loop, on a copy
    assert tenacity_objects["retrying"] == made["retrying"] + 1 and tenacity_objects["states"] > made["states"]


async def test_non_retryable_errors_never_enter_tenacity(tenacity_objects: dict[str, int]) -> None:
    sleeps = Sleeps()
    p = policy(3, sleeps)
    made = dict(tenacity_objects)
    for error in (TritonClientRequestError("bad", status=400), TritonSchemaError("shape"), ValueError("x")):
        attempt = Script(error)
        with pytest.raises(type(error)) as info:
            await p.call(attempt)
        assert info.value is error and attempt.calls == 1
    assert tenacity_objects == made and sleeps.delays == []


async def test_retries_back_off_with_equal_jitter_and_report_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    sleeps, counted = Sleeps(), []
    attempt = Script(e503(1), e503(2))
    result = await policy(3, sleeps).call(attempt, what="model config", on_retry=lambda: counted.append(1))
    assert result == "ok" and attempt.calls == 3
    assert sleeps.delays == [pytest.approx(0.05), pytest.approx(0.1)]  # rng 0: d/2 of 0.1, 0.2
    assert len(counted) == 2
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "Retrying Triton model config (retry 1 of 3, in 0.050s) after: HTTP 503 #1",
        "Retrying Triton model config (retry 2 of 3, in 0.100s) after: HTTP 503 #2",
    ]


async def test_exhausted_retries_raise_the_last_error_itself() -> None:
    sleeps = Sleeps()
    errors = [e503(i) for i in range(3)]
    attempt = Script(*errors)
    with pytest.raises(TritonServiceError) as info:
        await policy(2, sleeps, rng=1.0).call(attempt)
    assert info.value is errors[2]  # not a tenacity.RetryError
    assert attempt.calls == 3  # stop_after_attempt(max_retries + 1)
    assert sleeps.delays == [pytest.approx(0.1), pytest.approx(0.2)]


async def test_a_4xx_after_a_503_stops_the_retries() -> None:
    sleeps = Sleeps()
    bad = TritonClientRequestError("bad", status=400)
    attempt = Script(TritonConnectionError("reset"), bad)
    with pytest.raises(TritonClientRequestError) as info:
        await policy(5, sleeps).call(attempt)
    assert info.value is bad and attempt.calls == 2 and len(sleeps.delays) == 1


async def test_no_retries_means_one_attempt(tenacity_objects: dict[str, int]) -> None:
    sleeps = Sleeps()
    p = policy(0, sleeps)
    made = dict(tenacity_objects)
    attempt = Script(TritonTimeoutError("slow"))
    with pytest.raises(TritonTimeoutError):
        await p.call(attempt)
    assert attempt.calls == 1 and sleeps.delays == [] and tenacity_objects == made


async def test_concurrent_retried_calls_keep_their_own_count() -> None:
    # One policy, many calls retrying at once: each must be stopped by its own attempt count.
    sleeps = Sleeps()
    p = policy(2, sleeps)
    failing = [Script(*(e503(i) for i in range(5))) for _ in range(4)]
    healing = [Script(e503(), e503()) for _ in range(4)]
    results = await asyncio.gather(*(p.call(a) for a in failing + healing), return_exceptions=True)
    assert all(isinstance(r, TritonServiceError) for r in results[:4])
    assert results[4:] == ["ok"] * 4
    assert [a.calls for a in failing + healing] == [3] * 8
    assert len(sleeps.delays) == 16


# -- bounded stats ------------------------------------------------------------------------


def test_ten_thousand_latencies_keep_the_reservoir_bounded() -> None:
    stats = ClientStats()
    n = 12_345
    for i in range(n):
        stats.record_latency(i / 1000)
        assert stats.recent_latencies <= RECENT_LATENCIES
    assert stats.recent_latencies == RECENT_LATENCIES == 1024
    assert stats.latency_count == n
    assert stats.latency_sum_s == pytest.approx(sum(i / 1000 for i in range(n)))
    assert stats.latency_max_s == (n - 1) / 1000
    assert stats.latency_mean_s == pytest.approx((n - 1) / 2000)
    drained = stats.drain_latencies()
    assert drained == [i / 1000 for i in range(n - RECENT_LATENCIES, n)]  # the most recent, in order
    assert stats.drain_latencies() == [] and stats.recent_latencies == 0
    assert stats.latency_count == n  # the summary survives a drain
    stats.record_latency(0.5)
    assert stats.drain_latencies() == [0.5] and stats.latency_max_s == (n - 1) / 1000


def test_undrained_latencies_do_not_grow_memory() -> None:
    stats = ClientStats()
    for i in range(5_000):
        stats.record_latency(i * 1e-6)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(100_000):
            stats.record_latency(1.0 + i * 1e-6)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16_384, grown  # an unbounded list would hold ~3 MB more by now
    assert stats.latency_count == 105_000


def test_reservoir_size_is_configurable_and_checked() -> None:
    stats = ClientStats(recent_latencies_max=3)
    for v in (1.0, 2.0, 3.0, 4.0):
        stats.record_latency(v)
    assert stats.drain_latencies() == [2.0, 3.0, 4.0]
    assert (stats.latency_count, stats.latency_sum_s, stats.latency_max_s) == (4, 10.0, 4.0)
    with pytest.raises(ValueError):
        ClientStats(recent_latencies_max=0)


def test_stats_repr_stays_short() -> None:
    stats = ClientStats()
    for _ in range(2000):
        stats.record_latency(0.001)
    assert len(repr(stats)) < 400


def test_a_request_admitted_before_the_breaker_opened_is_no_longer_admitted() -> None:
    clock = Clock()
    b = CircuitBreaker(0.5, 60, 2, clock=clock)
    assert b.try_acquire() and b.still_admits(CircuitState.CLOSED)
    feed(b, 10, 0)  # opened while that request waited for a slot
    assert not b.still_admits(CircuitState.CLOSED)
    clock.now += 60
    assert b.try_acquire() and b.state is CircuitState.HALF_OPEN
    assert b.still_admits(CircuitState.HALF_OPEN)  # a probe goes on
    assert not b.still_admits(CircuitState.CLOSED)  # a request from before does not
    b.record_success()
    b.record_success()
    assert b.state is CircuitState.CLOSED and b.still_admits(CircuitState.HALF_OPEN)
