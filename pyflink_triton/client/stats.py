"""``ClientStats``: a client's counters and latencies, in bounded memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from ..errors import TritonError

__all__ = ["RECENT_LATENCIES", "ClientStats"]

#: Latencies kept for :meth:`ClientStats.drain_latencies` between two drains.
RECENT_LATENCIES = 1024

T = TypeVar("T")


@dataclass
class ClientStats:
    """Counters of one client, for metrics. Plain numbers: safe to read at any time.

    ``requests``/``failures``/``retries`` count HTTP inference requests (one per chunk of a
    split batch); ``rows`` counts rows answered successfully. Latencies are summed up by
    ``latency_count``/``latency_sum_s``/``latency_max_s`` (since the client was made), and
    the most recent ``recent_latencies_max`` are kept for :meth:`drain_latencies`: memory
    stays bounded however long nobody drains them.
    """

    requests: int = 0
    rows: int = 0
    failures: int = 0
    retries: int = 0
    breaker_rejections: int = 0
    in_flight_requests: int = 0
    in_flight_rows: int = 0
    latency_count: int = 0
    latency_sum_s: float = 0.0
    latency_max_s: float = 0.0
    recent_latencies_max: int = field(default=RECENT_LATENCIES, repr=False)
    _recent: deque[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.recent_latencies_max <= 0:
            raise ValueError("recent_latencies_max must be > 0")
        self._recent = deque(maxlen=self.recent_latencies_max)

    @property
    def latency_mean_s(self) -> float:
        """Mean request latency since the client was made (0 before any request)."""
        return self.latency_sum_s / self.latency_count if self.latency_count else 0.0

    @property
    def recent_latencies(self) -> int:
        """How many latencies :meth:`drain_latencies` would return now."""
        return len(self._recent)

    def record_latency(self, seconds: float) -> None:
        """Count one request's latency (called on the client's event loop)."""
        self.latency_count += 1
        self.latency_sum_s += seconds
        if seconds > self.latency_max_s:
            self.latency_max_s = seconds
        self._recent.append(seconds)  # the oldest falls out once full

    def drain_latencies(self) -> list[float]:
        """Return the latencies recorded since the last call (at most the most recent
        ``recent_latencies_max``, oldest first), and forget them."""
        recent = self._recent
        # Metrics drain from another thread than the loop that appends: pop exactly what is
        # there now, one atomic popleft at a time, so a concurrent append is kept for the next
        # drain instead of being cleared unseen.
        return [recent.popleft() for _ in range(len(recent))]

    async def counted(self, request: Awaitable[T], rows: int, clock: Callable[[], float]) -> T:
        """Await one HTTP attempt, counted: requests, in flight, rows, failures, latency."""
        self.requests += 1
        self.in_flight_requests += 1
        self.in_flight_rows += rows
        started = clock()
        try:
            result = await request
            self.rows += rows
            return result
        except TritonError:
            self.failures += 1
            raise
        finally:
            self.record_latency(clock() - started)
            self.in_flight_requests -= 1
            self.in_flight_rows -= rows
