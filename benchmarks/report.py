"""BENCHMARKS.md: the generated part between the markers, the rest of the file left as it is.

The runner rewrites only what lies between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``,
so sections written by hand (the "Optimizations" list with its before/after lines) survive runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import CLIENTS, FLINK_CONTENDERS, JAVA_PATTERN, PERF_ANALYZER, ZERO_UDF, Point, best, find
from .targets import TARGETS, Verdict

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
OPTIMIZATIONS = """## Optimizations

Each optimization with its before/after line (same machine, same command), newest last:

- _(none yet)_ — before: ..., after: ...
"""


def _rate(p: Point | None) -> str:
    if p is None:
        return "–"
    if p.skipped:
        return "skipped"
    return f"{p.rows_per_s:,.0f}" if p.rows_per_s else "n/a"


def _ms(p: Point | None) -> str:
    if p is None or p.p50_ms is None or p.p99_ms is None:
        return "–"
    return f"{p.p50_ms:.2f} / {p.p99_ms:.2f}"


def _cpu(p: Point | None, *parties: str) -> str:
    if p is None or not p.cpu_s_per_1m:
        return "–"
    return " / ".join(f"{p.cpu_s_per_1m[k]:.2f}" if k in p.cpu_s_per_1m else "–" for k in parties)


def _ratio(a: Point | None, b: Point | None) -> str:
    if a is None or b is None or not a.rows_per_s or not b.rows_per_s:
        return "–"
    return f"{a.rows_per_s / b.rows_per_s:.2f}"


def client_tables(points: Sequence[Point], workload: str) -> list[str]:
    """Throughput and ratios, then latency and CPU, one line per (rows per request, in flight)."""
    keys = sorted(
        {(p.batch or 0, p.concurrency or 0) for p in points if p.workload == workload and p.group == "client"}
    )
    if not keys:
        return []
    rate = [
        "| rows/request | in flight | perf_analyzer rows/s | ours rows/s (aiohttp / httptools) "
        "| tritonclient.http.aio rows/s | ours / aio | ours / perf_analyzer |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    cost = [
        "| rows/request | in flight | p50 / p99 ms: perf_analyzer | ours (aiohttp) | ours (httptools) "
        "| aio | CPU s per 1M rows, client / Triton: ours (aiohttp) | ours (httptools) | aio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for batch, conc in keys:
        pa, mine, lean, aio = (
            next(iter(find(points, workload, c, batch=batch, concurrency=conc)), None) for c in CLIENTS
        )
        rate.append(
            f"| {batch} | {conc} | {_rate(pa)} | {_rate(mine)} / {_rate(lean)} | {_rate(aio)} "
            f"| {_ratio(mine, aio)} / {_ratio(lean, aio)} | {_ratio(mine, pa)} / {_ratio(lean, pa)} |"
        )
        cost.append(
            f"| {batch} | {conc} | {_ms(pa)} | {_ms(mine)} | {_ms(lean)} | {_ms(aio)} "
            f"| {_cpu(mine, 'python', 'triton')} | {_cpu(lean, 'python', 'triton')} "
            f"| {_cpu(aio, 'python', 'triton')} |"
        )
    skipped = {p.skipped for p in points if p.workload == workload and p.contender == PERF_ANALYZER and p.skipped}
    notes = [f"\nperf_analyzer skipped: {s}" for s in sorted(skipped)]
    return ["### Clients alone (no Flink; HTTP, binary tensors)", "", *rate, "", *cost, *notes, ""]


def flink_table(points: Sequence[Point], workload: str) -> list[str]:
    """One line per Flink contender and batch, then the Java-pattern emulation."""
    zero = best(find(points, workload, ZERO_UDF))
    lines = [
        "### Flink jobs (local mini-cluster, parallelism 1, datagen -> blackhole)",
        "",
        "| contender | arrow batch | rows | wall s (median) | fixed s (1-row job) | net rows/s "
        "| / zero UDF best | CPU s per 1M rows: Python / JVM / Triton | note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    ordered = [p for c in (*FLINK_CONTENDERS, JAVA_PATTERN) for p in find(points, workload, c)]
    for p in ordered:
        wall = f"{sorted(p.wall_s)[len(p.wall_s) // 2]:.2f}" if p.wall_s else "–"
        fixed = f"{sorted(p.fixed_s)[len(p.fixed_s) // 2]:.2f}" if p.fixed_s else "–"
        batch = p.batch if p.batch is not None else "default"
        if p.group == "emulation":
            batch, fixed = "1 per request", "–"
        lines.append(
            f"| {p.contender} | {batch} | {p.rows:,} | {wall} | {fixed} | {_rate(p)} "
            f"| {_ratio(p, zero)} | {_cpu(p, 'python', 'jvm', 'triton')} | {p.note} |"
        )
    return [*lines, ""]


def target_table(verdicts: Sequence[Verdict]) -> list[str]:
    lines = ["| target | workload | measured | needed | status | detail |", "|---|---|---:|---:|---|---|"]
    for v in verdicts:
        ratio = f"{v.ratio:.2f}" if v.ratio is not None else "–"
        lines.append(f"| {TARGETS[v.key]} | {v.workload} | {ratio} | {v.needed} | {v.status} | {v.detail} |")
    return lines


def memory_lines(memory: dict[str, Any] | None) -> list[str]:
    if not memory:
        return [
            "Not measured in this run (`--memory` runs ML_PREDICT over 1M and then 5M rows "
            "and samples the Python worker's resident memory).",
            "",
        ]
    lines = [
        "| rows | worker | this process before (MB) | this process peak (MB) "
        "| worker processes peak (MB) | worker peak (MB) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for i, rows in enumerate(memory["rows"]):
        lines.append(
            f"| {rows:,} | {memory['mode'][i]} | {memory['driver_before_mb'][i]:,.0f} "
            f"| {memory['driver_peak_mb'][i]:,.0f} | {memory['workers_peak_mb'][i]:,.0f} "
            f"| {memory['peak_mb'][i]:,.0f} |"
        )
    return [
        f"ML_PREDICT on `{memory['workload']}` at arrow batch {memory['batch']}. The Python worker "
        "is this process in PyFlink's loopback mode, or a process below it in process mode.",
        "",
        *lines,
        "",
    ]


def generated(run: dict[str, Any], points: Sequence[Point], verdicts: Sequence[Verdict], plot: str | None) -> str:
    """The text between the markers."""
    lines = [
        BEGIN,
        "_Written by `benchmarks/run.py` (`make bench`); edit outside the markers only._",
        "",
        f"Command: `{run['command']}`, {run['date']}, scale **{run['scale']}**, "
        f"{run['repeats']} repeat(s) per point (medians), {run['duration_s']:.0f} s in all.",
        "",
    ]
    lines += ["| machine | |", "|---|---|", *(f"| {k} | {v} |" for k, v in run["machine"].items()), ""]
    lines += ["| version | |", "|---|---|", *(f"| {k} | {v} |" for k, v in run["versions"].items()), ""]
    lines += [f"Rows: {run['rows']}", "", "## Targets", "", *target_table(verdicts), ""]
    lines += [f"![rows/s by batch size]({plot})" if plot else f"Plot not drawn: {run.get('plot_skipped')}", ""]
    for workload in run["workloads"]:
        lines += [f"## `{workload}`", "", *client_tables(points, workload), *flink_table(points, workload)]
    lines += ["## Memory", "", *memory_lines(run.get("memory")), END]
    return "\n".join(lines)


def write(path: Path, block: str) -> None:
    """Put ``block`` between the markers of ``path``, keeping everything else."""
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    elif text.startswith("# "):
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{block}\n\n{body.lstrip()}"
    else:
        text = f"# Benchmarks\n\n{block}\n\n{text}"
    if "## Optimizations" not in text:
        text = text.rstrip("\n") + "\n\n" + OPTIMIZATIONS
    path.write_text(text)
