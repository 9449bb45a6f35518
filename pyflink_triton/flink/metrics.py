"""The ``triton`` metric group, the same names with the same meanings for both UDF modes.

:data:`METRICS` is the one table of them: the functions register from it, and ``docs/metrics.md``'s
table (with each metric's name under Flink's Prometheus reporter) is generated from it.

Beam records metrics only on the harness thread. The pandas UDF is there for every batch and
reports after each; the async UDF's rows run on an event-loop thread, and the harness thread
reads the gauges at the end of every bundle: reading a gauge reports the counters too, so both
modes count through the same path. The first report increments every counter by 0, so that
counters that stay 0 are reported as 0 instead of being left out.

Latency reaches Prometheus as a histogram of counters: PyFlink's distribution becomes a gauge
whose value is text, which Flink's Prometheus reporter exports as a constant 0, and PyFlink has
no histogram. One counter per upper bound (a key-value group ``le``, which the reporter turns
into the label ``le``) counts the requests that took at most that long, so that
``histogram_quantile`` can compute p50/p99 from it, over subtasks too. The last bound is ``Inf``:
the reporter replaces every character outside ``[a-zA-Z0-9:_]`` in label values (``+Inf`` would
become ``_Inf``), and Prometheus reads ``Inf`` as +Inf.
"""

from __future__ import annotations

import bisect
import logging
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..engine import InferenceEngine

__all__ = [
    "COUNTERS",
    "LATENCY_BUCKETS_MS",
    "LATENCY_BUCKET_LABELS",
    "METRICS",
    "PROMETHEUS_SCOPE",
    "MetricSpec",
    "TritonMetrics",
]

log = logging.getLogger(__name__)

#: Flink's Prometheus reporter names a metric ``flink_`` + the group's logical scope (an operator's
#: is ``taskmanager.job.task.operator``, then our ``triton``) + the metric, joined with ``_``.
PROMETHEUS_SCOPE = "flink_taskmanager_job_task_operator_triton"

#: Upper bounds (ms) of the latency histogram's buckets; the last, ``Inf``, counts every request.
LATENCY_BUCKETS_MS: tuple[int, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)
LATENCY_BUCKET_LABELS: tuple[str, ...] = (*map(str, LATENCY_BUCKETS_MS), "Inf")


@dataclass(frozen=True)
class MetricSpec:
    """One metric of the ``triton`` group."""

    name: str
    kind: str  # counter | gauge | distribution | histogram
    meaning: str
    source: tuple[str, str] | None = None  # a counter's value: ("engine" | "client" | "generation", attribute)
    #: A distribution that gets values from generated answers only: a reporter shows a distribution
    #: once it has a value, so a job that calls models through ``infer`` never shows it.
    generate_only: bool = False

    @property
    def prometheus(self) -> str:
        """The name Flink's Prometheus reporter gives it (a histogram's buckets carry the label ``le``)."""
        if self.kind == "histogram":
            return f"{PROMETHEUS_SCOPE}_le_{self.name}"
        return f"{PROMETHEUS_SCOPE}_{self.name}"


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("rows", "counter", "rows the function received, NULL rows included", ("engine", "rows")),
    MetricSpec("nullRows", "counter", "rows with a NULL argument: not sent, NULL result", ("engine", "null_rows")),
    MetricSpec(
        "batches",
        "counter",
        "batches handed to the engine (Arrow batches; coalesced rows in async mode)",
        ("engine", "batches"),
    ),
    MetricSpec("requests", "counter", "HTTP inference requests sent, retries included", ("client", "requests")),
    MetricSpec("failures", "counter", "HTTP inference requests that failed (each attempt)", ("client", "failures")),
    MetricSpec("retries", "counter", "requests retried", ("client", "retries")),
    MetricSpec(
        "breakerRejections", "counter", "requests the open circuit breaker refused", ("client", "breaker_rejections")
    ),
    MetricSpec("fallbacks", "counter", "rows given the `default-value` after a failure", ("engine", "fallback_rows")),
    MetricSpec(
        "failedRows",
        "counter",
        "rows whose outcome was an error (in `'error-mode' = 'fail'` the job fails with the first)",
        ("engine", "failed_rows"),
    ),
    MetricSpec(
        "answers",
        "counter",
        "generated answers (`inference-api` generate or generate-stream)",
        ("generation", "answers"),
    ),
    MetricSpec(
        "pieces",
        "counter",
        "pieces of those answers: streamed events (one per answer for generate)",
        ("generation", "pieces"),
    ),
    MetricSpec(
        "requestLatencyMs",
        "distribution",
        "one value per request, in milliseconds (REST shows its count, sum, min and max; Prometheus a constant 0)",
    ),
    MetricSpec(
        "requestLatencyMsBucket",
        "histogram",
        "requests that took at most `le` milliseconds (`le` = "
        + ", ".join(LATENCY_BUCKET_LABELS)
        + "): a cumulative histogram for `histogram_quantile`",
    ),
    MetricSpec(
        "timeToFirstTokenMs",
        "distribution",
        "per generated answer: milliseconds from sending to its first piece (shown once there is one)",
        generate_only=True,
    ),
    MetricSpec(
        "piecesPerSecond",
        "distribution",
        "per streamed answer of several pieces: its pieces after the first over the time they took "
        "(shown once there is one)",
        generate_only=True,
    ),
    MetricSpec("rowsInFlight", "gauge", "rows in requests not yet answered (of every Triton call in the operator)"),
    MetricSpec(
        "circuitBreakerState",
        "gauge",
        "0 closed, 1 half-open, 2 open: the most open breaker of the operator's Triton calls (0 without one)",
    ),
)

#: counter name -> where its value comes from: ("engine" | "client" | "generation", attribute)
COUNTERS: dict[str, tuple[str, str]] = {m.name: m.source for m in METRICS if m.source is not None}


#: Every :class:`TritonMetrics` registered on a group. PyFlink gives the functions of one operator
#: (two ``ML_PREDICT`` calls chained together) one metric group: a counter's name is one Beam cell
#: that both increment, but a second gauge of a name replaces the first. So each function's gauges
#: read every function of the group, whichever was registered last.
_GROUP_MEMBERS: weakref.WeakKeyDictionary[Any, list[TritonMetrics]] = weakref.WeakKeyDictionary()


class TritonMetrics:
    """Registers the ``triton`` group on a function context and reports an engine's counts.

    Counters cannot be read back, so the reported totals are kept here and deltas are sent.
    Functions sharing the group add up: counters and ``rowsInFlight`` are their sums,
    ``circuitBreakerState`` the most open of their breakers.
    """

    def __init__(self, group: Any, engine: InferenceEngine) -> None:
        self.engine = engine
        self.counters = {name: group.counter(name) for name in COUNTERS}
        self.latency = group.distribution("requestLatencyMs")
        # Cumulative: bucket i counts the requests of at most LATENCY_BUCKET_LABELS[i] ms.
        self.buckets = [group.add_group("le", le).counter("requestLatencyMsBucket") for le in LATENCY_BUCKET_LABELS]
        self.first_piece = group.distribution("timeToFirstTokenMs")
        self.pieces_per_s = group.distribution("piecesPerSecond")
        self.reported = dict.fromkeys(COUNTERS, 0)
        self.announced = False
        try:
            self.members = _GROUP_MEMBERS.setdefault(group, [])
        except TypeError:  # a group that cannot be weakly referenced: this function alone
            self.members = []
        self.members.append(self)
        group.gauge("rowsInFlight", self._reading(TritonMetrics._rows_in_flight, sum))
        group.gauge("circuitBreakerState", self._reading(TritonMetrics._breaker_state, max))

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
            for counter in [*self.counters.values(), *self.buckets]:
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
                self._record_latency(latency_s * 1000)
        for first_s in generation.drain(generation.first_piece_s):
            self.first_piece.update(int(first_s * 1000))
        for rate in generation.drain(generation.pieces_per_s):
            self.pieces_per_s.update(round(rate))

    def _record_latency(self, ms: float) -> None:
        self.latency.update(int(ms))
        first = bisect.bisect_left(LATENCY_BUCKETS_MS, ms)  # the first bound >= ms
        for bucket in self.buckets[first:]:
            bucket.inc()

    def _reading(
        self, gauge: Callable[[TritonMetrics], int], combine: Callable[[Iterable[int]], int]
    ) -> Callable[[], int]:
        """A gauge over every function of the group; reading it reports their counters (the
        async UDF counts through these reads)."""
        members = self.members

        def read() -> int:
            for member in members:
                member.report()
            return combine(gauge(member) for member in members)

        return read

    def _rows_in_flight(self) -> int:
        client = self.engine.client
        return int(client.stats.in_flight_rows) if client is not None else 0

    def _breaker_state(self) -> int:
        client = self.engine.client
        breaker = client.breaker if client is not None else None
        return breaker.state.gauge if breaker is not None else 0
