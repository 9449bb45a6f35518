"""Table environments for the Flink contenders, and the tables, views and models they read.

Settings stick to a ``TableEnvironment`` (and ``ML_PREDICT``'s async mode sets options on it),
so contenders whose settings differ run in environments of their own, all in this process's
one JVM, all on a local mini-cluster at parallelism 1:

- ``plain``: nothing configured (the no-UDF job, the per-row UDF);
- ``default``: nothing configured, only ``ML_PREDICT`` through ``TritonSql`` as it comes;
- ``sweep``: the Arrow batch and bundle sizes of the sweep (zero UDF, ML_PREDICT, triton_udf);
- ``async``: ``ML_PREDICT`` with ``MAP['async', 'true']``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pyflink.table import EnvironmentSettings, TableEnvironment

from pyflink_triton import TritonSql

from .server import Triton
from .workloads import Workload

ENV_KINDS = ("plain", "default", "sweep", "async")


def ident(workload: Workload) -> str:
    """The workload's name as a SQL identifier part."""
    return workload.name.replace("-", "_")


@dataclass
class Env:
    """One table environment and what was created in it."""

    kind: str
    t_env: Any
    sql: Any  # TritonSql over t_env
    created: set[str] = field(default_factory=set)

    def execute(self, statement: str) -> float:
        """Run one statement to its end (an INSERT job runs to completion); return wall seconds."""
        start = time.perf_counter()
        result = self.sql.execute_sql(statement)
        if result is not None:
            result.wait()
        return time.perf_counter() - start

    def once(self, key: str, *statements: str) -> None:
        """Run ``statements`` the first time ``key`` is asked for (DDL)."""
        if key not in self.created:
            for statement in statements:
                self.sql.execute_sql(statement)
            self.created.add(key)

    def set_batch(self, batch: int) -> None:
        """Rows per Arrow batch; ``bundle.size`` caps it, so both are set."""
        config = self.t_env.get_config()
        config.set("python.fn-execution.arrow.batch.size", str(batch))
        config.set("python.fn-execution.bundle.size", str(batch))

    def batch_setting(self) -> str:
        """The Arrow batch size configured on this environment ('' when unset)."""
        return str(self.t_env.get_config().get("python.fn-execution.arrow.batch.size", ""))


def create_env(kind: str) -> Env:
    """A streaming table environment at parallelism 1, wrapped by TritonSql."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    return Env(kind, t_env, TritonSql(t_env))


def source(env: Env, workload: Workload, rows: int) -> str:
    """A view of ``rows`` generated rows with the workload's input column; its name."""
    name = f"in_{ident(workload)}_{rows}"
    columns = f", {workload.source_columns}" if workload.source_columns else ""
    options = f", {workload.source_options}" if workload.source_options else ""
    env.once(
        name,
        f"""CREATE TEMPORARY TABLE src_{ident(workload)}_{rows} (id BIGINT{columns}) WITH (
            'connector' = 'datagen', 'number-of-rows' = '{rows}',
            'rows-per-second' = '1000000000',
            'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}'{options})""",
        f"""CREATE TEMPORARY VIEW {name} AS
            SELECT id, CAST({workload.input_expr} AS {workload.input_type}) AS {workload.input_column}
            FROM src_{ident(workload)}_{rows}""",
    )
    return name


def sinks(env: Env, workload: Workload) -> tuple[str, str]:
    """Blackhole sinks for the input column (no-UDF job) and for the output column."""
    w = ident(workload)
    env.once(
        f"sinks_{w}",
        f"CREATE TEMPORARY TABLE sink_in_{w} (id BIGINT, {workload.input_column} {workload.input_type}) "
        "WITH ('connector' = 'blackhole')",
        f"CREATE TEMPORARY TABLE sink_out_{w} (id BIGINT, {workload.output_column} {workload.output_type}) "
        "WITH ('connector' = 'blackhole')",
    )
    return f"sink_in_{w}", f"sink_out_{w}"


def model(env: Env, triton: Triton, workload: Workload) -> str:
    """``CREATE TEMPORARY MODEL`` for the workload's model, with nothing but the required options."""
    name = f"m_{ident(workload)}"
    env.once(
        name,
        f"""CREATE TEMPORARY MODEL {name}
            INPUT ({workload.input_column} {workload.input_type})
            OUTPUT ({workload.output_column} {workload.output_type})
            WITH ('provider' = 'triton', 'endpoint' = '{triton.url}/v2/models',
                  'model-name' = '{workload.model}')""",
    )
    return name


def function(env: Env, name: str, make: Any) -> str:
    """Register the function ``make()`` returns as ``name``, once."""
    if name not in env.created:
        env.t_env.create_temporary_function(name, make())
        env.created.add(name)
    return name
