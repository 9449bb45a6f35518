"""Backoff arithmetic and the circuit breaker's state machine (pure, injectable clock)."""

from __future__ import annotations

import pytest
from tenacity import RetryCallState

from pyflink_triton.client.breaker import CircuitBreaker, CircuitState
from pyflink_triton.errors import (
    TritonCircuitOpenError, TritonClientRequestError, TritonConnectionError, TritonSchemaError,
    TritonServiceError, TritonTimeoutError,
)
from pyflink_triton.client.retry import backoff_delay, is_retryable, wait_equal_jitter


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


def test_window_restarts_counts() -> None:
    b = CircuitBreaker(0.5, 60, 3, window=20, clock=Clock())
    feed(b, 0, 11)
    feed(b, 9, 0)  # 20 outcomes, 45 %: counts restart
    assert b.state is CircuitState.CLOSED and b.failure_rate == 0.0


def test_gauges_and_validation() -> None:
    assert [s.gauge for s in CircuitState] == [0, 2, 1]
    with pytest.raises(ValueError):
        CircuitBreaker(0.0)
    with pytest.raises(ValueError):
        CircuitBreaker(0.5, 60, 0)
