"""A CLOSED / OPEN / HALF_OPEN circuit breaker with the semantics of Flink's Java provider.

- CLOSED: requests pass; outcomes are counted. Once at least ``min_requests`` (10) have been
  counted, a failure rate ``>= failure_threshold`` opens the breaker. When ``window`` (10,000)
  outcomes have been counted, both counts are halved: the rate is kept, old outcomes weigh
  less (Java's ``incrementClosedMetrics``; restarting from zero would hide an ongoing outage
  until 10 new outcomes came in).
- OPEN: requests are refused until ``open_timeout_s`` has passed; the next request then moves
  the breaker to HALF_OPEN and is the first probe.
- HALF_OPEN: at most ``half_open_requests`` probes pass; that many successes close the breaker,
  any failure re-opens it. Further requests are refused.

One *logical* request (all its retries) is one outcome. Health checks report through
:meth:`CircuitBreaker.record_probe`, as Java's ``recordHealthProbe``: in CLOSED a check is an
outcome like a request (its success too, so that the rate is not skewed by counting only
failures); in HALF_OPEN a healthy check is ignored (the probe budget belongs to inference:
health 200s alone never close the breaker) and a failed one re-opens it; in OPEN checks are
ignored (only ``open_timeout_s`` leads to HALF_OPEN).

Not thread-safe on purpose: the client drives it from its one event loop.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from ..errors import TritonConfigError

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(enum.Enum):
    """Breaker states; values are the names Flink logs and our metrics report."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"

    @property
    def gauge(self) -> int:
        """0 closed, 1 half-open, 2 open: a number for metric gauges."""
        return {"CLOSED": 0, "HALF_OPEN": 1, "OPEN": 2}[self.value]


class CircuitBreaker:
    """Failure-rate circuit breaker.

    :param failure_threshold: failure rate in ``(0, 1]`` that opens it.
    :param open_timeout_s: seconds OPEN before the next request probes (HALF_OPEN).
    :param half_open_requests: probes allowed, and successes needed to close, in HALF_OPEN.
    :param min_requests: outcomes needed before the rate is judged.
    :param window: outcomes at which CLOSED counts are halved.
    :param clock: monotonic seconds, injectable for tests.
    :raises TritonConfigError: a threshold outside ``(0, 1]`` or no half-open requests.
    """

    def __init__(
        self,
        failure_threshold: float = 0.5,
        open_timeout_s: float = 60.0,
        half_open_requests: int = 3,
        *,
        min_requests: int = 10,
        window: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 < failure_threshold <= 1.0:
            raise TritonConfigError(
                "Invalid value for option 'circuit-breaker-failure-threshold': "
                f"{failure_threshold!r}. Accepted: a number in (0.0, 1.0].",
                option="circuit-breaker-failure-threshold",
            )
        if half_open_requests <= 0:
            raise TritonConfigError(
                "Invalid value for option 'circuit-breaker-half-open-requests': "
                f"{half_open_requests!r}. Accepted: an integer > 0.",
                option="circuit-breaker-half-open-requests",
            )
        self.failure_threshold = failure_threshold
        self.open_timeout_s = open_timeout_s
        self.half_open_requests = half_open_requests
        self.min_requests = min_requests
        self.window = window
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._since = clock()
        self._total = 0
        self._failed = 0
        self._probes = 0
        self._probe_successes = 0

    @property
    def state(self) -> CircuitState:
        """The current state (reading it never changes it)."""
        return self._state

    @property
    def failure_rate(self) -> float:
        """Failures / outcomes counted in the current CLOSED window."""
        return self._failed / self._total if self._total else 0.0

    def seconds_until_probe(self) -> float:
        """Seconds left OPEN before a probe may pass (0 when not OPEN)."""
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.open_timeout_s - (self._clock() - self._since))

    def try_acquire(self) -> bool:
        """Ask to send one logical request; ``False`` means refuse it (fail fast)."""
        if self._state is CircuitState.CLOSED:
            return True
        if self._state is CircuitState.OPEN:
            if self.seconds_until_probe() > 0:
                return False
            self._enter(CircuitState.HALF_OPEN)
        if self._probes >= self.half_open_requests:
            return False
        self._probes += 1
        return True

    def still_admits(self, admitted_in: CircuitState) -> bool:
        """Whether a request that :meth:`try_acquire` let through in state ``admitted_in`` may
        still be sent, now that it has waited for a slot or a backoff: not once the breaker has
        opened, and in HALF_OPEN only as one of the probes. Without this check a large batch
        queued behind ``max-concurrent-requests`` would be sent whole, retries included, into a
        server the breaker has already given up on."""
        if self._state is CircuitState.OPEN:
            return False
        return self._state is CircuitState.CLOSED or admitted_in is CircuitState.HALF_OPEN

    def record_success(self) -> None:
        """Count a logical request that succeeded."""
        if self._state is CircuitState.CLOSED:
            self._count(failed=False)
        elif self._state is CircuitState.HALF_OPEN:
            self._probe_successes += 1
            if self._probe_successes >= self.half_open_requests:
                self._enter(CircuitState.CLOSED)
        # OPEN: a request that was in flight when the breaker opened; ignored.

    def record_failure(self) -> None:
        """Count a logical request that failed for server-health reasons."""
        if self._state is CircuitState.CLOSED:
            self._count(failed=True)
        elif self._state is CircuitState.HALF_OPEN:
            self._enter(CircuitState.OPEN)

    def record_probe(self, healthy: bool) -> None:
        """Count a periodic health check (Java's ``recordHealthProbe``).

        CLOSED: an outcome, success or failure, like a request. HALF_OPEN: a failure re-opens
        the breaker; a success is ignored (it neither takes nor fills a probe slot). OPEN:
        ignored.
        """
        if self._state is CircuitState.CLOSED:
            self._count(failed=not healthy)
        elif self._state is CircuitState.HALF_OPEN and not healthy:
            self._enter(CircuitState.OPEN)

    def refusal(self) -> str:
        """Why :meth:`try_acquire` refuses requests now, in words for an error message."""
        if self._state is CircuitState.OPEN:
            return (
                "circuit breaker is OPEN: the server is considered unhealthy; next probe in "
                f"{self.seconds_until_probe():.1f}s"
            )
        return (
            f"circuit breaker is {self._state.value} and all {self.half_open_requests} "
            "probe requests are taken; retry later"
        )

    def reset(self) -> None:
        """Force CLOSED with fresh counts."""
        self._enter(CircuitState.CLOSED)

    def _count(self, *, failed: bool) -> None:
        self._total += 1
        self._failed += failed
        if self._total >= self.window:
            # Halve, as Java does, before judging: the rate stays, the counts stay bounded.
            self._total //= 2
            self._failed //= 2
        if self._total >= self.min_requests and self.failure_rate >= self.failure_threshold:
            self._enter(CircuitState.OPEN)

    def _enter(self, state: CircuitState) -> None:
        self._state = state
        self._since = self._clock()
        self._total = self._failed = 0
        self._probes = self._probe_successes = 0

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self._state.value}, failures={self._failed}/{self._total}, "
            f"threshold={self.failure_threshold})"
        )
