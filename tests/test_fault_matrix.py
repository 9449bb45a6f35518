"""Fault matrix: faults injected while Flink jobs run, in the pandas and the async UDF mode.

Every job runs on a module-scoped TableEnvironment per mode (parallelism 1, loopback: the
UDF runs in this process), reads ids 1..n from a rate-limited datagen table into a collect
sink, and is bounded by a pytest-side guard (``run_job``: a job not done 60 s after it started
is cancelled and fails its test). At the sink every id must come once, in source order (both
modes keep it), and every value must be right: the classifier's class computed here with
``iris_class``, the fault server's echo ``[id]``, or the ``default-value`` where a row failed
(with its error in the ``error`` column where the test uses ``error_mode="column"``).
Kill and freeze faults hit a Triton started by this module (``classifier`` only, fixed port);
the others come from ``tests/faultserver.py``. Note that datagen's ``rows-per-second`` emits
in bursts about a second apart, which is why the jobs are several bursts long.

Observed on the 2-core test machine over three runs (pandas/async; seconds; counts that depend on
where the bursts fall vary run to run).
"Time to fail" is from the fault to the job's failure at the sink.

==== ============================== ========================== ========= ======== ================== ====== =======
case fault during the job           options                    rows      dup/miss defaulted          fail   wall
                                                               in->out   /wrong                      after
==== ============================== ========================== ========= ======== ================== ====== =======
1a   SIGKILL after 80 rows, restart max-retries 40, backoff    800->800  0/0/0    0 (~200 retries)   -      7.2/6.8
     on the same port (down 1.9 s)  100-500ms, timeout 5s
1b   SIGKILL, no restart            max-retries 0              800->160  0/-/0    -                  0.9/0.9 3.0/2.9
1c   SIGKILL, restart               max-retries 0, default -1  1600->1600 0/0/0   160-320, one band  -      ~11
2a   SIGSTOP 2.5 s, SIGCONT         timeout 400ms, retries 40  750->750  0/0/0    0 (16 retries)     -      7.4/6.9
2b   SIGSTOP until the job fails    timeout 400ms, retries 0   750->150  0/-/0    -                  5.0/1.3 7.1/3.3
2c   SIGSTOP 2.5 s, SIGCONT         timeout 400ms, retries 0,  750->750  0/0/0    64/64              -      6.9/6.8
                                    default -1, error column
3    10 x HTTP 503, then echo       breaker 0.5/1s/2 probes,   1000->1000 0/0/0   503: 39-40,        -      5.8/5.8
                                    retries 0, default [-1],                      refused: 250-492
                                    error column
4    14 malformed answers (below),  retries 0, timeout 2s,     400->400  0/0/0    4 rows per fault   at once 4.8/4.6
     one per request                max-response-size 1mb,                        (56/56)            (stall
                                    default [-1], error column                                       2 s)
4f   wrong datatype; header length  retries 0, no default      400->0    0/-/0    -                  whole  1.7-2.1
     +7 (at the 6th request)                                                                         job
==== ============================== ========================== ========= ======== ================== ====== =======

"-" under missing: the job failed, as it should; the rows that did arrive before were all right.

Messages (every one names the model and the endpoint: ``Triton model 'classifier' at http://127.0.0.1:PORT``):

- 1b: ``TritonConnectionError: ...: inference failed: ClientConnectorError: Cannot connect to host 127.0.0.1:PORT``.
- 2b: ``TritonTimeoutError: ...: inference timed out after 0.4s``. The pandas mode takes 5 s, not 0.4: its batch
  (a 150-row burst) is 38 requests of ``batch-size`` 4 and ``max-concurrent-requests`` 4, and the first error is
  raised once every request of the batch has ended: about 10 waves of 0.4 s. The async mode's batches are 4 rows.
- 2c: the frozen rows' error column: ``TritonTimeoutError: ...: inference timed out after 0.4s``.
- 3: ``TritonServiceError: ...: inference failed with HTTP 503: overloaded`` for exactly the rows the server
  answered 503, then ``TritonCircuitOpenError: ...: circuit breaker is OPEN ...`` (or ``... HALF_OPEN and all 2
  probe requests are taken``) for rows never sent. The breaker went OPEN -> HALF_OPEN -> CLOSED; the
  ``breakerRejections`` metric reported 64-124 refused requests (= the client's count); the last >= 100 rows
  all succeeded. In the pandas mode a whole Arrow batch asks the breaker at once, so at HALF_OPEN 2 requests
  probe and the rest of that batch is refused, although the probes succeed milliseconds later.
- 4 (error column; no row ever got a wrong value), fault -> error:

  ======================================  =====================  =========================================================
  bad JSON (``{"outputs": [``)            TritonProtocolError    response header is not valid JSON
  header length +7 (binary in the JSON)   TritonProtocolError    response header is not valid JSON ('utf-8' codec ...)
  header length -3 (JSON cut)             TritonProtocolError    response header is not valid JSON (Expecting ',' ...)
  header length past the body             TritonProtocolError    header length N outside a body of M bytes
  missing output (renamed OUT_y)          TritonSchemaError      requested output(s) 'OUT_x' missing from the response
  wrong row count (0 rows back)           TritonSchemaError      output 'OUT_x' has shape [0, 1] for a batch of 4 rows
  wrong datatype (INT32 bytes for FP32)   TritonSchemaError      output 'OUT_x' came back as INT32, but the model's
                                                                 metadata declares FP32
  corrupt gzip                            TritonProtocolError    cannot decompress gzip response: ... invalid block type
  reset mid-body                          TritonConnectionError  ClientPayloadError: Response payload is not completed
  stall mid-body                          TritonTimeoutError     inference timed out after 2s
  oversized body (2 MiB, Content-Length)  TritonProtocolError    exceeds the limit of 1mb ... (Content-Length 2097152
                                                                 announced; not read)
  oversized announcement (1 GiB)          TritonProtocolError    ... (Content-Length 1073741824 announced; not read)
  endless chunked body                    TritonProtocolError    ... (more arrived; reading stopped)
  gzip bomb (8 MiB of zeros)              TritonProtocolError    ... (its gzip body inflates to more; decompression stopped)
  ======================================  =====================  =========================================================

- 4f: the job fails with the same texts (the async mode's text is the error's repr, quotes escaped).

Two PyFlink 2.3 traps met here (not this package's): ``collect()`` cannot read a nested ROW with a NULL field
(``pickle.loads(b'')``: ``EOFError: Ran out of input``), so the error-column results are selected as
``r.`result`, r.`error```; and collect reads FLOAT values with ``ast.literal_eval`` on its thread, which on
CPython 3.11 once raced pytest's own ``ast`` use (INTERNALERROR "AST constructor recursion depth mismatch"),
so FLOAT results are cast to DOUBLE before the sink.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.expressions import col
from pyflink.table.udf import AsyncScalarFunction, udf

from pyflink_triton.client.breaker import CircuitBreaker
from pyflink_triton.engine.engine import InferenceEngine
from pyflink_triton.flink.async_udf import async_triton_udf, configure_async
from pyflink_triton.flink.metrics import TritonMetrics
from pyflink_triton.flink.pandas_udf import configure_inference, triton_udf
from pyflink_triton.server.launcher import TritonServer

from .conftest import classifier_triton, iris_class
from .faultserver import FaultServer, Recorded

pytestmark = [
    # Starts a JVM (PyFlink's TableEnvironment): outside the fast tier (`make check`).
    pytest.mark.flink,
    # Beam's data-plane reader thread sometimes dies with "Multiplexer hanging up" when a job ends.
    pytest.mark.filterwarnings(
        "ignore:Exception in thread read_grpc_client_inputs:pytest.PytestUnhandledThreadExceptionWarning"
    ),
]

MODES = ["pandas", "async"]
JOB_LIMIT_S = 60.0  # the pytest-side guard: a job still running after this is cancelled, the test fails
DEFAULT_CLASS = -1  # never a real class id

# Iris-like features from the id, exact in FLOAT (multiples of 1/8); a row that got another
# row's result shows (the classes vary with the id).
FEATURES_SQL = (
    "ARRAY[CAST(4 + MOD(id, 32) * 0.125 AS FLOAT), CAST(2 + MOD(id, 13) * 0.125 AS FLOAT), "
    "CAST(1 + MOD(id, 47) * 0.125 AS FLOAT), CAST(MOD(id, 21) * 0.125 AS FLOAT)]"
)


def features(i: int) -> list[float]:
    return [4 + (i % 32) / 8, 2 + (i % 13) / 8, 1 + (i % 47) / 8, (i % 21) / 8]


def expected_class(i: int) -> int:
    return iris_class(features(i))


# -- what each job did, for the table (FAULT_MATRIX_REPORT=path writes it as JSON) ------------

OBSERVED: list[dict[str, Any]] = []


@pytest.fixture(scope="module", autouse=True)
def report() -> Iterator[None]:
    yield
    path = os.environ.get("FAULT_MATRIX_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(OBSERVED, f, indent=1)


def observe(case: str, mode: str, job: Job, n: int, **extra: Any) -> dict[str, Any]:
    ids = [r[0] for r in job.rows]
    entry = {
        "case": case,
        "mode": mode,
        "rows_in": n,
        "rows_out": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "missing": len(set(range(1, n + 1)) - set(ids)),
        "wall_s": round(job.wall_s, 2),
        "first_row_s": round(job.arrivals[0] - job.started, 2) if job.arrivals else None,
        "max_gap_s": round(max(np.diff(job.arrivals), default=0.0), 2),
        "error": None if job.error is None else _short(job.error),
        **extra,
    }
    OBSERVED.append(entry)
    return entry


def _short(error: BaseException) -> str:
    text = str(error)
    for marker in ("pyflink_triton.errors.", "TritonError", "Triton model"):
        at = text.find(marker)
        if at >= 0:
            return text[at : at + 300].splitlines()[0]
    return text[:300]


# -- Flink environments, one per mode, shared by the module ---------------------------------


@pytest.fixture(scope="module")
def envs() -> dict[str, TableEnvironment]:
    return {}


def make_env(mode: str) -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("parallelism.default", "1")
    if mode == "pandas":
        configure_inference(env, batch_size=256, max_latency_ms=50)
    else:
        configure_async(env, max_concurrent_operations=256, bundle_size=256)
        config.set("python.fn-execution.bundle.time", "50")
    # The first job of an environment starts slowly (seconds) and its rows bunch up: run one
    # now, so that the timing of the faults below does not depend on which test comes first.
    identity = (
        udf(lambda x: x, result_type=DataTypes.BIGINT(), func_type="pandas")
        if mode == "pandas"
        else udf(_AsyncIdentity(), result_type=DataTypes.BIGINT())
    )
    with env.from_elements([(1,)], ["id"]).select(identity(col("id"))).execute().collect() as results:
        assert [tuple(r) for r in results] == [(1,)]
    return env


class _AsyncIdentity(AsyncScalarFunction):
    async def eval(self, x: Any) -> Any:
        return x


@pytest.fixture
def t_env(mode: str, envs: dict[str, TableEnvironment]) -> TableEnvironment:
    if mode not in envs:
        envs[mode] = make_env(mode)
    return envs[mode]


_NAMES = iter(range(1_000_000))


def source(t_env: TableEnvironment, n: int, rate: int) -> str:
    """A datagen table of ids 1..n at ``rate`` rows/s; returns its name."""
    name = f"src_{next(_NAMES)}"
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE {name} (id BIGINT) WITH (
          'connector' = 'datagen', 'number-of-rows' = '{n}', 'rows-per-second' = '{rate}',
          'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{n}')""")
    return name


def function(
    t_env: TableEnvironment,
    mode: str,
    options: dict[str, Any],
    result_type: str,
    *,
    error_mode: str = "fail",
    batch_rows: int = 4,
) -> str:
    """Register a Triton function of ``mode`` (pandas: requests of ``batch-size`` rows;
    async: coalesced batches of ``batch_rows``); returns its name."""
    opts = {k.replace("_", "-"): str(v) for k, v in options.items()}
    if mode == "pandas":
        f = triton_udf({"batch-size": str(batch_rows), **opts}, result_type=result_type, error_mode=error_mode)
    else:
        f = async_triton_udf(
            opts, result_type=result_type, error_mode=error_mode, max_batch_rows=batch_rows, max_wait_ms=5
        )
    name = f"f_{next(_NAMES)}"
    t_env.create_temporary_function(name, f)
    return name


# -- running a job with a fault script beside it, bounded in time ---------------------------


@dataclass
class Job:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # when each row reached the sink
    error: BaseException | None = None
    started: float = 0.0
    ended: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def wall_s(self) -> float:
        return self.ended - self.started

    def wait_rows(self, k: int, timeout_s: float = 30.0) -> None:
        """Until ``k`` rows reached the sink (the job is running, Triton answered)."""
        deadline = time.monotonic() + timeout_s
        while len(self.rows) < k:
            if self.done.is_set():
                pytest.fail(f"the job ended after {len(self.rows)} rows, before the fault: {self.error}")
            if time.monotonic() > deadline:
                pytest.fail(f"only {len(self.rows)} rows reached the sink in {timeout_s}s")
            time.sleep(0.01)


def run_job(
    t_env: TableEnvironment, sql: str, during: Callable[[Job], None] | None = None, limit_s: float = JOB_LIMIT_S
) -> Job:
    """Run ``sql`` into a collect sink on a thread; run ``during(job)`` here meanwhile. A job
    that has not ended ``limit_s`` after it started is cancelled and fails the test (a hang)."""
    job = Job(started=time.monotonic())
    result = t_env.sql_query(sql).execute()

    def consume() -> None:
        try:
            with result.collect() as results:
                for row in results:
                    job.arrivals.append(time.monotonic())
                    job.rows.append(tuple(row))
        except BaseException as exc:
            job.error = exc
        finally:
            job.ended = time.monotonic()
            job.done.set()

    def cancel() -> None:
        client = result.get_job_client()
        if client is not None and not job.done.is_set():
            try:
                client.cancel().result()
            except Exception:
                pass
        job.done.wait(30)

    thread = threading.Thread(target=consume, name="collect", daemon=True)
    thread.start()
    try:
        if during is not None:
            during(job)
    except BaseException:
        cancel()  # never leave a job running behind a failed test
        raise
    left = limit_s - (time.monotonic() - job.started)
    if not job.done.wait(max(left, 0.0)):
        cancel()
        pytest.fail(f"the job hung: not done {limit_s:g}s after it started ({len(job.rows)} rows arrived); cancelled")
    return job


def message(job: Job) -> str:
    """The job's failure as text; the async mode reports a row's error as its repr, escaped."""
    assert job.error is not None, "the job did not fail"
    return str(job.error).replace("\\'", "'")


def expanded(call: str, src: str, cast: str | None = None) -> str:
    """``SELECT id, value, error`` of an error-column function: the ROW's fields apart
    (PyFlink's collect cannot read a nested ROW with a NULL field: EOFError)."""
    value = "r.`result`" if cast is None else f"CAST(r.`result` AS {cast})"
    return f"SELECT id, {value}, r.`error` FROM (SELECT id, {call} AS r FROM {src})"


def check_ids(job: Job, n: int) -> None:
    """Every id once, in source order (both modes keep the order at parallelism 1)."""
    ids = [r[0] for r in job.rows]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicated rows"
    assert set(ids) == set(range(1, n + 1)), f"missing ids: {sorted(set(range(1, n + 1)) - set(ids))[:20]}"
    assert ids == list(range(1, n + 1)), "rows came out of order"


# -- a Triton of our own, to kill and freeze --------------------------------------------------


@pytest.fixture(scope="module")
def own_triton() -> Iterator[TritonServer]:
    """A Triton serving only 'classifier', on a fixed port so that a restart keeps the URL."""
    with classifier_triton() as server:
        try:
            yield server
        finally:
            resume(server)  # a frozen (SIGSTOPped) server would not stop


@pytest.fixture
def triton(own_triton: TritonServer) -> Iterator[TritonServer]:
    """The module's Triton, running and not frozen before and after the test."""
    resume(own_triton)
    if not own_triton.is_running:
        own_triton.start()
    try:
        yield own_triton
    finally:
        resume(own_triton)
        if not own_triton.is_running:
            own_triton.start()


def resume(server: TritonServer) -> None:
    pid = server.pid
    if pid is not None:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def kill(server: TritonServer) -> float:
    """SIGKILL the server by pid (then reap it); returns when it was killed."""
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    at = time.monotonic()
    server.stop()
    return at


def classifier(server: TritonServer, **extra: Any) -> dict[str, Any]:
    return {"endpoint": server.url, "model-name": "classifier", **extra}


def named_in(text: str, model: str, url: str) -> bool:
    return f"Triton model '{model}' at {url}" in text


# -- engine counters, read when each function closes (the worker runs in this process) ------


@pytest.fixture
def engine_records(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    original = InferenceEngine.close

    async def close(self: InferenceEngine) -> None:
        client = self.client
        if client is not None:
            records.append(
                {
                    "rows": self.stats.rows,
                    "fallbacks": self.stats.fallback_rows,
                    "failed_rows": self.stats.failed_rows,
                    "requests": client.stats.requests,
                    "failures": client.stats.failures,
                    "retries": client.stats.retries,
                    "breaker_rejections": client.stats.breaker_rejections,
                    "breaker": None if client.breaker is None else client.breaker.state.value,
                }
            )
        await original(self)

    monkeypatch.setattr(InferenceEngine, "close", close)
    return records


# == 1. Triton killed and restarted mid-job =================================================

KILL_N, KILL_RATE = 800, 160
# The default-value case needs rows left to succeed after the restart: a restart that took 3 s on
# a loaded CI machine left none of 800 (the job outlived the kill by only ~4.5 s), so it runs longer.
KILL_DEFAULT_N = 1600


@pytest.mark.parametrize("mode", MODES)
def test_kill_restart_with_retries_loses_no_row(
    mode: str, t_env: TableEnvironment, triton: TritonServer, engine_records: list[dict[str, Any]]
) -> None:
    fn = function(
        t_env,
        mode,
        classifier(triton, max_retries=40, retry_initial_backoff="100ms", retry_max_backoff="500ms", timeout="5s"),
        "BIGINT",
    )
    src = source(t_env, KILL_N, KILL_RATE)
    times: dict[str, float] = {}

    def fault(job: Job) -> None:
        job.wait_rows(80)
        times["kill"] = kill(triton)
        time.sleep(0.3)
        triton.start()
        times["up"] = time.monotonic()
        times["rows_at_up"] = len(job.rows)

    job = run_job(t_env, f"SELECT id, {fn}({FEATURES_SQL}) FROM {src}", fault)
    assert job.error is None, job.error
    check_ids(job, KILL_N)
    wrong = [(i, c) for i, c in job.rows if c != expected_class(i)]
    assert wrong == [], f"{len(wrong)} wrong predictions, e.g. {wrong[:5]}"
    assert times["rows_at_up"] < KILL_N, "the job ended before Triton came back: nothing was tested"
    [record] = engine_records
    assert record["retries"] > 0 and record["failures"] > 0  # the outage was seen, and retried
    observe(
        "kill+restart, max-retries 40",
        mode,
        job,
        KILL_N,
        wrong=0,
        down_s=round(times["up"] - times["kill"], 2),
        retries=record["retries"],
    )


@pytest.mark.parametrize("mode", MODES)
def test_kill_without_retries_fails_fast_naming_model_and_endpoint(
    mode: str, t_env: TableEnvironment, triton: TritonServer
) -> None:
    fn = function(t_env, mode, classifier(triton, max_retries=0), "BIGINT")
    src = source(t_env, KILL_N, KILL_RATE)
    times: dict[str, float] = {}

    def fault(job: Job) -> None:
        job.wait_rows(80)
        times["kill"] = kill(triton)
        job.done.wait(JOB_LIMIT_S)

    job = run_job(t_env, f"SELECT id, {fn}({FEATURES_SQL}) FROM {src}", fault)
    text = message(job)
    fail_s = job.ended - times["kill"]
    assert "TritonConnectionError" in text and named_in(text, "classifier", triton.url), text[-3000:]
    assert fail_s < 15, f"the job took {fail_s:.1f}s to fail"
    # What did arrive before the failure is right.
    ids = [i for i, _ in job.rows]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    assert all(c == expected_class(i) for i, c in job.rows)
    observe("kill, max-retries 0", mode, job, KILL_N, wrong=0, fail_s=round(fail_s, 2))


@pytest.mark.parametrize("mode", MODES)
def test_kill_restart_with_default_value(
    mode: str, t_env: TableEnvironment, triton: TritonServer, engine_records: list[dict[str, Any]]
) -> None:
    fn = function(t_env, mode, classifier(triton, max_retries=0, default_value=DEFAULT_CLASS), "BIGINT")
    src = source(t_env, KILL_DEFAULT_N, KILL_RATE)
    times: dict[str, Any] = {}

    def fault(job: Job) -> None:
        job.wait_rows(80)
        times["rows_at_kill"] = len(job.rows)
        times["kill"] = kill(triton)
        time.sleep(0.3)
        triton.start()
        times["up"] = time.monotonic()
        times["rows_at_up"] = len(job.rows)

    job = run_job(t_env, f"SELECT id, {fn}({FEATURES_SQL}) FROM {src}", fault)
    assert job.error is None, job.error
    check_ids(job, KILL_DEFAULT_N)
    defaulted = [i for i, c in job.rows if c == DEFAULT_CLASS]
    wrong = [(i, c) for i, c in job.rows if c not in (expected_class(i), DEFAULT_CLASS)]
    assert wrong == [], f"{len(wrong)} wrong predictions, e.g. {wrong[:5]}"
    assert defaulted, "no row failed: the outage was not seen"
    assert times["rows_at_up"] < KILL_DEFAULT_N, "the job ended before Triton came back"
    # Before the kill all rows are right; the failures are one band; after it, right again.
    assert min(defaulted) > times["rows_at_kill"]
    assert max(defaulted) - min(defaulted) + 1 == len(defaulted), "failed rows are not one band"
    assert max(defaulted) < KILL_DEFAULT_N, "no row succeeded after the restart"
    [record] = engine_records
    assert record["fallbacks"] == len(defaulted) and record["failed_rows"] == 0
    observe(
        "kill+restart, default-value",
        mode,
        job,
        KILL_DEFAULT_N,
        wrong=0,
        defaulted=len(defaulted),
        down_s=round(times["up"] - times["kill"], 2),
    )


# == 2. Triton frozen (SIGSTOP ... SIGCONT) ==================================================

FREEZE_N, FREEZE_RATE, FREEZE_S = 750, 150, 2.5


def freeze(server: TritonServer, seconds: float, job: Job, times: dict[str, Any]) -> None:
    pid = server.pid
    assert pid is not None
    job.wait_rows(60)
    times["rows_at_stop"] = len(job.rows)
    os.kill(pid, signal.SIGSTOP)
    times["stop"] = time.monotonic()
    try:
        job.done.wait(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)
        times["cont"] = time.monotonic()
        times["rows_at_cont"] = len(job.rows)


@pytest.mark.parametrize("mode", MODES)
def test_freeze_timeout_then_retries_then_success(
    mode: str, t_env: TableEnvironment, triton: TritonServer, engine_records: list[dict[str, Any]]
) -> None:
    fn = function(
        t_env,
        mode,
        classifier(triton, timeout="400ms", max_retries=40, retry_initial_backoff="100ms", retry_max_backoff="400ms"),
        "BIGINT",
    )
    src = source(t_env, FREEZE_N, FREEZE_RATE)
    times: dict[str, Any] = {}
    job = run_job(
        t_env, f"SELECT id, {fn}({FEATURES_SQL}) FROM {src}", lambda job: freeze(triton, FREEZE_S, job, times)
    )
    assert job.error is None, job.error
    check_ids(job, FREEZE_N)
    wrong = [(i, c) for i, c in job.rows if c != expected_class(i)]
    assert wrong == [], f"{len(wrong)} wrong predictions, e.g. {wrong[:5]}"
    assert times["rows_at_cont"] < FREEZE_N
    [record] = engine_records
    assert record["retries"] > 0  # timeouts were seen and retried
    observe("SIGSTOP 2.5s, timeout 400ms, max-retries 40", mode, job, FREEZE_N, wrong=0, retries=record["retries"])


@pytest.mark.parametrize("mode", MODES)
def test_freeze_without_retries_fails_with_a_timeout(mode: str, t_env: TableEnvironment, triton: TritonServer) -> None:
    fn = function(t_env, mode, classifier(triton, timeout="400ms", max_retries=0), "BIGINT")
    src = source(t_env, FREEZE_N, FREEZE_RATE)
    times: dict[str, Any] = {}
    job = run_job(
        t_env, f"SELECT id, {fn}({FEATURES_SQL}) FROM {src}", lambda job: freeze(triton, JOB_LIMIT_S / 2, job, times)
    )
    text = message(job)
    fail_s = job.ended - times["stop"]
    assert "TritonTimeoutError" in text and "inference timed out after 0.4s" in text, text[-3000:]
    assert named_in(text, "classifier", triton.url)
    assert fail_s < 15, f"the job took {fail_s:.1f}s to fail"
    assert all(c == expected_class(i) for i, c in job.rows)
    observe("SIGSTOP, timeout 400ms, max-retries 0", mode, job, FREEZE_N, wrong=0, fail_s=round(fail_s, 2))


@pytest.mark.parametrize("mode", MODES)
def test_freeze_with_default_value_in_error_column(
    mode: str, t_env: TableEnvironment, triton: TritonServer, engine_records: list[dict[str, Any]]
) -> None:
    fn = function(
        t_env,
        mode,
        classifier(triton, timeout="400ms", max_retries=0, default_value=DEFAULT_CLASS),
        "BIGINT",
        error_mode="column",
    )
    src = source(t_env, FREEZE_N, FREEZE_RATE)
    times: dict[str, Any] = {}
    job = run_job(t_env, expanded(f"{fn}({FEATURES_SQL})", src), lambda job: freeze(triton, FREEZE_S, job, times))
    assert job.error is None, job.error
    check_ids(job, FREEZE_N)
    defaulted, wrong = [], []
    for i, value, error in job.rows:
        if error is None and value == expected_class(i):
            continue
        if (
            value == DEFAULT_CLASS
            and error is not None
            and "TritonTimeoutError" in error
            and "timed out after 0.4s" in error
            and named_in(error, "classifier", triton.url)
        ):
            defaulted.append(i)
            continue
        wrong.append((i, value, error))
    assert wrong == [], f"{len(wrong)} wrong rows, e.g. {wrong[:3]}"
    assert defaulted, "no row timed out: the freeze was not seen"
    assert min(defaulted) > times["rows_at_stop"] and max(defaulted) < FREEZE_N
    [record] = engine_records
    assert record["fallbacks"] == len(defaulted)
    observe(
        "SIGSTOP 2.5s, timeout 400ms, default-value, error column",
        mode,
        job,
        FREEZE_N,
        wrong=0,
        defaulted=len(defaulted),
    )


# == 3. 503 storm: the circuit breaker opens, sheds, half-opens, closes =======================

BREAKER_N, BREAKER_RATE = 1000, 250


def request_ids(rec: Recorded) -> list[int]:
    """The ids an echo request carried (x = [id] per row), decoded here from the wire."""
    assert rec.header_json is not None
    body = gzip.decompress(rec.body) if rec.headers.get("Content-Encoding") == "gzip" else rec.body
    hlen = int(rec.headers.get("Inference-Header-Content-Length", len(body)))
    [tensor] = rec.header_json["inputs"]
    values = tensor["data"] if "data" in tensor else np.frombuffer(body[hlen:], np.float32)
    return [int(v) for v in values]


def echo_rows(job: Job) -> Iterator[tuple[int, list[float] | None, str | None]]:
    """(id, value, error) of each row of an error-column echo job."""
    for i, value, error in job.rows:
        yield i, None if value is None else list(value), error


def echo_sql(fn: str, src: str) -> str:
    return expanded(f"{fn}(ARRAY[CAST(id AS FLOAT)])", src, cast="ARRAY<DOUBLE>")


@pytest.mark.parametrize("mode", MODES)
def test_503_storm_opens_half_opens_and_closes_the_breaker(
    mode: str,
    t_env: TableEnvironment,
    fault: FaultServer,
    engine_records: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storm = 10
    fault.actions = [("status", 503, "overloaded")] * storm
    transitions: list[str] = []
    enter = CircuitBreaker._enter

    def recording_enter(self: CircuitBreaker, state: Any) -> None:
        transitions.append(state.value)
        enter(self, state)

    monkeypatch.setattr(CircuitBreaker, "_enter", recording_enter)
    metrics: list[TritonMetrics] = []
    init = TritonMetrics.__init__

    def recording_init(self: TritonMetrics, group: Any, engine: InferenceEngine) -> None:
        init(self, group, engine)
        metrics.append(self)

    monkeypatch.setattr(TritonMetrics, "__init__", recording_init)
    fn = function(
        t_env,
        mode,
        {
            "endpoint": fault.url,
            "model-name": "m",
            "max-retries": "0",
            "default-value": "[-1]",
            "circuit-breaker-enabled": "true",
            "circuit-breaker-failure-threshold": "0.5",
            "circuit-breaker-timeout": "1s",
            "circuit-breaker-half-open-requests": "2",
        },
        "ARRAY<FLOAT>",
        error_mode="column",
    )
    src = source(t_env, BREAKER_N, BREAKER_RATE)
    job = run_job(t_env, echo_sql(fn, src))
    assert job.error is None, job.error
    check_ids(job, BREAKER_N)
    served = [request_ids(r) for r in fault.infer_requests]
    got_503 = {i for ids in served[:storm] for i in ids}
    ok, rejected, failed, wrong = [], [], [], []
    for i, value, error in echo_rows(job):
        if error is None and value == [float(i)]:
            ok.append(i)
        elif value == [-1.0] and error and "TritonServiceError" in error and "HTTP 503: overloaded" in error:
            failed.append(i)
        elif value == [-1.0] and error and "TritonCircuitOpenError" in error and "circuit breaker is" in error:
            rejected.append(i)
        else:
            wrong.append((i, value, error))
    assert wrong == [], f"{len(wrong)} wrong rows, e.g. {wrong[:3]}"
    assert set(failed) == got_503  # exactly the rows the server answered 503
    assert rejected, "the breaker never refused a request"
    assert not set(rejected) & {i for ids in served for i in ids}  # refused rows never reached it
    # OPEN, any number of failed probes (HALF_OPEN, OPEN), then HALF_OPEN and CLOSED for good.
    assert re.fullmatch(r"OPEN( HALF_OPEN OPEN)* HALF_OPEN CLOSED", " ".join(transitions)), transitions
    after = BREAKER_N - max(rejected + failed)
    assert after >= BREAKER_N // 10, f"only {after} rows came after the last failure: {transitions}"
    [record] = engine_records
    assert record["breaker"] == "CLOSED"
    assert record["breaker_rejections"] >= len(rejected) / 4  # requests of at most 4 rows
    assert record["fallbacks"] == len(failed) + len(rejected)
    # What the 'triton' metric group was told: the same counts.
    [reported] = [m.reported for m in metrics]
    assert reported["breakerRejections"] == record["breaker_rejections"]
    assert reported["fallbacks"] == record["fallbacks"] and reported["rows"] == BREAKER_N
    observe(
        "503 x10, breaker 0.5/1s/2 probes, default-value, error column",
        mode,
        job,
        BREAKER_N,
        wrong=0,
        defaulted_503=len(failed),
        defaulted_open=len(rejected),
        breaker_rejections=record["breaker_rejections"],
        transitions=transitions,
    )


# == 4. Malformed responses ===================================================================

# (fault, action, error class, text): each fault is the answer to one request, in order.
MALFORMED: list[tuple[str, tuple[Any, ...], str, str]] = [
    ("bad JSON", ("garbage",), "TritonProtocolError", "response header is not valid JSON"),
    (
        "header length +7 (binary in the JSON)",
        ("echo_header_length", 7),
        "TritonProtocolError",
        "response header is not valid JSON",
    ),
    (
        "header length -3 (JSON cut)",
        ("echo_header_length", -3),
        "TritonProtocolError",
        "response header is not valid JSON",
    ),
    ("header length past the body", ("echo_header_length", 1 << 20), "TritonProtocolError", "outside a body of"),
    (
        "missing output",
        ("echo_rename", "OUT_y"),
        "TritonSchemaError",
        "requested output(s) 'OUT_x' missing from the response (it has 'OUT_y')",
    ),
    ("wrong row count (0 rows back)", ("echo_rows", 0), "TritonSchemaError", "has shape [0, 1] for a batch of"),
    (
        "wrong datatype (INT32 bytes for FP32)",
        ("echo_datatype", "INT32"),
        "TritonSchemaError",
        "output 'OUT_x' came back as INT32, but the model's metadata declares FP32",
    ),
    ("corrupt gzip", ("echo_gzip_corrupt",), "TritonProtocolError", "cannot decompress gzip response"),
    (
        "reset mid-body",
        ("cut", 10_000, b'{"model_name": "m", "outputs": ['),
        "TritonConnectionError",
        "Response payload is not completed",
    ),
    (
        "stall mid-body",
        ("slow_body", 10_000, b'{"model_name": "m"'),
        "TritonTimeoutError",
        "inference timed out after 2s",
    ),
    (
        "oversized body (2 MiB, Content-Length)",
        ("raw", 200, {}, b" " * (2 << 20)),
        "TritonProtocolError",
        "set by option 'max-response-size' (Content-Length 2097152 announced; not read)",
    ),
    (
        "oversized announcement (1 GiB)",
        ("announce", 200, 1 << 30, b"{"),
        "TritonProtocolError",
        "(Content-Length 1073741824 announced; not read)",
    ),
    ("endless chunked body", ("endless", 200), "TritonProtocolError", "(more arrived; reading stopped)"),
    (
        "gzip bomb (8 MiB of zeros)",
        ("bomb", 200, 8 << 20),
        "TritonProtocolError",
        "(its gzip body inflates to more; decompression stopped)",
    ),
]
MALFORMED_N = 400


def malformed_options(fault: FaultServer, **extra: str) -> dict[str, str]:
    return {
        "endpoint": fault.url,
        "model-name": "m",
        "max-retries": "0",
        "timeout": "2s",
        "max-response-size": "1mb",
        **extra,
    }


@pytest.mark.parametrize("mode", MODES)
def test_malformed_responses_fall_back_clearly_never_a_wrong_value(
    mode: str, t_env: TableEnvironment, fault: FaultServer
) -> None:
    fault.actions = [action for _, action, _, _ in MALFORMED]
    fn = function(
        t_env, mode, malformed_options(fault, **{"default-value": "[-1]"}), "ARRAY<FLOAT>", error_mode="column"
    )
    src = source(t_env, MALFORMED_N, 1_000_000)
    job = run_job(t_env, echo_sql(fn, src))
    assert job.error is None, job.error
    check_ids(job, MALFORMED_N)
    served = [request_ids(r) for r in fault.infer_requests]
    assert len(served) > len(MALFORMED)
    fault_of = {i: k for k, ids in enumerate(served[: len(MALFORMED)]) for i in ids}
    outcome: dict[str, list[Any]] = {name: [] for name, *_ in MALFORMED}
    wrong = []
    for i, value, error in echo_rows(job):
        if i not in fault_of:
            if not (error is None and value == [float(i)]):
                wrong.append((i, value, error))
            continue
        name, _, kind, text = MALFORMED[fault_of[i]]
        if (
            value == [-1.0]
            and error is not None
            and error.startswith(kind + ": ")
            and text in error
            and named_in(error, "m", fault.url)
        ):
            outcome[name].append(i)
        else:
            wrong.append((i, name, value, error))
    assert wrong == [], f"{len(wrong)} rows wrong or unclear, e.g. {wrong[:3]}"
    assert all(outcome.values()), {k: len(v) for k, v in outcome.items()}
    observe(
        "malformed responses, default-value, error column",
        mode,
        job,
        MALFORMED_N,
        wrong=0,
        per_fault={k: len(v) for k, v in outcome.items()},
    )


FAIL_FAULTS = ["wrong datatype (INT32 bytes for FP32)", "header length +7 (binary in the JSON)"]


@pytest.mark.parametrize("case", FAIL_FAULTS)
@pytest.mark.parametrize("mode", MODES)
def test_malformed_response_without_default_fails_the_job(
    mode: str, case: str, t_env: TableEnvironment, fault: FaultServer
) -> None:
    [(_, action, kind, text)] = [m for m in MALFORMED if m[0] == case]
    fault.actions = [("echo",)] * 5 + [action]
    fn = function(t_env, mode, malformed_options(fault), "ARRAY<FLOAT>")
    src = source(t_env, MALFORMED_N, 2000)
    job = run_job(t_env, f"SELECT id, CAST({fn}(ARRAY[CAST(id AS FLOAT)]) AS ARRAY<DOUBLE>) FROM {src}")
    msg = message(job)
    assert kind in msg and text in msg and named_in(msg, "m", fault.url), msg[-3000:]
    assert all(list(v) == [float(i)] for i, v in job.rows), "a wrong value reached the sink"
    observe(f"malformed, no default: {case}", mode, job, MALFORMED_N, wrong=0)
