"""Delivery guarantees on a real standalone cluster: an unbounded ``ML_PREDICT`` job, submitted
with ``pyflink-triton run --jobmanager ... --detach``, that loses and duplicates nothing when its
TaskManager is killed or when Triton is killed and restarted mid-stream; and the ``triton``
metric group read back from the JobManager's REST API.

The job (:data:`JOB_SQL`): a filesystem source watching a folder of CSV files
(``source.monitor-interval``), ``ML_PREDICT`` on the ``classifier`` model, a filesystem sink
whose part files are committed at checkpoints (exactly-once), checkpoints every second, a
fixed-delay restart strategy. The test writes input files while the job runs (each written
under a hidden name and renamed, so the source never reads half a file), and reads only the
committed part files (the sink's in-progress files are hidden: ``.part-...inprogress...``).
Every id written must be committed exactly once, with the class computed here
(``expected_class``). One cluster serves the module; every job is cancelled by its test.

Kill moments are chosen by polling (the first committed rows, the stand-in's connections), never
by sleeping. See docs/guarantees.md for the counts measured here.
"""

from __future__ import annotations

import csv
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyflink_triton.server.launcher import TritonServer

from .conftest import classifier_triton, clean_env, poll
from .flinkcluster import FlinkCluster, HiddenPackagesPython
from .test_fault_matrix import expected_class, features

# Runs a standalone Flink cluster: outside the fast tier (`make check`).
pytestmark = [pytest.mark.flink, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ROWS_PER_FILE = 40

JOB_SQL = """
CREATE TEMPORARY TABLE flowers (id BIGINT, f0 FLOAT, f1 FLOAT, f2 FLOAT, f3 FLOAT) WITH (
  'connector' = 'filesystem', 'path' = '{input}', 'format' = 'csv', 'source.monitor-interval' = '300ms');
CREATE TEMPORARY VIEW measured AS SELECT id, ARRAY[f0, f1, f2, f3] AS features FROM flowers;
CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT) WITH (
  'provider' = 'triton', 'endpoint' = '${{TRITON_ENDPOINT}}', 'model-name' = 'classifier',
  'timeout' = '5s', 'max-retries' = '60', 'retry-initial-backoff' = '100ms', 'retry-max-backoff' = '1s');
CREATE TEMPORARY TABLE predictions (id BIGINT, class_id BIGINT) WITH (
  'connector' = 'filesystem', 'path' = '{output}', 'format' = 'csv',
  'sink.rolling-policy.rollover-interval' = '1s', 'sink.rolling-policy.check-interval' = '1s');
INSERT INTO predictions
SELECT id, class_id FROM ML_PREDICT(TABLE measured, MODEL iris, DESCRIPTOR(features){config});
"""

#: What a job needs for exactly-once results (docs/guarantees.md): checkpoints, somewhere to keep
#: them, and a restart strategy that outlasts a lost TaskManager.
JOB_SETTINGS = (
    "execution.checkpointing.interval=1s",
    "execution.checkpointing.mode=EXACTLY_ONCE",
    "restart-strategy.type=fixed-delay",
    "restart-strategy.fixed-delay.attempts=30",
    "restart-strategy.fixed-delay.delay=1s",
)

METRICS = (
    "rows",
    "nullRows",
    "batches",
    "requests",
    "failures",
    "retries",
    "breakerRejections",
    "fallbacks",
    "failedRows",
    "requestLatencyMs",
    "rowsInFlight",
    "circuitBreakerState",
)


# -- the cluster, the workers' Python, a Triton of our own ------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[FlinkCluster]:
    # A dead TaskManager is noticed within seconds (its heartbeat RPCs are refused), and REST
    # metrics are fetched every second (default 10 s).
    flink = FlinkCluster(
        slots=2,
        extra_config={
            "heartbeat.interval": "1000",
            "heartbeat.timeout": "15000",
            "metrics.fetcher.update-interval": "1000",
        },
    )
    with flink:
        yield flink
    assert flink.leftover_pids() == [], "processes of the cluster outlived stop()"


@pytest.fixture(scope="module")
def worker_python(tmp_path_factory: pytest.TempPathFactory) -> HiddenPackagesPython:
    """The workers' Python: this venv's, with pyflink_triton importable only from python.files."""
    return HiddenPackagesPython(("pyflink_triton",), tmp_path_factory.mktemp("worker-python"))


@pytest.fixture(scope="module")
def own_triton() -> Iterator[TritonServer]:
    """A Triton serving only 'classifier' on a fixed port, so that a restart keeps the URL."""
    with classifier_triton() as server:
        yield server


# -- helpers ----------------------------------------------------------------------------------


class Stream:
    """The job's folders: input files written while it runs, committed output read back."""

    def __init__(self, root: Path) -> None:
        self.input, self.output = root / "in", root / "out"
        self.input.mkdir()
        self.output.mkdir()
        self.written: list[int] = []

    def write(self, files: int = 1) -> None:
        """Write ``files`` more input files of ROWS_PER_FILE new ids each (atomically: a rename)."""
        for _ in range(files):
            first = len(self.written) + 1
            ids = list(range(first, first + ROWS_PER_FILE))
            hidden, final = self.input / f".ids-{first}.tmp", self.input / f"ids-{first:06d}.csv"
            with hidden.open("w", newline="") as f:
                csv.writer(f).writerows([i, *features(i)] for i in ids)
            os.rename(hidden, final)
            self.written += ids

    def committed(self) -> list[tuple[int, int]]:
        """(id, class) of every row in a committed part file (hidden in-progress files skipped)."""
        rows = []
        for path in sorted(self.output.rglob("*")):
            if path.is_file() and not path.name.startswith((".", "_")):
                with path.open(newline="") as f:
                    rows += [(int(r[0]), int(r[1])) for r in csv.reader(f) if r]
        return rows

    def counts(self) -> dict[str, int]:
        """Input ids, output rows, duplicates, missing and wrong classes, at the committed output."""
        rows = self.committed()
        ids = Counter(i for i, _ in rows)
        return {
            "input_ids": len(self.written),
            "output_rows": len(rows),
            "duplicates": sum(n - 1 for n in ids.values()),
            "missing": len(set(self.written) - set(ids)),
            "unexpected": len(set(ids) - set(self.written)),
            "wrong": sum(1 for i, c in rows if c != expected_class(i)),
        }


def submit_detached(
    cluster: FlinkCluster,
    worker_python: HiddenPackagesPython,
    stream: Stream,
    triton_url: str,
    tmp_path: Path,
    config: str = "",
) -> str:
    """Submit the job with the CLI's --detach; returns its JobID once the job is RUNNING."""
    script = tmp_path / "stream.sql"
    script.write_text(JOB_SQL.format(input=stream.input.as_uri(), output=stream.output.as_uri(), config=config))
    settings = [*JOB_SETTINGS, f"execution.checkpointing.dir={(tmp_path / 'checkpoints').as_uri()}"]
    env = {"TRITON_ENDPOINT": triton_url + "/v2/models"}
    result = cluster.run_cli(script, worker_python, env, "--detach", *[arg for s in settings for arg in ("--set", s)])
    found = re.search(r"^Job has been submitted with JobID ([0-9a-f]{32})$", result.stdout, re.MULTILINE)
    assert result.returncode == 0 and found, f"{result.stdout}\n{result.stderr[-3000:]}\n{cluster.log_tail(3000)}"
    job_id = found.group(1)
    # The CLI returned while the job runs on: an unbounded job, not waited for.
    poll(lambda: cluster.rest(f"/jobs/{job_id}")["state"], lambda s: s == "RUNNING", 60, "job RUNNING")
    return job_id


def checkpoints(cluster: FlinkCluster, job_id: str) -> dict[str, int]:
    return dict(cluster.rest(f"/jobs/{job_id}/checkpoints")["counts"])


def settle(cluster: FlinkCluster, job_id: str, stream: Stream, timeout_s: float = 150) -> dict[str, int]:
    """Wait until every id written is committed, then two more checkpoints (anything replayed
    late would be committed by then); returns the output's counts."""
    poll(stream.counts, lambda c: c["missing"] == 0, timeout_s, "every id committed", lambda: cluster.log_tail(3000))
    completed = checkpoints(cluster, job_id)["completed"]
    poll(lambda: checkpoints(cluster, job_id)["completed"], lambda n: n >= completed + 2, 60, "two more checkpoints")
    return stream.counts()


def triton_metric_ids(cluster: FlinkCluster, job_id: str) -> dict[str, list[str]]:
    """Vertex id -> the REST ids of its ``triton`` metrics (``<subtask>.<operator>.triton.<name>``)."""
    found = {}
    for vertex in cluster.rest(f"/jobs/{job_id}")["vertices"]:
        ids = [
            m["id"] for m in cluster.rest(f"/jobs/{job_id}/vertices/{vertex['id']}/metrics") if ".triton." in m["id"]
        ]
        if ids:
            found[vertex["id"]] = ids
    return found


def triton_metrics(cluster: FlinkCluster, job_id: str) -> dict[str, str]:
    """The ``triton`` group's metrics of the job (metric name -> value as REST gives it), from
    the vertex that runs the UDF; empty until the JobManager has fetched them."""
    found: dict[str, str] = {}
    for vertex_id, ids in triton_metric_ids(cluster, job_id).items():
        for metric in cluster.rest(f"/jobs/{job_id}/vertices/{vertex_id}/metrics?get={','.join(ids)}"):
            found[metric["id"].rsplit(".triton.", 1)[1]] = metric["value"]
    return found


def assert_exactly_once(counts: dict[str, int]) -> None:
    assert counts["duplicates"] == 0 and counts["missing"] == 0 and counts["unexpected"] == 0, counts
    assert counts["wrong"] == 0 and counts["output_rows"] == counts["input_ids"], counts


class StandIn:
    """Listens on a port (Triton's, while Triton is down) and resets every connection at once,
    counting them: proof that the job tried, and retried, while Triton was away."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.connections = 0
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            # RST, not FIN: no TIME_WAIT left on the port that Triton binds next.
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()
            self.connections += 1

    def close(self) -> None:
        self.closing.set()
        self.thread.join(5)
        self.sock.close()


# -- the CLI's --detach -----------------------------------------------------------------------


def test_detach_needs_a_jobmanager_and_a_triton_that_outlives_the_cli(tmp_path: Path) -> None:
    script = tmp_path / "job.sql"
    script.write_text(
        "CREATE TEMPORARY MODEL m INPUT (x STRING) OUTPUT (y STRING) WITH "
        "('provider' = 'triton', 'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'm');"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pyflink_triton.cli", "run", str(script), "--detach", *args],
            cwd=ROOT,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    local = cli()
    assert local.returncode == 2 and "--detach needs --jobmanager" in local.stderr, local.stderr
    no_endpoint = cli("--jobmanager", "127.0.0.1:1")
    assert no_endpoint.returncode == 1, no_endpoint.stderr
    assert (
        "error: TRITON_ENDPOINT is not set, and a Triton started here would stop when the command returns (--detach)"
        in no_endpoint.stderr
    ), no_endpoint.stderr


# -- 1. the TaskManager killed mid-stream -------------------------------------------------------


def test_a_killed_taskmanager_loses_and_duplicates_no_row(
    cluster: FlinkCluster, worker_python: HiddenPackagesPython, triton_url: str, tmp_path: Path
) -> None:
    stream = Stream(tmp_path)
    stream.write(3)
    job_id = submit_detached(cluster, worker_python, stream, triton_url, tmp_path)
    try:
        poll(
            lambda: len(stream.committed()),
            lambda n: n > 0,
            90,
            "the first committed rows",
            lambda: cluster.log_tail(3000),
        )
        stream.write(2)  # rows on their way (read, in the UDF or in an uncommitted part file) at the kill
        committed_at_kill = len(stream.committed())
        killed = cluster.kill_taskmanager()
        stream.write(2)  # written while no TaskManager runs
        cluster.start_taskmanager()
        # The job restarts from its last checkpoint on the new TaskManager.
        poll(
            lambda: checkpoints(cluster, job_id)["restored"],
            lambda n: n >= 1,
            120,
            "the job restored from a checkpoint",
            lambda: cluster.log_tail(3000),
        )
        stream.write(2)
        after_restore = 2 * ROWS_PER_FILE
        counts = settle(cluster, job_id, stream)
        exceptions = cluster.rest(f"/jobs/{job_id}/exceptions")["exceptionHistory"]["entries"]
        state = cluster.rest(f"/jobs/{job_id}")["state"]
        # The new attempt's functions count from 0: the rows replayed since the checkpoint and the new ones.
        metrics = poll(
            lambda: triton_metrics(cluster, job_id),
            lambda m: int(m.get("rows", 0)) >= after_restore,
            60,
            "the restarted job's triton metrics",
        )
    finally:
        cluster.cancel_job(job_id)
    print(
        f"\n[taskmanager killed] {counts} committed at kill: {committed_at_kill} "
        f"restored: {checkpoints(cluster, job_id)['restored']}\nmetrics: {metrics}"
    )
    assert committed_at_kill < counts["input_ids"], "the job was done before the kill: nothing was tested"
    assert_exactly_once(counts)
    assert exceptions, "no failure in the job's exception history: was the TaskManager's loss noticed?"
    assert killed not in cluster.taskmanager_pids() and state == "RUNNING"
    assert after_restore <= int(metrics["rows"]) <= counts["input_ids"], metrics
    assert metrics["failures"] == metrics["retries"] == metrics["fallbacks"] == metrics["failedRows"] == "0", metrics
    assert metrics["circuitBreakerState"] == "0", metrics


# -- 2. Triton killed and restarted mid-stream; the triton metrics from REST ----------------------


@pytest.mark.parametrize("mode", ["pandas", "async"])
def test_triton_killed_and_restarted_loses_no_row_and_the_metrics_count_it(
    mode: str, cluster: FlinkCluster, worker_python: HiddenPackagesPython, own_triton: TritonServer, tmp_path: Path
) -> None:
    stream = Stream(tmp_path)
    stream.write(2)
    config = ", MAP['async', 'true']" if mode == "async" else ""
    job_id = submit_detached(cluster, worker_python, stream, own_triton.url, tmp_path, config)
    try:
        poll(
            lambda: len(stream.committed()),
            lambda n: n > 0,
            90,
            "the first committed rows",
            lambda: cluster.log_tail(3000),
        )
        port = int(own_triton.url.rsplit(":", 1)[1])
        pid = own_triton.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        own_triton.stop()  # reaps it
        stand_in = StandIn(port)
        try:
            stream.write(2)
            poll(lambda: stand_in.connections, lambda n: n >= 2, 60, "the job's requests while Triton is down")
        finally:
            stand_in.close()
        own_triton.start()
        stream.write(2)
        counts = settle(cluster, job_id, stream)
        metrics = poll(
            lambda: triton_metrics(cluster, job_id),
            lambda m: m.get("rows") == str(len(stream.written)),
            60,
            "the triton metrics counting every row",
        )
        ids = [i for found in triton_metric_ids(cluster, job_id).values() for i in found]
    finally:
        cluster.cancel_job(job_id)
    print(
        f"\n[triton killed, {mode}] {counts} stand-in connections: {stand_in.connections}\nmetrics: {metrics}\n"
        f"REST ids: {sorted(ids)}"
    )
    assert_exactly_once(counts)
    assert set(METRICS) <= set(metrics), sorted(metrics)
    number = {k: int(float(v)) for k, v in metrics.items() if re.fullmatch(r"-?[\d.]+", v)}
    assert number["rows"] == len(stream.written) and number["nullRows"] == 0
    # The outage was seen and retried: every failed attempt was retried, no row failed or defaulted.
    assert number["failures"] >= 2 and number["retries"] == number["failures"], metrics
    assert number["fallbacks"] == number["failedRows"] == number["breakerRejections"] == 0, metrics
    assert number["requests"] - number["failures"] >= number["batches"] >= 1, metrics
    assert number["circuitBreakerState"] == 0 and number["rowsInFlight"] == 0, metrics
    # A distribution reaches REST as the text of Beam's DistributionResult: one value per request.
    latency = re.fullmatch(
        r"DistributionResult\{sum=(\d+), count=(\d+), min=(\d+), max=(\d+)\}", metrics["requestLatencyMs"]
    )
    assert latency, metrics["requestLatencyMs"]
    total, count, low, high = map(int, latency.groups())
    assert count == number["requests"] and low <= high <= total, metrics["requestLatencyMs"]
