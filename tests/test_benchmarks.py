"""The benchmark suite cannot rot: its tiniest run (a few hundred rows, one repeat, the
classifier) against the session's Triton must measure every contender and report every target.

The runner runs in a subprocess: it starts its own JVM, and a process that ran Flink jobs
before (as this one may have) would hand it the wrong loopback settings (see conftest).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyflink_triton.server import TritonServer

from .conftest import clean_env

ROOT = Path(__file__).resolve().parent.parent
CLIENT_CONTENDERS = {"perf_analyzer", "TritonClient (ours)", "TritonClient (ours, httptools)", "tritonclient.http.aio"}
OTHER_CONTENDERS = {
    "Java provider pattern (emulated)",
    "no UDF",
    "zero pandas UDF",
    "ML_PREDICT default",
    "ML_PREDICT",
    "triton_udf",
    "ML_PREDICT async",
    "per-row tritonclient UDF",
}
CLIENT_POINTS = {(rows, conc) for rows in (1, 64, 1024) for conc in (1, 4)}
TARGET_KEYS = {
    "predict_vs_zero",
    "default_vs_best",
    "ours_vs_aio",
    "ours_vs_perf_analyzer",
    "lean_vs_aio",
    "lean_vs_perf_analyzer",
    "async_vs_java",
    "memory_flat",
}


def run_tiny(triton_server: TritonServer, out: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "benchmarks/run.py",
        "--tiny",
        "--url",
        triton_server.url,
        "--triton-pid",
        str(triton_server.pid),
        "--output",
        str(out / "BENCHMARKS.md"),
        "--json",
        str(out / "results.json"),
        "--plot",
        str(out / "rows_per_s.png"),
    ]
    done = subprocess.run(command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads((out / "results.json").read_text())


def test_tiny_run_measures_every_contender_and_reports_every_target(
    triton_server: TritonServer, tmp_path: Path
) -> None:
    results = run_tiny(triton_server, tmp_path)
    points = [p for p in results["points"] if p["workload"] == "classifier"]
    seen = {p["contender"] for p in points}
    assert seen == CLIENT_CONTENDERS | OTHER_CONTENDERS

    for contender in CLIENT_CONTENDERS:
        at = {(p["batch"], p["concurrency"]) for p in points if p["contender"] == contender}
        assert at == CLIENT_POINTS, contender
    for p in points:
        if p["contender"] == "perf_analyzer" and p["skipped"]:
            continue  # allowed, but only with its reason, checked below
        assert p["skipped"] is None, p
        assert p["rows_per_s"] is not None and p["rows_per_s"] > 0, p

    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    skipped = {p["skipped"] for p in points if p["contender"] == "perf_analyzer" and p["skipped"]}
    for reason in skipped:
        assert reason.strip() and f"perf_analyzer skipped: {reason}" in markdown

    assert {t["key"] for t in results["targets"]} == TARGET_KEYS
    lines = markdown.splitlines()
    for target in results["targets"]:
        assert target["status"] in {"met", "missed", "not measured"}, target
        # the ratio line of every target is in the report, with a ratio when one was measured
        assert any(target["workload"] in line and target["needed"] in line for line in lines), target
        if target["key"] != "memory_flat" and not (target["key"].endswith("_vs_perf_analyzer") and skipped):
            assert target["ratio"] is not None and target["ratio"] > 0, target

    assert "## Optimizations" in markdown
    assert markdown.count("<!-- bench:begin -->") == 1 and markdown.count("<!-- bench:end -->") == 1
    assert (tmp_path / "rows_per_s.png").is_file() or "Plot not drawn: matplotlib missing" in markdown
