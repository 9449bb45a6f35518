"""A long local session keeps planning when py4j moves it to another JVM thread (FLINK-23020).

py4j serves calls on a pool of connections, one JVM thread each; Flink's planner has Calcite's
metadata providers only on the JVM thread that created the ``TableEnvironment``. Here every
pooled connection is held busy by other Python threads (each waits in the JVM on a latch), so
the main thread's next call opens a fresh connection: a JVM thread that never planned, where
Flink alone fails with ``NullPointerException: metadataHandlerProvider`` and ``TritonSql`` must
not. Then a long session runs many statements and jobs while another Python thread keeps
calling into the JVM, as py4j's garbage-collection messages do from any thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from pyflink.java_gateway import get_gateway
from pyflink.table import EnvironmentSettings, TableEnvironment

from pyflink_triton.sql import TritonSql
from pyflink_triton.sql.planner_thread import is_missing_providers

from .conftest import iris_class

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink


def jvm_thread() -> str:
    return str(get_gateway().jvm.java.lang.Thread.currentThread().getName())


def poll(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@contextmanager
def pooled_connections_busy() -> Iterator[None]:
    """Every connection py4j has pooled is held by a thread waiting in the JVM until the block ends."""
    gateway = get_gateway()
    pool = gateway._gateway_client.deque
    latch = gateway.jvm.java.util.concurrent.CountDownLatch(1)
    holders: list[threading.Thread] = []
    try:
        for _ in range(10):  # a connection another thread borrowed meanwhile comes back: hold it too
            holders += [threading.Thread(target=getattr(latch, "await"), daemon=True) for _ in range(len(pool))]
            for holder in holders:
                if holder.ident is None:  # not started yet
                    holder.start()
            try:
                poll(lambda: len(pool) == 0, "every pooled connection to be taken", timeout_s=5)
                break
            except AssertionError:
                continue
        assert len(pool) == 0, "py4j's pooled connections could not all be held"
        yield
    finally:
        latch.countDown()
        for holder in holders:
            holder.join(timeout=30)


@pytest.fixture(scope="module")
def t_env() -> TableEnvironment:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    env.execute_sql("CREATE TEMPORARY VIEW nums(a) AS VALUES (1), (2), (3)")
    return env


def test_a_fresh_jvm_thread_breaks_flink_alone_but_not_our_session(t_env: TableEnvironment, triton_url: str) -> None:
    planner_thread = jvm_thread()
    t_env.sql_query("SELECT a + 1 FROM nums").explain()  # plans on the thread that made the planner
    session = TritonSql(t_env)
    session.execute_sql(f"""CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT)
        WITH ('provider' = 'triton', 'endpoint' = '{triton_url}/v2/models', 'model-name' = 'classifier')""")
    with pooled_connections_busy():
        fresh = jvm_thread()
        assert fresh != planner_thread
        with pytest.raises(Exception) as flink_alone:
            t_env.sql_query("SELECT a * 2 FROM nums").explain()
        assert "NullPointerException: metadataHandlerProvider" in str(flink_alone.value)
        assert is_missing_providers(flink_alone.value)
        assert jvm_thread() == fresh  # the failed call left us on the fresh thread

        doubled = session.sql_query("SELECT a * 2 AS b FROM nums")
        assert sorted(r[0] for r in doubled.execute().collect()) == [2, 4, 6]
        rows = session.execute_sql("""
            SELECT id, class_id FROM ML_PREDICT(TABLE (SELECT id, ARRAY[CAST(id AS FLOAT), CAST(1.0 AS FLOAT), CAST(0.5 AS FLOAT), CAST(0.25 AS FLOAT)] AS features
                                                      FROM (VALUES (1), (5), (7)) AS t(id)),
                                                MODEL iris, DESCRIPTOR(features))""")
        got = sorted(tuple(r) for r in rows.collect())
        assert got == sorted((i, iris_class([float(i), 1.0, 0.5, 0.25])) for i in (1, 5, 7))
        assert jvm_thread() == fresh


def test_other_flink_errors_are_not_taken_for_the_thread_problem(t_env: TableEnvironment) -> None:
    with pytest.raises(Exception) as info:
        t_env.sql_query("SELECT nosuch FROM nums")
    assert not is_missing_providers(info.value)
    with pytest.raises(Exception) as ours:
        TritonSql(t_env).sql_query("SELECT nosuch FROM nums")
    assert "nosuch" in str(ours.value)


def test_a_long_session_with_another_thread_calling_the_jvm(triton_url: str) -> None:
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    env.get_config().set("parallelism.default", "1")
    session = TritonSql(env)
    session.execute_sql(f"""CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT)
        WITH ('provider' = 'triton', 'endpoint' = '{triton_url}/v2/models', 'model-name' = 'classifier')""")
    stop = threading.Event()

    def other_thread() -> None:  # what py4j's finalizers do from whatever thread drops a JavaObject
        while not stop.wait(0.002):  # paced, so the session's own work keeps the CPU
            get_gateway().jvm.java.lang.System.nanoTime()

    caller = threading.Thread(target=other_thread, daemon=True)
    caller.start()
    try:
        for job in range(4):
            session.execute_sql(
                f"CREATE TEMPORARY VIEW v{job}(id, features) AS "
                f"SELECT id, ARRAY[CAST(id AS FLOAT), CAST({job}.0 AS FLOAT), CAST(0.5 AS FLOAT), CAST(0.25 AS FLOAT)] FROM "
                f"(VALUES (1), (2), (3), ({job + 10})) AS t(id)"
            )
            for statement in ("SHOW TABLES", "DESCRIBE MODEL iris", f"EXPLAIN SELECT * FROM v{job}"):
                assert list(session.execute_sql(statement).collect())
            rows = session.execute_sql(
                f"SELECT id, class_id FROM ML_PREDICT(TABLE v{job}, MODEL iris, DESCRIPTOR(features))"
            )
            got = sorted(tuple(r) for r in rows.collect())
            assert got == sorted((i, iris_class([float(i), float(job), 0.5, 0.25])) for i in (1, 2, 3, job + 10))
    finally:
        stop.set()
        caller.join(timeout=30)
    assert len(get_gateway()._gateway_client.deque) >= 2, "the other thread never opened a second connection"
