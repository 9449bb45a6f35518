"""The compatibility matrix: one virtual environment per supported apache-flink minor.

    python tests/matrix.py                 # every minor of MINORS (make test-matrix)
    python tests/matrix.py --minors 1.20   # some of them

For each minor: a cached venv in ``.venv-matrix/<minor>`` holding that apache-flink, then the
wheel built from this checkout installed into it as a user would (``pip install
pyflink_triton-*.whl``), which must leave the installed Flink as it was, then the
compatibility tests (:data:`TESTS`) run there. The outcome of each test and the features
detected are written to ``docs/matrix.json``; ``docs/generate.py`` makes the README's
version x feature table from it. Exit status 1 when any minor failed.

Why the local Triton is installed with ``--no-deps``: nvidia-pytriton requires
tritonclient[grpc] and so protobuf 5, which 1.20's Beam (protobuf < 4.23) refuses; the binary
itself needs none of it. Its Python backend needs numpy < 2, as the ``server`` extra says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATRIX = ROOT / ".venv-matrix"
RESULTS = ROOT / "docs" / "matrix.json"

#: The apache-flink release tested for each minor (the newest patch release of each).
MINORS = {"1.20": "1.20.5", "2.0": "2.0.2", "2.1": "2.1.3", "2.2": "2.2.1", "2.3": "2.3.0"}

#: The compatibility tests: pytest arguments, run in each minor's venv.
TESTS = [
    "tests/test_versions.py",
    "tests/test_model_schema.py",
    "tests/test_client.py",
    "tests/test_udf_flink.py",
    "tests/test_udf_metrics.py",
    "tests/test_arrow_input.py",
    "tests/test_planner_thread.py",
    "tests/test_cli.py::test_main_job_starts_its_own_triton_and_shows_its_progress_at_a_terminal",
    "tests/test_cli.py::test_serve_starts_a_local_triton_until_sigterm",
    "tests/test_cli.py::test_failures_exit_non_zero_with_the_message",
]
#: More tests for some minors: where a patch applies, the test that shows the bug without it.
EXTRA_TESTS = {
    "2.3": ["tests/test_async_udf.py::test_flink_39532_patch_is_in_effect_in_a_separate_worker_and_needed"],
}
SERVER = ["nvidia-pytriton==0.7.0"]
#: What sql/movie_reviews.sql must print: id, movie, predicted, actual.
MOVIE_REVIEWS = [
    ("1", "好电影", "positive", "positive"),
    ("2", "无聊的电影", "negative", "negative"),
    ("3", "一般的电影", "neutral", "neutral"),
]


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout, built as ``python -m build`` builds it."""
    shutil.rmtree(out, ignore_errors=True)
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)], stdout=subprocess.DEVNULL)
    return next(out.glob("pyflink_triton-*.whl"))


def installed(python: Path, name: str) -> str | None:
    """The version of ``name`` in the venv of ``python`` (None: not there, or no such venv)."""
    if not python.exists():
        return None
    found = subprocess.run([str(python), "-m", "pip", "show", name], capture_output=True, text=True)
    for line in found.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def prepare(minor: str, wheel: Path) -> tuple[Path, dict[str, object]]:
    """The minor's venv with its Flink, then the wheel; what the install did to Flink."""
    venv = MATRIX / minor
    python = venv / "bin" / "python"
    flink = MINORS[minor]
    if installed(python, "apache-flink") != flink:
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(python), "-m", "pip", "install", "--quiet", f"apache-flink=={flink}"])
    before = installed(python, "apache-flink")
    run([str(python), "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps", str(wheel)])
    run([str(python), "-m", "pip", "install", "--quiet", f"{wheel}[test]"])
    after = installed(python, "apache-flink")
    run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", *SERVER])
    run([str(python), "-m", "pip", "install", "--quiet", "numpy<2"])
    return python, {"flink_before": before, "flink_after": after, "flink_kept": before == after == flink}


def test_outcomes(junit: Path) -> dict[str, str]:
    """``{test id: passed | failed | skipped}`` from pytest's JUnit XML."""
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/") + ".py"
        outcome = "passed"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        elif case.find("skipped") is not None:
            outcome = "skipped"
        outcomes[f"{path}::{case.get('name')}"] = outcome
    return outcomes


def features(python: Path) -> dict[str, object]:
    code = (
        "import json, dataclasses; from pyflink_triton.flink.versions import flink_features, PATCHED_MINORS, "
        "patch_applies; f = flink_features(); print(json.dumps({**dataclasses.asdict(f), "
        "'patches': {p: patch_applies(p) for p in PATCHED_MINORS}}))"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True, cwd=MATRIX)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def movie_reviews(python: Path) -> bool:
    """The installed wheel's own command (run outside the checkout) runs the main example with
    the right three labels."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_ENDPOINT"}
    done = subprocess.run(
        [str(python.parent / "pyflink-triton"), "run", "movie_reviews"],
        cwd=MATRIX,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    printed = re.findall(r"\+I\[(\d+), ([^,]+), (\w+), (\w+)\]", done.stdout)
    print(done.stdout, flush=True)
    return done.returncode == 0 and printed == MOVIE_REVIEWS


def run_minor(minor: str, wheel: Path) -> dict[str, object]:
    started = time.monotonic()
    python, install = prepare(minor, wheel)
    install["movie_reviews_ok"] = movie_reviews(python)
    junit = MATRIX / f"junit-{minor}.xml"
    tests = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            *TESTS,
            *EXTRA_TESTS.get(minor, []),
        ],
        cwd=ROOT,
    )
    outcomes = test_outcomes(junit) if junit.exists() else {}
    counts = {k: sum(1 for v in outcomes.values() if v == k) for k in ("passed", "failed", "skipped")}
    ok = tests.returncode == 0 and bool(install["flink_kept"]) and bool(install["movie_reviews_ok"])
    print(
        f"== apache-flink {MINORS[minor]}: {counts}, Flink kept by the install: {install['flink_kept']}, "
        f"movie_reviews.sql through the wheel: {install['movie_reviews_ok']}, "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    return {
        "flink": MINORS[minor],
        "ok": ok,
        "seconds": round(time.monotonic() - started),
        **install,
        "features": features(python),
        "counts": counts,
        "tests": outcomes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minors", nargs="+", choices=sorted(MINORS), default=list(MINORS))
    args = parser.parse_args(argv)
    MATRIX.mkdir(exist_ok=True)
    wheel = build_wheel(MATRIX / "dist")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    failed = []
    for minor in args.minors:
        results[minor] = run_minor(minor, wheel)
        if not results[minor]["ok"]:
            failed.append(minor)
        RESULTS.write_text(
            json.dumps(
                dict(sorted(results.items(), key=lambda kv: list(MINORS).index(kv[0]))), indent=1, sort_keys=False
            )
            + "\n"
        )
    print("matrix:", "failed on " + ", ".join(failed) if failed else "every minor passed", flush=True)
    totals = {k: sum(int(results[m]["counts"][k]) for m in args.minors) for k in ("passed", "failed")}
    print(f"matrix: {totals['passed']} passed, {totals['failed']} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
