"""The UDFs' `triton` metric group: the same names and meanings in both modes, and open/eval/close
outside a job.

PyFlink's metric group is only reachable inside a running job (its values reach Java at bundle
boundaries, and a local mini-cluster exposes no REST endpoint to read them back), so a small
recording group stands in for it here; the function itself runs against the real Triton.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyflink_triton.config import TritonOptions
from pyflink_triton.engine import Column, EngineConfig
from pyflink_triton.flink.metrics import COUNTERS, LATENCY_BUCKET_LABELS, LATENCY_BUCKETS_MS
from pyflink_triton.flink.pandas_udf import TritonPandasFunction
from pyflink_triton.flink.versions import flink_features

FEATURES = np.array([5.1, 3.5, 1.4, 0.2], np.float32)


class Recorder:
    """Records what the function registers: counters, gauges, distributions, by path."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self.counters: dict[str, int] = {}
        self.gauges: dict[str, Callable[[], int]] = {}
        self.distributions: dict[str, list[int]] = {}
        self.children: dict[str, Recorder] = {}

    def add_group(self, name: str, extra: str | None = None) -> Recorder:
        key = name if extra is None else f"{name}.{extra}"  # a key-value group, as Flink names it
        return self.children.setdefault(key, Recorder(f"{self.path}.{key}".lstrip(".")))

    def counter(self, name: str) -> Any:
        # As in PyFlink: a name is one Beam cell, which every function of the group increments.
        self.counters.setdefault(name, 0)
        recorder = self

        class _Counter:
            def inc(self, n: int = 1) -> None:
                recorder.counters[name] += n

        return _Counter()

    def gauge(self, name: str, obj: Callable[[], int]) -> None:
        self.gauges[name] = obj  # as in PyFlink: a second gauge of a name replaces the first

    def distribution(self, name: str) -> Any:
        values = self.distributions.setdefault(name, [])

        class _Distribution:
            def update(self, value: int) -> None:
                values.append(value)

        return _Distribution()


class Context:
    def __init__(self) -> None:
        self.group = Recorder()

    def get_metric_group(self) -> Recorder:
        return self.group


def test_metrics_follow_the_work_done(triton_url: str) -> None:
    opts = TritonOptions.from_map({"endpoint": triton_url, "model-name": "classifier", "batch-size": "2"})
    fn = TritonPandasFunction(EngineConfig.of(opts, [Column("features")]))
    ctx = Context()
    fn.open(ctx)
    try:
        features = pd.Series([np.array([5.1, 3.5, 1.4, 0.2], np.float32)] * 5 + [None], dtype=object)
        out = fn.eval(features)
        assert out.tolist() == [0] * 5 + [None]
        fn.eval(features.iloc[:1])
    finally:
        fn.close()
    g = ctx.group.children["triton"]
    assert g.counters == {
        "requests": 4,
        "rows": 7,
        "batches": 2,
        "failures": 0,
        "retries": 0,
        "fallbacks": 0,
        "failedRows": 0,
        "nullRows": 1,
        "breakerRejections": 0,
        "answers": 0,
        "pieces": 0,
    }
    latencies = g.distributions["requestLatencyMs"]
    assert len(latencies) == 4 and all(v >= 0 for v in latencies)
    # The histogram's buckets are cumulative: each counts the requests of at most `le` ms.
    buckets = {le: g.children[f"le.{le}"].counters["requestLatencyMsBucket"] for le in LATENCY_BUCKET_LABELS}
    assert buckets["Inf"] == 4, buckets
    assert list(buckets.values()) == sorted(buckets.values()), buckets
    # The distribution keeps whole milliseconds (int(ms)); the buckets compare the exact latency,
    # so a request shown as `bound` ms may have taken a little more and sit in the next bucket.
    for le, bound in zip(LATENCY_BUCKET_LABELS, LATENCY_BUCKETS_MS, strict=False):
        below, at_most = sum(v < bound for v in latencies), sum(v <= bound for v in latencies)
        assert below <= buckets[le] <= at_most, (le, buckets, latencies)
    assert g.gauges["circuitBreakerState"]() == 0 and g.gauges["rowsInFlight"]() == 0


def test_open_fails_clearly_for_an_unknown_model(triton_url: str) -> None:
    opts = TritonOptions.from_map({"endpoint": triton_url, "model-name": "nope"})
    fn = TritonPandasFunction(EngineConfig.of(opts))
    with pytest.raises(Exception, match="Triton model 'nope' at .*model metadata failed with HTTP 4"):
        fn.open(Context())
    fn.close()  # safe after a failed open


@pytest.mark.skipif(not flink_features().async_scalar, reason="PyFlink before 2.3 has no async scalar functions")
def test_async_mode_counts_the_same_metrics_through_gauge_reads(triton_url: str) -> None:
    """The async UDF's rows run on an event loop; its counters are reported when the harness
    thread reads the gauges (as PyFlink does at the end of each bundle)."""
    from pyflink_triton.flink.async_udf import TritonAsyncFunction

    opts = TritonOptions.from_map({"endpoint": triton_url, "model-name": "classifier", "batch-size": "2"})
    fn = TritonAsyncFunction(EngineConfig.of(opts, [Column("features")]), max_batch_rows=8, max_wait_ms=50)
    ctx = Context()
    fn.open(ctx)

    async def run() -> list[Any]:
        results = await asyncio.gather(*(fn.eval(v) for v in [FEATURES] * 5 + [None]))
        await fn._aclose()
        return list(results)

    assert asyncio.run(run()) == [0] * 5 + [None]
    g = ctx.group.children["triton"]
    assert set(g.counters) == set(COUNTERS) and all(v == 0 for v in g.counters.values())
    assert g.gauges["rowsInFlight"]() == 0  # a gauge read reports the counters
    assert g.counters == {
        "requests": 3,
        "rows": 6,
        "batches": 1,
        "failures": 0,
        "retries": 0,
        "fallbacks": 0,
        "failedRows": 0,
        "nullRows": 1,
        "breakerRejections": 0,
        "answers": 0,
        "pieces": 0,
    }
    assert len(g.distributions["requestLatencyMs"]) == 3


@pytest.mark.skipif(not flink_features().async_scalar, reason="PyFlink before 2.3 has no async scalar functions")
def test_two_functions_of_one_operator_add_up_in_its_group(triton_url: str) -> None:
    """Two Triton calls in one operator share its metric group, where the gauges registered
    last replace the first's: they must still report and count both functions.

    Flink puts two pandas ML_PREDICT calls of one query into one PythonCalc (seen in EXPLAIN), so
    there the gauges showed the last function only. Flink 2.3 plans each async call in its own
    PythonAsyncCalc; async functions are used here because a gauge read is how they count, so a
    replaced gauge would also lose the first function's counts."""
    from pyflink_triton.flink.async_udf import TritonAsyncFunction

    def function(batch_size: str) -> TritonAsyncFunction:
        opts = TritonOptions.from_map(
            {
                "endpoint": triton_url,
                "model-name": "classifier",
                "batch-size": batch_size,
                "circuit-breaker-enabled": "true",
            }
        )
        return TritonAsyncFunction(EngineConfig.of(opts, [Column("features")]), max_batch_rows=8, max_wait_ms=50)

    first, second = function("2"), function("4")
    ctx = Context()
    first.open(ctx)
    second.open(ctx)

    async def run() -> tuple[list[Any], list[Any]]:
        a = await asyncio.gather(*(first.eval(v) for v in [FEATURES] * 5))
        b = await asyncio.gather(*(second.eval(v) for v in [FEATURES] * 3 + [None]))
        return list(a), list(b)

    async def close() -> None:
        await first._aclose()
        await second._aclose()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(run()) == ([0] * 5, [0] * 3 + [None])
        g = ctx.group.children["triton"]
        assert g.counters["rows"] == 0  # nothing is reported before a gauge read
        assert g.gauges["rowsInFlight"]() == 0
        # first: 5 rows in requests of 2 (3 requests); second: 3 rows in one request of 4
        assert (g.counters["rows"], g.counters["requests"], g.counters["nullRows"]) == (9, 4, 1)
        assert len(g.distributions["requestLatencyMs"]) == 4
        assert g.gauges["circuitBreakerState"]() == 0
        breaker = first.engine.client.breaker if first.engine and first.engine.client else None
        assert breaker is not None
        for _ in range(20):  # the first function's breaker opens; the group shows the most open
            breaker.record_failure()
        assert breaker.state.gauge == 2 and g.gauges["circuitBreakerState"]() == 2
        assert g.counters["rows"] == 9  # a second read counts nothing twice
    finally:
        loop.run_until_complete(close())
        loop.close()
