"""The ``triton`` metric group, the same names with the same meanings for both UDF modes.

Counters (cumulative, per function instance):

=====================  ===========================================================
``rows``               rows the function received, NULL rows included
``nullRows``           rows with a NULL argument: not sent, NULL result
``batches``            batches handed to the engine (Arrow batches; coalesced rows in async mode)
``requests``           HTTP inference requests sent, retries included
``failures``           HTTP inference requests that failed (each attempt)
``retries``            requests retried
``breakerRejections``  requests the open circuit breaker refused
``fallbacks``          rows given the ``default-value`` after a failure
``failedRows``         rows whose outcome was an error (the job fails on the first)
``answers``            generated answers (``inference-api`` generate or generate-stream)
``pieces``             pieces of those answers: streamed events (one per answer for generate)
=====================  ===========================================================

Distributions ``requestLatencyMs`` (one value per request), ``timeToFirstTokenMs`` (per
generated answer: from sending to its first piece) and ``piecesPerSecond`` (per streamed
answer of several pieces: its pieces after the first over the time they took); gauges
``rowsInFlight`` and ``circuitBreakerState`` (0 closed, 1 half-open, 2 open).

Beam records metrics only on the harness thread. The pandas UDF is there for every batch and
reports after each; the async UDF's rows run on an event-loop thread, and the harness thread
reads the gauges at the end of every bundle: reading a gauge reports the counters too, so both
modes count through the same path. The first report increments every counter by 0, so that
counters that stay 0 are reported as 0 instead of being left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..engine import InferenceEngine

__all__ = ["COUNTERS", "TritonMetrics"]

log = logging.getLogger(__name__)

#: counter name -> where its value comes from: ("engine" | "client" | "generation", attribute)
COUNTERS: dict[str, tuple[str, str]] = {
    "rows": ("engine", "rows"),
    "nullRows": ("engine", "null_rows"),
    "batches": ("engine", "batches"),
    "requests": ("client", "requests"),
    "failures": ("client", "failures"),
    "retries": ("client", "retries"),
    "breakerRejections": ("client", "breaker_rejections"),
    "fallbacks": ("engine", "fallback_rows"),
    "failedRows": ("engine", "failed_rows"),
    "answers": ("generation", "answers"),
    "pieces": ("generation", "pieces"),
}


class TritonMetrics:
    """Registers the ``triton`` group on a function context and reports an engine's counts.

    Counters cannot be read back, so the reported totals are kept here and deltas are sent.
    """

    def __init__(self, group: Any, engine: InferenceEngine) -> None:
        self.engine = engine
        self.counters = {name: group.counter(name) for name in COUNTERS}
        self.latency = group.distribution("requestLatencyMs")
        self.first_piece = group.distribution("timeToFirstTokenMs")
        self.pieces_per_s = group.distribution("piecesPerSecond")
        self.reported = dict.fromkeys(COUNTERS, 0)
        self.announced = False
        group.gauge("rowsInFlight", self._reading(self._rows_in_flight))
        group.gauge("circuitBreakerState", self._reading(self._breaker_state))

    @classmethod
    def register(cls, context: Any, engine: InferenceEngine) -> TritonMetrics | None:
        """Register on a PyFlink ``FunctionContext``; None when metrics are off or fail
        (metrics are best-effort: never fail a job for them)."""
        try:
            return cls(context.get_metric_group().add_group("triton"), engine)
        except Exception:
            log.debug("Triton metrics could not be registered", exc_info=True)
            return None

    def report(self) -> None:
        """Send what was counted since the last report (harness thread only)."""
        engine, client = self.engine, self.engine.client
        if not self.announced:
            # Beam reports a counter once something increments it: without this, a count that
            # stays 0 (failures, fallbacks) would be missing from REST and reporters, not 0.
            for counter in self.counters.values():
                counter.inc(0)
            self.announced = True
        generation = engine.generation_stats
        sources = {
            "engine": engine.stats,
            "client": client.stats if client is not None else None,
            "generation": generation,
        }
        for name, (source, attr) in COUNTERS.items():
            stats = sources[source]
            if stats is None:
                continue
            delta = getattr(stats, attr) - self.reported[name]
            if delta > 0:
                self.counters[name].inc(delta)
                self.reported[name] += delta
        if client is not None:
            for latency_s in client.stats.drain_latencies():
                self.latency.update(int(latency_s * 1000))
        for first_s in generation.drain(generation.first_piece_s):
            self.first_piece.update(int(first_s * 1000))
        for rate in generation.drain(generation.pieces_per_s):
            self.pieces_per_s.update(round(rate))

    def _reading(self, gauge: Callable[[], int]) -> Callable[[], int]:
        def read() -> int:
            self.report()
            return gauge()

        return read

    def _rows_in_flight(self) -> int:
        client = self.engine.client
        return int(client.stats.in_flight_rows) if client is not None else 0

    def _breaker_state(self) -> int:
        client = self.engine.client
        breaker = client.breaker if client is not None else None
        return breaker.state.gauge if breaker is not None else 0
