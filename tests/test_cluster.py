"""``pyflink-triton run --jobmanager``: SQL scripts submitted to a real standalone Flink cluster
(one JobManager, one TaskManager with 2 slots, started from the PyFlink wheel for this module),
their UDFs calling the session's real Triton from the TaskManager's Python workers.

The workers run a Python that cannot import ``pyflink_triton`` except from what the job ships
(``python.files``), as on a real cluster; the ``print`` sink writes to the TaskManager's ``.out``.
"""

from __future__ import annotations

import re
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import free_port
from .flinkcluster import FlinkCluster, HiddenPackagesPython

# Runs a standalone Flink cluster: outside the fast tier (`make check`).
pytestmark = [pytest.mark.flink, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[FlinkCluster]:
    flink = FlinkCluster(slots=2)
    with flink:
        yield flink
    assert flink.leftover_pids() == [], "processes of the cluster outlived stop()"


@pytest.fixture(scope="module")
def worker_python(tmp_path_factory: pytest.TempPathFactory) -> HiddenPackagesPython:
    """The workers' Python: this venv's, with pyflink_triton importable only from python.files."""
    python = HiddenPackagesPython(("pyflink_triton",), tmp_path_factory.mktemp("worker-python"))
    probe = subprocess.run(
        [str(python.executable), "-c", "import pyflink, pyflink_triton"],
        cwd=python.executable.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0 and "No module named 'pyflink_triton'" in probe.stderr, probe.stderr
    return python


def submit(
    script: str | Path,
    cluster: FlinkCluster,
    worker_python: HiddenPackagesPython,
    env: dict[str, str],
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    return cluster.run_cli(script, worker_python, env, timeout=timeout)


def new_jobs(cluster: FlinkCluster, before: set[str]) -> dict[str, str]:
    """Name -> state of the jobs submitted since ``before`` (job ids). A VALUES view is
    materialized by a job of its own (a collect ``SELECT``), besides the ``insert-into_...`` job."""
    return {str(job["name"]): str(job["state"]) for job in cluster.jobs() if job["jid"] not in before}


def insert_job_states(jobs: dict[str, str]) -> list[str]:
    return [state for name, state in jobs.items() if name.startswith("insert-into_")]


def failure_report(cluster: FlinkCluster, result: subprocess.CompletedProcess[str]) -> str:
    return f"stderr:\n{result.stderr[-3000:]}\n\ncluster logs:\n{cluster.log_tail(3000)}"


def test_movie_reviews_on_the_cluster(
    cluster: FlinkCluster, worker_python: HiddenPackagesPython, endpoint: dict[str, str]
) -> None:
    before = {job["jid"] for job in cluster.jobs()}
    printed_before = len(cluster.taskmanager_out())
    imports_before = len(worker_python.imports())
    result = submit("sql/movie_reviews.sql", cluster, worker_python, endpoint)
    assert result.returncode == 0, failure_report(cluster, result)

    # The UDF ran in a Python worker that the TaskManager started (not in a "loopback" worker
    # pool of the client), and that worker found pyflink_triton in the files the job shipped.
    imports = worker_python.imports()[imports_before:]
    assert imports and all(
        origin.startswith(str(cluster.root)) and "python-files" in origin for _, _, origin in imports
    ), imports

    # The print sink ran in the TaskManager: its rows are in the TaskManager's .out, not on our stdout.
    out = cluster.wait_for_output("+I[1, ", "+I[2, ", "+I[3, ", since=printed_before, timeout_s=30)
    printed = re.findall(r"\+I\[(\d+), ([^,]+), (\w+), (\w+)\]", out)
    assert sorted(printed) == [
        ("1", "好电影", "positive", "positive"),
        ("2", "无聊的电影", "negative", "negative"),
        ("3", "一般的电影", "neutral", "neutral"),
    ], out
    assert "+I[" not in result.stdout

    # Progress came from the REST API (a local run reports "rows through Triton" instead).
    # This job is one chained task, for which Flink reports no record counts: the CLI says so.
    assert re.search(
        r"^\[done\]\s+[\d.]+s\s+rows in/out: not reported \(the job ran as one chained task\)$",
        result.stderr,
        re.MULTILINE,
    ), result.stderr
    assert "rows through Triton" not in result.stderr

    jobs = new_jobs(cluster, before)
    assert jobs.get("insert-into_default_catalog.default_database.classified_reviews") == "FINISHED", jobs
    assert set(jobs.values()) == {"FINISHED"}, jobs


def test_progress_counts_come_from_the_rest_api(
    cluster: FlinkCluster, worker_python: HiddenPackagesPython, endpoint: dict[str, str]
) -> None:
    # Source and sink are separate vertices here, so the REST API counts the rows between them
    # (movie_reviews is one chained vertex: nothing crosses the network, both counts stay 0).
    before = {job["jid"] for job in cluster.jobs()}
    result = submit("sql/streaming_datagen.sql", cluster, worker_python, {**endpoint, "ROWS": "20000"})
    assert result.returncode == 0, failure_report(cluster, result)
    done = re.search(
        r"^\[done\].*rows in: ([\d,]+)\s+rows out: ([\d,]+)\s+([\d,]+) rows/s$", result.stderr, re.MULTILINE
    )
    assert done, result.stderr
    assert done.group(1) == done.group(2) == "20,000" and int(done.group(3).replace(",", "")) > 0
    assert insert_job_states(new_jobs(cluster, before)) == ["FINISHED"]


def test_a_failing_job_exits_non_zero_naming_model_and_endpoint(
    cluster: FlinkCluster, worker_python: HiddenPackagesPython, tmp_path: Path
) -> None:
    closed = free_port()  # nothing listens there
    script = tmp_path / "unreachable.sql"
    script.write_text(
        f"""
CREATE TEMPORARY MODEL unreachable INPUT (`input` STRING) OUTPUT (`output` STRING) WITH (
  'provider' = 'triton', 'endpoint' = 'http://127.0.0.1:{closed}/v2/models',
  'model-name' = 'text-classification', 'timeout' = '2000');
CREATE TEMPORARY VIEW reviews(id, review) AS VALUES (1, 'fine'), (2, 'dull');
CREATE TEMPORARY TABLE predictions (id INT, label STRING) WITH ('connector' = 'print');
INSERT INTO predictions
SELECT id, `output` FROM ML_PREDICT(TABLE reviews, MODEL unreachable, DESCRIPTOR(review));
""",
        encoding="utf-8",
    )
    before = {job["jid"] for job in cluster.jobs()}
    result = submit(script, cluster, worker_python, {})
    assert result.returncode == 1, failure_report(cluster, result)
    error = result.stderr[result.stderr.index("\nerror: ") + 1 :] if "\nerror: " in result.stderr else ""
    assert error, result.stderr[-3000:]
    assert f"Triton model 'text-classification' at http://127.0.0.1:{closed}" in error, error[-3000:]
    assert insert_job_states(new_jobs(cluster, before)) == ["FAILED"]


def package_zip(directory: Path) -> Path:
    """This package as ``flink run -pyfs`` ships it: a zip with ``pyflink_triton/`` at its root."""
    archive = directory / "pyflink_triton.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in (ROOT / "pyflink_triton").rglob("*.py"):
            zf.write(path, path.relative_to(ROOT))
    return archive


def test_flink_run_pym_runs_a_script_on_the_cluster(
    cluster: FlinkCluster, worker_python: HiddenPackagesPython, endpoint: dict[str, str], tmp_path: Path
) -> None:
    # As a user submits a Python job: `flink run -pym pyflink_triton.job -pyfs <zip> --script ...`.
    # The client and the workers run a Python that finds pyflink_triton only in the shipped zip.
    before = {job["jid"] for job in cluster.jobs()}
    printed_before = len(cluster.taskmanager_out())
    imports_before = len(worker_python.imports())
    python = str(worker_python.executable)
    result = cluster.flink_run(
        [
            "-pyclientexec",
            python,
            "-pyexec",
            python,
            "-pyfs",
            str(package_zip(tmp_path)),
            "-pym",
            "pyflink_triton.job",
            "--script",
            str(ROOT / "sql" / "movie_reviews.sql"),
        ],
        env=endpoint,
        cwd=tmp_path,
    )
    assert result.returncode == 0, failure_report(cluster, result) + f"\nstdout:\n{result.stdout[-3000:]}"

    # The client process and the workers both imported the package from what -pyfs shipped.
    imports = worker_python.imports()[imports_before:]
    assert len({pid for pid, _, _ in imports}) >= 2 and all(
        origin.endswith("pyflink_triton/__init__.py")
        and "pyflink_triton.zip" not in origin
        and not origin.startswith(str(ROOT))
        for _, _, origin in imports
    ), imports

    out = cluster.wait_for_output("+I[1, ", "+I[2, ", "+I[3, ", since=printed_before, timeout_s=30)
    printed = re.findall(r"\+I\[(\d+), ([^,]+), (\w+), (\w+)\]", out)
    assert sorted(printed) == [
        ("1", "好电影", "positive", "positive"),
        ("2", "无聊的电影", "negative", "negative"),
        ("3", "一般的电影", "neutral", "neutral"),
    ], out
    # The job is named after the script (pipeline.name set by pyflink_triton.job) and finished.
    jobs = new_jobs(cluster, before)
    assert jobs.get("movie_reviews") == "FINISHED", jobs
    assert set(jobs.values()) == {"FINISHED"}, jobs
