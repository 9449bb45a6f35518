"""The engine alone (no Flink): CPU per row of ``InferenceEngine.predict`` on ``classifier``
batches shaped as PyFlink hands them (an ARRAY<FLOAT> column of 20,000 rows), with and without
the column's Arrow array attached, through each HTTP client; side by side in one run.

    .venv/bin/python -m benchmarks.engine_rows [--batches 60] [--rows 20000]

It starts its own Triton (``classifier`` only). CPU is this process's (all threads: the
engine's event loop runs on its own thread), per row, median of the rounds; the rounds
alternate between the four variants.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
import pyarrow as pa

from pyflink_triton.config import TritonOptions
from pyflink_triton.engine import BlockingEngine, Column, EngineConfig
from pyflink_triton.engine.columns import ARROW_ATTR, ArrowColumn
from pyflink_triton.server import TritonServer

VARIANTS = [(client, arrow) for client in ("aiohttp", "httptools") for arrow in (False, True)]


def column(rows: int, arrow: bool) -> pd.Series:
    """What PyFlink's conversion gives for an ARRAY<FLOAT> column (plus the array, if asked)."""
    values = np.random.default_rng(1).normal(5, 2, rows * 4).astype(np.float32)
    array = pa.ListArray.from_arrays(pa.array(np.arange(0, rows * 4 + 1, 4, dtype=np.int32)), pa.array(values))
    series = array.to_pandas()
    if arrow:
        series.attrs[ARROW_ATTR] = ArrowColumn(array)
    return series


def cpu_per_row(engine: BlockingEngine, data: pd.Series, batches: int) -> float:
    start = time.process_time()
    for _ in range(batches):
        engine.predict((data,))
    return (time.process_time() - start) / (batches * len(data)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=60, help="batches per variant and round")
    parser.add_argument("--rows", type=int, default=20000, help="rows per batch")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with TritonServer(models=["classifier"]) as server:
        engines = {}
        for client, _ in VARIANTS:
            if client not in engines:
                options = TritonOptions.from_map(
                    {"endpoint": server.url, "model-name": "classifier", "http-client": client}
                )
                engines[client] = BlockingEngine(EngineConfig.of(options, outputs=[Column("class_id")]))
                engines[client].open()
        data = {arrow: column(args.rows, arrow) for arrow in (False, True)}
        for engine in engines.values():
            engine.predict((data[True],))  # warm: connections, metadata
        samples: dict[tuple[str, bool], list[float]] = {v: [] for v in VARIANTS}
        for round_ in range(args.rounds):
            for variant in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
                client, arrow = variant
                samples[variant].append(cpu_per_row(engines[client], data[arrow], args.batches))
        for engine in engines.values():
            engine.close()
    print(f"InferenceEngine.predict, classifier, {args.rows:,}-row batches: CPU us per row (median of {args.rounds})")
    for client in ("aiohttp", "httptools"):
        before, after = (statistics.median(samples[(client, arrow)]) for arrow in (False, True))
        print(f"  {client:<10} row by row {before:.2f}   from Arrow {after:.2f}   ({before / after:.2f}x)")


if __name__ == "__main__":
    main()
