"""Rows/s of a Flink job through triton_udf against the same job through an identity pandas UDF.

Both jobs read the same `rows` generated rows (datagen, 4 FLOAT features), build the same
ARRAY<FLOAT> column, run one pandas UDF at the same Arrow batch size and write to a blackhole
sink; the only difference is that one UDF calls the `classifier` model on a local Triton and
the other returns zeros without I/O. A job with no UDF at all is measured as a floor.

    .venv/bin/python benchmarks/bench_udf.py [--rows 200000] [--batch-size 4096]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import udf

from pyflink_triton import TritonServer
from pyflink_triton import configure_inference, triton_udf


def run(t_env: TableEnvironment, function: str | None, rows: int) -> float:
    t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS src")
    t_env.execute_sql("DROP TEMPORARY TABLE IF EXISTS sink")
    t_env.execute_sql(f"""
        CREATE TEMPORARY TABLE src (id BIGINT, a FLOAT, b FLOAT, c FLOAT, d FLOAT) WITH (
          'connector' = 'datagen', 'number-of-rows' = '{rows}', 'rows-per-second' = '100000000',
          'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '{rows}',
          'fields.a.min' = '4', 'fields.a.max' = '8', 'fields.b.min' = '2', 'fields.b.max' = '4',
          'fields.c.min' = '1', 'fields.c.max' = '7', 'fields.d.min' = '0', 'fields.d.max' = '3')""")
    t_env.execute_sql("CREATE TEMPORARY TABLE sink (id BIGINT, c BIGINT) WITH ('connector' = 'blackhole')")
    expr = f"{function}(ARRAY[a, b, c, d])" if function else "CAST(a AS BIGINT)"
    start = time.perf_counter()
    t_env.execute_sql(f"INSERT INTO sink SELECT id, {expr} FROM src").wait()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    with TritonServer(models=["classifier"]) as server:
        t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        t_env.get_config().set("parallelism.default", "1")
        configure_inference(t_env, batch_size=args.batch_size)
        t_env.create_temporary_function("classify", triton_udf(
            {"endpoint": server.url, "model-name": "classifier",
             "max-concurrent-requests": str(args.concurrency)}, result_type="BIGINT"))
        t_env.create_temporary_function("identity_udf", udf(
            lambda f: pd.Series(np.zeros(len(f), dtype=np.int64)),
            result_type=DataTypes.BIGINT(), func_type="pandas"))
        run(t_env, "identity_udf", 10_000)  # warm the JVM and the Python harness
        print(f"{args.rows} rows, Arrow batch {args.batch_size}, parallelism 1, "
              f"{args.concurrency} requests in flight; job wall time includes ~3 s of fixed job cost")
        results = {}
        for label, fn in (("no UDF", None), ("identity pandas UDF", "identity_udf"), ("triton_udf (classifier)", "classify")):
            seconds = min(run(t_env, fn, args.rows) for _ in range(2))
            results[label] = seconds
            print(f"{label:<26} {seconds:6.2f} s  {args.rows / seconds:>10,.0f} rows/s")
        extra = results["triton_udf (classifier)"] - results["identity pandas UDF"]
        print(f"Triton's share: {extra:.2f} s for {args.rows} rows "
              f"({args.rows / max(extra, 1e-9):,.0f} rows/s of inference beyond the identity UDF)")


if __name__ == "__main__":
    main()
