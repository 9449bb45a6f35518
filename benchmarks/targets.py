"""The issue's targets as ratios measured in the same run: met, missed, or not measured (and why).

These are reported, not asserted: the numbers depend on the machine; the ratios are what the
optimization work aims at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .results import (
    JAVA_PATTERN,
    ML_PREDICT,
    ML_PREDICT_ASYNC,
    ML_PREDICT_DEFAULT,
    OURS,
    OURS_LEAN,
    PERF_ANALYZER,
    TRITONCLIENT_AIO,
    ZERO_UDF,
    Point,
    best,
    find,
)

# Short keys (results.json, the smoke test) -> what the target says.
TARGETS = {
    "predict_vs_zero": "ML_PREDICT at its best batch >= 0.8x the zero pandas UDF at its best batch",
    "default_vs_best": "ML_PREDICT with default settings >= 0.9x ML_PREDICT at its best batch",
    "ours_vs_aio": "our client >= 1.2x tritonclient.http.aio at every point (worst point shown)",
    "ours_vs_perf_analyzer": "our client >= 0.8x perf_analyzer at 1024 rows per request (worst shown)",
    "lean_vs_aio": "our client, 'http-client' = 'httptools', >= 1.2x tritonclient.http.aio at every point",
    "lean_vs_perf_analyzer": "our client, 'http-client' = 'httptools', >= 0.8x perf_analyzer at 1024 rows",
    "async_vs_java": "ML_PREDICT async mode >= 2x the Java provider pattern (emulated)",
    "memory_flat": "Python worker memory flat from 1M to 5M rows (peak RSS ratio <= 1.1)",
}
THRESHOLDS = {
    "predict_vs_zero": 0.8,
    "default_vs_best": 0.9,
    "ours_vs_aio": 1.2,
    "ours_vs_perf_analyzer": 0.8,
    "lean_vs_aio": 1.2,
    "lean_vs_perf_analyzer": 0.8,
    "async_vs_java": 2.0,
}
MEMORY_LIMIT = 1.1


@dataclass
class Verdict:
    """One target on one workload."""

    key: str
    workload: str
    ratio: float | None
    needed: str
    detail: str

    @property
    def status(self) -> str:
        if self.ratio is None:
            return "not measured"
        if self.key == "memory_flat":
            return "met" if self.ratio <= MEMORY_LIMIT else "missed"
        return "met" if self.ratio >= THRESHOLDS[self.key] else "missed"


def _rate(point: Point | None) -> float | None:
    return point.rows_per_s if point is not None else None


def _ratio(key: str, workload: str, top: Point | None, bottom: Point | None, what: str) -> Verdict:
    a, b = _rate(top), _rate(bottom)
    if a is None or b is None:
        why = (
            top.skipped
            if top is not None and top.skipped
            else (bottom.skipped if bottom is not None and bottom.skipped else "a contender has no rate")
        )
        return Verdict(key, workload, None, f">= {THRESHOLDS[key]}", why or "")
    return Verdict(key, workload, a / b, f">= {THRESHOLDS[key]}", what.format(a=a, b=b))


def _worst_client_ratio(
    key: str, points: Sequence[Point], workload: str, other: str, batches: Sequence[int], ours: str = OURS
) -> Verdict:
    worst: Verdict | None = None
    for theirs in (p for p in points if p.workload == workload and p.contender == other):
        if theirs.batch not in batches:
            continue
        mine = find(points, workload, ours, batch=theirs.batch, concurrency=theirs.concurrency)
        verdict = _ratio(
            key,
            workload,
            mine[0] if mine else None,
            theirs,
            f"at {theirs.batch} rows x {theirs.concurrency} in flight: {{a:,.0f}} vs {{b:,.0f}} rows/s",
        )
        if verdict.ratio is None:
            return verdict  # a missing point is reported rather than hidden behind a worst case
        if worst is None or (worst.ratio is not None and verdict.ratio < worst.ratio):
            worst = verdict
    return worst or Verdict(key, workload, None, f">= {THRESHOLDS[key]}", f"{other} not measured")


def verdicts(points: Sequence[Point], workloads: Sequence[str], memory: dict[str, Any] | None) -> list[Verdict]:
    """Every target on every workload (memory: once, on the workload it ran on)."""
    out: list[Verdict] = []
    for w in workloads:
        predict = best(find(points, w, ML_PREDICT))
        zero = best(find(points, w, ZERO_UDF))
        default = next(iter(find(points, w, ML_PREDICT_DEFAULT)), None)
        out.append(
            _ratio(
                "predict_vs_zero",
                w,
                predict,
                zero,
                "{a:,.0f} vs {b:,.0f} rows/s"
                + _batches(predict, zero)
                + _server_ceiling(best(find(points, w, PERF_ANALYZER))),
            )
        )
        out.append(_ratio("default_vs_best", w, default, predict, "{a:,.0f} vs {b:,.0f} rows/s"))
        out.append(_worst_client_ratio("ours_vs_aio", points, w, TRITONCLIENT_AIO, (1, 64, 1024)))
        out.append(_worst_client_ratio("ours_vs_perf_analyzer", points, w, PERF_ANALYZER, (1024,)))
        out.append(_worst_client_ratio("lean_vs_aio", points, w, TRITONCLIENT_AIO, (1, 64, 1024), OURS_LEAN))
        out.append(_worst_client_ratio("lean_vs_perf_analyzer", points, w, PERF_ANALYZER, (1024,), OURS_LEAN))
        out.append(
            _ratio(
                "async_vs_java",
                w,
                next(iter(find(points, w, ML_PREDICT_ASYNC)), None),
                next(iter(find(points, w, JAVA_PATTERN)), None),
                "{a:,.0f} vs {b:,.0f} rows/s",
            )
        )
    out.append(_memory_verdict(memory))
    return out


def _server_ceiling(analyzer: Point | None) -> str:
    """What Triton alone serves at best (perf_analyzer): a bound ML_PREDICT cannot pass."""
    if analyzer is None or not analyzer.rows_per_s:
        return ""
    return (
        f"; Triton alone (perf_analyzer's best, {analyzer.batch} rows x {analyzer.concurrency}): "
        f"{analyzer.rows_per_s:,.0f} rows/s"
    )


def _batches(predict: Point | None, zero: Point | None) -> str:
    if predict is None or zero is None:
        return ""
    return f" (batches {predict.batch} and {zero.batch})"


def _memory_verdict(memory: dict[str, Any] | None) -> Verdict:
    needed = f"<= {MEMORY_LIMIT}"
    if not memory:
        return Verdict("memory_flat", "classifier", None, needed, "run with --memory")
    small, large = memory["peak_mb"]
    rows = " and ".join(f"{r:,}" for r in memory["rows"])
    return Verdict(
        "memory_flat",
        memory["workload"],
        large / small,
        needed,
        f"peak RSS {small:,.0f} MB and {large:,.0f} MB after {rows} rows",
    )
