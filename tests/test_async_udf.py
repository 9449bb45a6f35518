"""The async (per-row, coalescing) Triton UDF on a local Flink mini-cluster against the real Triton.

Flink jobs are few (each costs about 3 s, the first environment about 10 s more): one module-scoped
TableEnvironment runs them in loopback mode (the Python worker is this process). The FLINK-39532
proof runs two small drivers in subprocesses whose Python workers are separate processes
(``_python_worker_execution_mode=process``), with and without the workaround.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import urllib.request
from typing import Any, ClassVar

import pyflink.table as pyflink_table
import pytest

from pyflink_triton.engine import Coalescer, Column, EngineConfig, Failed, FlinkType
from pyflink_triton.flink.async_udf import TritonAsyncFunction, async_triton_udf, configure_async
from pyflink_triton.flink.patch import PATCH_ENV, patch_pyflink_async, patch_state

from .conftest import model_options
from .faultserver import FaultServer

pytestmark = [
    # Starts a JVM (PyFlink's TableEnvironment): outside the fast tier (`make check`).
    pytest.mark.flink,
    # Beam's data-plane reader thread sometimes dies with "Multiplexer hanging up" when a job ends.
    pytest.mark.filterwarnings(
        "ignore:Exception in thread read_grpc_client_inputs:pytest.PytestUnhandledThreadExceptionWarning"
    ),
]
DataTypes = pyflink_table.DataTypes


def model_stats(url: str, model: str) -> tuple[int, int]:
    """(rows inferred, successful requests) of a model, from Triton's statistics endpoint."""
    with urllib.request.urlopen(f"{url}/v2/models/{model}/stats", timeout=10) as resp:
        stats = json.load(resp)["model_stats"][0]
    return int(stats["inference_count"]), int(stats["inference_stats"]["success"]["count"])


class RecordingAsyncFunction(TritonAsyncFunction):
    """Records, per function instance, what happened on PyFlink's side of it.

    Defined in an importable module, so it is pickled by reference; the worker runs in this
    process (loopback mode), so the class attribute is shared with the test.
    """

    records: ClassVar[list[dict[str, Any]]] = []

    async def _start(self) -> Any:
        self._start_thread = type(threading.current_thread()).__name__
        return await super()._start()

    async def _aclose(self) -> None:
        engine, coalescer = self.engine, self._coalescer
        assert engine is not None and engine.client is not None
        client = engine.client
        await super()._aclose()
        type(self).records.append(
            {
                "start_thread": getattr(self, "_start_thread", None),
                "closed_on": type(threading.current_thread()).__name__,
                "session_closed": not client.pool_open,
                "requests": client.stats.requests,
                "batches": coalescer.batches if coalescer is not None else 0,
                "rows": engine.stats.rows,
                "null_rows": engine.stats.null_rows,
            }
        )


@pytest.fixture(scope="module")
def t_env() -> Any:
    env = pyflink_table.TableEnvironment.create(pyflink_table.EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    configure_async(env, max_concurrent_operations=4096)
    return env


def collect(table: Any) -> list[tuple[Any, ...]]:
    with table.execute().collect() as results:
        return [tuple(row) for row in results]


# -- without Flink ------------------------------------------------------------------------


def test_patch_is_applied_once_and_idempotent() -> None:
    from pyflink.fn_execution.table.async_function.operations import AsyncScalarFunctionOperation as op

    assert patch_state() == "applied"
    before = (op.process_element, op.close)
    assert patch_pyflink_async() == "applied"
    assert (op.process_element, op.close) == before
    assert op.process_element.__wrapped__.__qualname__ == "AsyncScalarFunctionOperation.process_element"


class _Handler:
    """PyFlink's result handler, as the runner sees it: completed once, with a value or an error."""

    def __init__(self, done: list[Any], all_done: threading.Event, n: int) -> None:
        self.done, self.all_done, self.n = done, all_done, n

    def complete(self, result: Any) -> None:
        self._add(result)

    def complete_exceptionally(self, error: Exception) -> None:
        self._add(("error", str(error)))

    def _add(self, outcome: Any) -> None:
        self.done.append(outcome)
        if len(self.done) == self.n:
            self.all_done.set()


def test_burst_patch_starts_every_row_in_order_with_few_wake_ups() -> None:
    from pyflink.fn_execution.datastream.process.async_function.operation import AsyncFunctionRunner

    assert patch_state() == "applied" and hasattr(AsyncFunctionRunner.run_async, "__wrapped__")
    runner = AsyncFunctionRunner()
    runner.daemon = True
    runner.start()
    runner.wait_ready()
    wake_ups = [0]
    call_soon_threadsafe = runner._loop.call_soon_threadsafe

    def counting(*args: Any) -> Any:
        wake_ups[0] += 1
        return call_soon_threadsafe(*args)

    runner._loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    done: list[Any] = []

    async def work(record: int) -> int:
        if record == 7:
            raise ValueError("row 7")
        return record * 2

    n = 5000
    all_done = threading.Event()
    try:
        for i in range(n):
            runner.run_async(work, i, _Handler(done, all_done, n))
        assert all_done.wait(30), f"{len(done)} of {n} rows completed"
    finally:
        runner.stop()
    assert done == [("error", "row 7") if i == 7 else i * 2 for i in range(n)]  # each once, in order
    assert wake_ups[0] < n / 2, f"{wake_ups[0]} wake-ups for {n} rows"


class ManualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the test says: timers fire when it is advanced
    past them, never early or late because the machine is busy."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def time(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        """Move the clock, then let every callback that became due run."""
        self.now += seconds
        for _ in range(10):
            await asyncio.sleep(0)


def test_coalescer_batches_by_size_and_by_time() -> None:
    sent: list[list[int]] = []

    async def send(rows: list[tuple[Any, ...]]) -> list[Any]:
        sent.append([r[0] for r in rows])
        await asyncio.sleep(0)
        return [Failed(ValueError(f"bad {r[0]}")) if r[0] == 5 else r[0] * 10 for r in rows]

    async def main(loop: ManualClockLoop) -> list[Any]:
        c = Coalescer(send, max_rows=4, max_wait_s=0.05)
        futures = [c.submit((i,)) for i in range(10)]  # 4 + 4 sent at once, 2 after 50 ms
        assert len(sent) == 0  # tasks not started yet
        await asyncio.sleep(0)
        assert [len(b) for b in sent] == [4, 4]
        await loop.advance(0.049)
        assert [len(b) for b in sent] == [4, 4]  # the last 2 wait for company up to max_wait
        await loop.advance(0.001)
        assert [len(b) for b in sent] == [4, 4, 2]
        results = await asyncio.gather(*futures, return_exceptions=True)
        late = c.submit((11,))
        await loop.advance(0.049)
        assert not late.done() and sent[-1] == [8, 9]  # waits for company up to max_wait
        await loop.advance(0.001)
        assert sent[-1] == [11]
        assert await late == 110
        await c.aclose()
        return results

    with asyncio.Runner(loop_factory=ManualClockLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, ManualClockLoop)
        results = runner.run(main(loop))
    assert sent == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [11]]
    assert [r for i, r in enumerate(results) if i != 5] == [0, 10, 20, 30, 40, 60, 70, 80, 90]
    assert isinstance(results[5], ValueError) and str(results[5]) == "bad 5"


def test_coalescer_close_cancels_waiting_and_in_flight_rows() -> None:
    async def send(rows: list[tuple[Any, ...]]) -> list[Any]:
        await asyncio.sleep(10)
        return [None] * len(rows)

    async def main() -> None:
        c = Coalescer(send, max_rows=2, max_wait_s=10)
        in_flight = [c.submit((1,)), c.submit((2,))]
        waiting = c.submit((3,))
        await asyncio.sleep(0)
        await asyncio.wait_for(c.aclose(), 1)
        assert all(f.cancelled() for f in [*in_flight, waiting])
        with pytest.raises(RuntimeError, match="closed"):
            c.submit((4,))

    asyncio.run(main())


def test_configure_async_sets_the_options(t_env: Any) -> None:
    config = t_env.get_config()
    assert config.get("table.exec.async-scalar.max-concurrent-operations", None) == "4096"
    assert config.get("table.exec.async-scalar.retry-strategy", None) == "NO_RETRY"
    assert config.get("table.exec.async-scalar.timeout", None) == "0 ms"


# -- Flink jobs against Triton --------------------------------------------------------------


def test_every_row_gets_its_own_result_nulls_and_coalesced_requests(t_env: Any, triton_url: str) -> None:
    """FLINK-39532 correctness (a), coalescing (b) and NULL rows (c) in one job.

    Arrays of 1 to 3 copies of the id through echo-all-types (OUT_INT64 = IN_INT64): a row
    that got another row's value, or a lost or duplicated row, shows.
    """
    n = 3000
    data = [(i, None if i % 97 == 5 else [i] * (1 + i % 3)) for i in range(n)]
    nulls = sum(1 for _, v in data if v is None)
    table = t_env.from_elements(
        data,
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.BIGINT()), DataTypes.FIELD("v", DataTypes.ARRAY(DataTypes.BIGINT()))]
        ),
    )
    function = RecordingAsyncFunction(
        EngineConfig.of(
            model_options(triton_url, "echo-all-types"),
            [Column("IN_INT64")],
            [Column("OUT_INT64", FlinkType.parse("ARRAY<BIGINT>"))],
        )
    )
    echo = pyflink_table.udf.udf(function, result_type=DataTypes.ARRAY(DataTypes.BIGINT()))
    RecordingAsyncFunction.records.clear()
    rows_before, requests_before = model_stats(triton_url, "echo-all-types")

    out = collect(table.select(table.id, echo(table.v).alias("y")))

    rows_done, requests = (
        b - a for a, b in zip((rows_before, requests_before), model_stats(triton_url, "echo-all-types"))
    )
    assert sorted(i for i, _ in out) == list(range(n))  # none lost, none duplicated
    expected = dict(data)
    wrong = [(i, y) for i, y in out if (None if y is None else list(y)) != expected[i]]
    assert wrong == [], f"{len(wrong)} rows got another row's result, e.g. {wrong[:5]}"
    assert sum(1 for _, y in out if y is None) == nulls
    # Coalescing: Triton saw every non-NULL row, in far fewer requests than rows.
    assert rows_done == n - nulls
    [record] = RecordingAsyncFunction.records
    assert record["requests"] == requests
    assert requests <= (n - nulls) // 20, f"{requests} requests for {n - nulls} rows"
    assert record["rows"] == n and record["null_rows"] == nulls
    # The client lived on PyFlink's event loop thread, and was closed there.
    assert record["start_thread"] == record["closed_on"] == "AsyncFunctionRunner"
    assert record["session_closed"]


def test_row_result_for_several_inputs_and_outputs(t_env: Any, triton_url: str) -> None:
    """(f): multi-io through the factory, result type derived from the server: a ROW."""
    n = 200
    data = [(i, None if i == 7 else "x" * (i % 9), [float(i), 1.0, 0.5]) for i in range(n)]
    table = t_env.from_elements(
        data,
        DataTypes.ROW(
            [
                DataTypes.FIELD("id", DataTypes.BIGINT()),
                DataTypes.FIELD("t", DataTypes.STRING()),
                DataTypes.FIELD("v", DataTypes.ARRAY(DataTypes.FLOAT())),
            ]
        ),
    )
    multi = async_triton_udf(
        {"endpoint": triton_url, "model-name": "multi-io"}, inputs=["ids", "text", "vec"], max_wait_ms=2
    )
    t_env.create_temporary_function("multi_io_async", multi)
    t_env.create_temporary_view("texts", table)
    out = collect(
        t_env.sql_query(
            "SELECT id, r.id_times_two, r.text_upper, r.text_length, r.vec_sum, r.vec_scaled, r.is_long "
            "FROM (SELECT id, multi_io_async(id, t, v) AS r FROM texts)"
        )
    )
    assert len(out) == n
    for i, doubled, upper, length, vec_sum, scaled, is_long in out:
        if i == 7:
            assert (doubled, upper, length, vec_sum, scaled, is_long) == (None,) * 6
            continue
        text = "x" * (i % 9)
        assert (doubled, upper, length, is_long) == (2 * i, text.upper(), len(text), len(text) > 5)
        assert vec_sum == pytest.approx(i + 1.5)
        assert list(scaled) == pytest.approx([i / 2, 0.5, 0.25])


def test_default_value_replaces_exactly_the_failed_requests_rows(t_env: Any, fault: FaultServer) -> None:
    """(d): the first request gets a 503; its rows get 'default-value', the others their echo."""
    fault.actions = [("status", 503, "overloaded")]
    n = 40
    data = [(i, None if i == 3 else [float(i), float(i)]) for i in range(n)]
    table = t_env.from_elements(
        data,
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.BIGINT()), DataTypes.FIELD("x", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    f = async_triton_udf(
        {"endpoint": fault.url, "model-name": "m", "default-value": "[-1]", "max-retries": "0"},
        result_type="ARRAY<FLOAT>",
        max_batch_rows=8,
        max_wait_ms=20,
    )
    out = dict(collect(table.select(table.id, f(table.x))))
    assert len(out) == n and out[3] is None
    defaults = sorted(i for i, y in out.items() if y is not None and list(y) == [-1.0])
    echoed = sorted(i for i, y in out.items() if y is not None and list(y) == [float(i), float(i)])
    assert sorted(defaults + echoed + [3]) == list(range(n))
    failed_rows = fault.infer_requests[0].header_json["inputs"][0]["shape"][0]  # type: ignore[index]
    assert len(defaults) == failed_rows >= 1
    assert len(fault.infer_requests) < n - 1  # coalesced here too


def test_failure_without_default_fails_the_job_naming_model_and_endpoint(t_env: Any, fault: FaultServer) -> None:
    """(e): no default-value: the client's error fails the job."""
    fault.actions = [("status", 503, "overloaded")] * 100
    table = t_env.from_elements(
        [(i, [float(i)]) for i in range(5)],
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.BIGINT()), DataTypes.FIELD("x", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    f = async_triton_udf({"endpoint": fault.url, "model-name": "m", "max-retries": "0"}, result_type="ARRAY<FLOAT>")
    with pytest.raises(Exception) as info:
        collect(table.select(table.id, f(table.x)))
    text = str(info.value)
    assert "TritonServiceError" in text
    assert f"Triton model 'm' at {fault.url}: inference failed with HTTP 503: overloaded" in text


# -- FLINK-39532 in a separate Python worker process ----------------------------------------

_DRIVER = r"""
import json, os, sys
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import udf
from pyflink_triton.flink.async_udf import async_triton_udf, configure_async
from pyflink_triton.flink.patch import patch_state

url, n = sys.argv[1], int(sys.argv[2])
t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
t_env.get_config().set("parallelism.default", "1")
t_env.get_config().set("python.executable", sys.executable)
configure_async(t_env, max_concurrent_operations=64)
echo = async_triton_udf({"endpoint": url, "model-name": "echo-all-types"}, inputs=["IN_INT64"],
                        outputs=["OUT_INT64"], result_type="ARRAY<BIGINT>", max_batch_rows=16)
pid = udf(lambda x: os.getpid(), result_type=DataTypes.BIGINT())
t = t_env.from_elements([(i, [i]) for i in range(n)], DataTypes.ROW([
    DataTypes.FIELD("id", DataTypes.BIGINT()), DataTypes.FIELD("v", DataTypes.ARRAY(DataTypes.BIGINT()))]))
with t.select(t.id, echo(t.v), pid(t.id)).execute().collect() as results:
    rows = [(r[0], list(r[1]), r[2]) for r in results]
print("RESULT " + json.dumps({
    "driver_pid": os.getpid(), "driver_patch": patch_state(),
    "worker_pids": sorted({p for _, _, p in rows}),
    "ids": sorted(i for i, _, _ in rows),
    "wrong": sum(1 for i, y, _ in rows if y != [i]),
}))
"""


# The environment before any job ran: PyFlink's loopback worker sets variables in this process
# (PYFLINK_GATEWAY_DISABLED, PYTHON_LOOPBACK_SERVER_ADDRESS, ...) that would break a new driver.
_ENV_AT_IMPORT = dict(os.environ)
_PYFLINK_RUNTIME_VARS = (
    "PYFLINK_GATEWAY_DISABLED",
    "PYFLINK_GATEWAY_PORT",
    "PYTHON_LOOPBACK_SERVER_ADDRESS",
    "_PYFLINK_CONN_INFO_PATH",
    "_PYTHON_WORKER_MEMORY_LIMIT",
    "BOOT_LOG_DIR",
    "SEMI_PERSISTENT_DIRECTORY",
    "WORKER_ID",
    "PIPELINE_OPTIONS",
    "LOGGING_API_SERVICE_DESCRIPTOR",
    "CONTROL_API_SERVICE_DESCRIPTOR",
)


def test_flink_39532_patch_is_in_effect_in_a_separate_worker_and_needed(triton_url: str) -> None:
    """The worker imports pyflink_triton.async_udf only while unpickling the function, inside the
    operation's constructor, before ``process_element`` is bound: if the patch came later, the
    bound method would be PyFlink's and rows would be wrong. The same job with the patch skipped
    (``PYFLINK_TRITON_NO_ASYNC_PATCH``) shows PyFlink 2.3's corruption."""
    n = 2000
    procs = {}
    for patched in (True, False):
        env = {k: v for k, v in _ENV_AT_IMPORT.items() if k != PATCH_ENV and k not in _PYFLINK_RUNTIME_VARS}
        env["_python_worker_execution_mode"] = "process"  # a worker process, not loopback
        if not patched:
            env[PATCH_ENV] = "1"
        procs[patched] = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, triton_url, str(n)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    results = {}
    try:
        for patched, proc in procs.items():
            output, _ = proc.communicate(timeout=300)
            lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
            assert proc.returncode == 0 and lines, output[-3000:]
            results[patched] = json.loads(lines[-1][len("RESULT ") :])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    good, bad = results[True], results[False]
    for r in (good, bad):
        assert r["ids"] == list(range(n))
        assert r["worker_pids"] and r["driver_pid"] not in r["worker_pids"]  # really another process
    assert good["driver_patch"] == "applied" and good["wrong"] == 0
    assert bad["driver_patch"] == "disabled"
    assert bad["wrong"] > 0, "PyFlink no longer corrupts rows: FLINK-39532 may be fixed"
    print(f"without the patch {bad['wrong']} of {n} rows got another row's result")
