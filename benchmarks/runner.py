"""The benchmark run: one Triton, every contender on the same models and rows, then the report.

Order: the clients alone (perf_analyzer, ours, tritonclient.http.aio, the Java-pattern
emulation), then the Flink jobs (which start the JVM), then ``--memory``. Results are written
even when a later stage fails, so a crash keeps what was measured before it.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import client_bench, flink_env, plot, report, targets
from .flink_bench import FlinkBench
from .java_pattern import bench_java_pattern
from .machine import machine, versions
from .memory import peak_while
from .perf_analyzer import PerfAnalyzer
from .procstat import CpuParties
from .results import ML_PREDICT, Point, best, find
from .server import ROOT, Triton, triton
from .settings import SCALES, Scale, scale_with
from .workloads import WORKLOADS

_START = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


def log_point(p: Point) -> None:
    where = f"{p.batch}x{p.concurrency}" if p.group == "client" else f"batch {p.batch or 'default'}"
    rate = f"skipped: {p.skipped}" if p.skipped else (f"{p.rows_per_s:,.0f} rows/s" if p.rows_per_s else "n/a")
    log(f"{p.workload:<20} {p.contender:<34} {where:<14} {p.rows:>9,} rows  {rate}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick",
        action="store_const",
        const="quick",
        dest="scale",
        help="development run (about 4 minutes): few rows, 1 repeat, classifier and embedding",
    )
    size.add_argument(
        "--tiny",
        action="store_const",
        const="tiny",
        dest="scale",
        help="smoke run: a few hundred rows, classifier only, gross rates",
    )
    parser.add_argument("--rows", type=int, help="rows per Flink contender, every workload")
    parser.add_argument("--repeats", type=int, help="repeats per point (the median is reported)")
    parser.add_argument("--workloads", help=f"comma-separated subset of {', '.join(WORKLOADS)}")
    parser.add_argument("--skip", default="", help="comma-separated stages to skip: clients, flink")
    parser.add_argument(
        "--memory", action="store_true", help="also run ML_PREDICT over 1M and 5M rows and compare the worker's RSS"
    )
    parser.add_argument("--url", help="use this Triton (http://host:port) instead of starting one")
    parser.add_argument("--triton-pid", type=int, help="pid of the --url server, to count its CPU")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results.json")
    parser.add_argument("--plot", type=Path, default=ROOT / "benchmarks" / "rows_per_s.png")
    parser.set_defaults(scale="full")
    return parser.parse_args(argv)


def run_clients(server: Triton, scale: Scale, workdir: Path, parties: CpuParties) -> list[Point]:
    analyzer = PerfAnalyzer.prepare(workdir)
    if analyzer.skipped:
        log(f"perf_analyzer skipped: {analyzer.skipped}")
    points: list[Point] = []
    for name in scale.workloads:
        workload = WORKLOADS[name]
        for batch, concurrency in scale.client_points:
            for p in client_bench.bench_point(server.url, workload, batch, concurrency, scale, analyzer, parties):
                points.append(p)
                log_point(p)
        points.append(bench_java_pattern(server.url, workload, scale.java_rows, scale.repeats, parties))
        log_point(points[-1])
    return points


def warm_up(bench: FlinkBench) -> None:
    """A small job per environment, of a kind it runs anyway, so no contender pays the first
    job's costs. (ML_PREDICT may configure its environment, so it runs only where it is measured.)"""
    w = bench.workload
    for env in bench.envs.values():
        view = flink_env.source(env, w, 1000)
        sink_in, sink_out = flink_env.sinks(env, w)
        if env.kind == "plain":
            statement = f"INSERT INTO {sink_in} SELECT id, {w.input_column} FROM {view}"
        else:
            model = flink_env.model(env, bench.triton, w)
            extra = ", MAP['async', 'true']" if env.kind == "async" else ""
            statement = (
                f"INSERT INTO {sink_out} SELECT id, {w.output_column} FROM ML_PREDICT("
                f"TABLE {view}, MODEL {model}, DESCRIPTOR({w.input_column}){extra})"
            )
        env.execute(statement)


def run_flink(server: Triton, scale: Scale, envs: dict[str, flink_env.Env]) -> list[Point]:
    parties = CpuParties.find(server.pid)  # after the JVM started
    points: list[Point] = []
    for i, name in enumerate(scale.workloads):
        bench = FlinkBench(server, WORKLOADS[name], scale, envs, parties)
        if i == 0 and scale.subtract_fixed:  # later workloads find the JVM and the harness warm
            log("warming up the Flink environments")
            warm_up(bench)
        points += bench.run_all(log_point, log)
    return points


def run_memory(server: Triton, scale: Scale, envs: dict[str, flink_env.Env], points: list[Point]) -> dict[str, Any]:
    workload = WORKLOADS["classifier"]
    top = best(find(points, workload.name, ML_PREDICT))
    batch = top.batch if top and top.batch else scale.sweep[-1]
    bench = FlinkBench(server, workload, scale, envs, CpuParties.find(server.pid))
    env = envs["sweep"]
    env.set_batch(batch)
    statement = bench.predict_statement(env)
    peaks = []
    for rows in scale.memory_rows:
        log(f"memory: ML_PREDICT over {rows:,} rows at batch {batch}")
        peaks.append(peak_while(functools.partial(env.execute, statement(rows))))
    mb = 2**20
    return {
        "workload": workload.name,
        "batch": batch,
        "rows": list(scale.memory_rows),
        "mode": [p.mode for p in peaks],
        "driver_before_mb": [p.driver_before / mb for p in peaks],
        "driver_peak_mb": [p.driver_peak / mb for p in peaks],
        "workers_peak_mb": [p.workers_peak / mb for p in peaks],
        "peak_mb": [p.worker_peak / mb for p in peaks],
    }


def _workloads(args: argparse.Namespace, scale: Scale) -> Scale:
    chosen = tuple(args.workloads.split(",")) if args.workloads else None
    unknown = [w for w in chosen or () if w not in WORKLOADS]
    if unknown:
        raise SystemExit(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    return scale_with(scale, rows=args.rows, repeats=args.repeats, workloads=chosen)


def _serveable(server: Triton, scale: Scale) -> Scale:
    """Drop workloads whose model the server does not serve (a --url server may lack `embedding`)."""
    ready = tuple(w for w in scale.workloads if server.model_ready(WORKLOADS[w].model))
    for w in scale.workloads:
        if w not in ready:
            log(f"{w}: model '{WORKLOADS[w].model}' is not served at {server.url}: workload skipped")
    return scale_with(scale, workloads=ready)


def measure(args: argparse.Namespace, scale: Scale, server: Triton, run: dict[str, Any], points: list[Point]) -> None:
    """Every stage, appending to ``points`` as it goes (so a failure keeps the earlier ones)."""
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-") as workdir:
        if "clients" not in skip:
            points += run_clients(server, scale, Path(workdir), CpuParties.find(server.pid))
    if "flink" not in skip or args.memory:
        envs = {kind: flink_env.create_env(kind) for kind in flink_env.ENV_KINDS}
        if "flink" not in skip:
            points += run_flink(server, scale, envs)
        if args.memory:
            run["memory"] = run_memory(server, scale, envs, points)


def finish(args: argparse.Namespace, scale: Scale, run: dict[str, Any], points: list[Point]) -> None:
    """results.json, the plot and BENCHMARKS.md from what was measured."""
    run["duration_s"] = time.perf_counter() - _START
    verdicts = targets.verdicts(points, scale.workloads, run.get("memory"))
    plot_path: str | None = None
    try:
        plot.draw(points, scale.workloads, scale.sweep, args.plot)
        plot_path = _relative(args.plot, args.output.parent)
    except ImportError as exc:  # matplotlib comes with the bench extra only
        run["plot_skipped"] = f"matplotlib missing ({exc}); pip install -e '.[bench]'"
    args.json.write_text(
        json.dumps(
            {
                "run": run,
                "points": [p.as_dict() for p in points],
                "targets": [
                    {
                        "key": v.key,
                        "workload": v.workload,
                        "ratio": v.ratio,
                        "needed": v.needed,
                        "status": v.status,
                        "detail": v.detail,
                    }
                    for v in verdicts
                ],
            },
            indent=1,
            ensure_ascii=False,
        )
    )
    report.write(args.output, report.generated(run, points, verdicts, plot_path))
    log(f"wrote {args.output}, {args.json}" + (f", {args.plot}" if plot_path else ""))


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def _rows_text(scale: Scale) -> str:
    def each(rows: dict[str, int]) -> str:
        return ", ".join(f"{w} {rows[w]:,}" for w in scale.workloads)

    clients = each(scale.client_rows)
    return (
        f"Flink inference contenders {each(scale.flink_rows)} (ML_PREDICT async "
        f"{scale.async_rows:,}, per-row UDF {scale.per_row_rows:,}); no UDF {each(scale.ceiling_rows)}; "
        f"zero UDF {each(scale.zero_rows)}; Java-pattern emulation {scale.java_rows:,}; clients "
        f"{clients} rows per point ({scale.client_requests[0]} to {scale.client_requests[1]} "
        f"requests); Arrow batch sweep {', '.join(map(str, scale.sweep))}"
    )


def _workers_import_the_suite() -> None:
    """Put the repository root on PYTHONPATH for Flink's Python workers.

    PyFlink pickles the suite's functions by reference (``benchmarks.flink_udfs``), and the
    workers are processes the JVM starts with this environment: from another working directory
    they would not find the package otherwise.
    """
    root = str(ROOT)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _workers_import_the_suite()
    scale = _workloads(args, SCALES[args.scale])
    points: list[Point] = []
    run: dict[str, Any] = {
        "command": shlex.join(["benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "scale": scale.name,
        "repeats": scale.repeats,
        "machine": machine(),
    }
    with triton(scale.workloads, args.url, args.triton_pid) as server:
        scale = _serveable(server, scale)
        run.update(workloads=list(scale.workloads), versions=versions(server.version), rows=_rows_text(scale))
        log(f"Triton {server.version} at {server.url}; scale {scale.name}; workloads {', '.join(scale.workloads)}")
        try:
            measure(args, scale, server, run, points)
        finally:
            finish(args, scale, run, points)
    return 0
