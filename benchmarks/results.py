"""What one measured point is, and the few statistics the suite uses (medians, percentiles).

Every contender at every point becomes one :class:`Point`; ``results.json`` is a list of them,
and the report and the plot read nothing else.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# Contender names, shared by the runner, the report, the plot and the smoke test.
PERF_ANALYZER = "perf_analyzer"
OURS = "TritonClient (ours)"
OURS_LEAN = "TritonClient (ours, httptools)"  # option 'http-client' = 'httptools'
TRITONCLIENT_AIO = "tritonclient.http.aio"
JAVA_PATTERN = "Java provider pattern (emulated)"
NO_UDF = "no UDF"
ZERO_UDF = "zero pandas UDF"
ML_PREDICT_DEFAULT = "ML_PREDICT default"
ML_PREDICT = "ML_PREDICT"
TRITON_UDF = "triton_udf"
ML_PREDICT_ASYNC = "ML_PREDICT async"
PER_ROW_UDF = "per-row tritonclient UDF"

CLIENTS = (PERF_ANALYZER, OURS, OURS_LEAN, TRITONCLIENT_AIO)
FLINK_CONTENDERS = (NO_UDF, ZERO_UDF, ML_PREDICT_DEFAULT, ML_PREDICT, TRITON_UDF, ML_PREDICT_ASYNC, PER_ROW_UDF)


@dataclass
class Point:
    """One contender at one setting of one workload, over all its repeats."""

    workload: str
    group: str  # "client", "flink" or "emulation"
    contender: str
    batch: int | None  # rows per request (client), Arrow batch (flink); None: not configured
    concurrency: int | None  # requests (or rows, for the emulation) in flight
    rows: int  # rows per repeat
    wall_s: list[float] = field(default_factory=list)  # per repeat
    fixed_s: list[float] = field(default_factory=list)  # a 1-row job's wall time, per repeat
    rows_per_s: float | None = None  # median; net of the fixed cost when it was measured
    cpu_s_per_1m: dict[str, float] = field(default_factory=dict)  # party -> CPU s per 1M rows
    p50_ms: float | None = None
    p99_ms: float | None = None
    skipped: str | None = None  # why the contender did not run
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Point:
        return cls(**data)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by nearest rank, as load generators report it."""
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def median_cpu(samples: Iterable[dict[str, float]], rows: int) -> dict[str, float]:
    """Per party, the median over repeats of CPU seconds, scaled to 1M rows."""
    samples = list(samples)
    parties = set.intersection(*(set(s) for s in samples)) if samples else set()
    return {p: median([s[p] for s in samples]) / rows * 1e6 for p in sorted(parties)}


def find(points: Iterable[Point], workload: str, contender: str, **where: Any) -> list[Point]:
    """Points of ``contender`` in ``workload`` whose fields equal ``where``."""
    return [
        p
        for p in points
        if p.workload == workload and p.contender == contender and all(getattr(p, k) == v for k, v in where.items())
    ]


def best(points: Iterable[Point]) -> Point | None:
    """The point with the highest rows/s (None when none has a rate)."""
    rated = [p for p in points if p.rows_per_s]
    return max(rated, key=lambda p: p.rows_per_s or 0.0) if rated else None
