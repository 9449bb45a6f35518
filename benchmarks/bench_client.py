"""Rows/s of our TritonClient against tritonclient.http.aio, same model, same batches, both binary.

Starts a local Triton (the `classifier` model: 4 FP32 features in, INT64 class out), then for
each batch size sends the same number of rows through both clients with the same number of
requests in flight, alternating rounds so that neither gets a warmer server. Prints a table.

    .venv/bin/python benchmarks/bench_client.py [--rows 200000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
import tritonclient.http.aio as triton_aio
from tritonclient.http import InferInput, InferRequestedOutput

from pyflink_triton import TritonClient, TritonOptions
from pyflink_triton import TritonServer

MODEL = "classifier"


async def run_ours(url: str, x: np.ndarray, batch: int, concurrency: int) -> float:
    opts = TritonOptions.from_map({"endpoint": url, "model-name": MODEL,
                                   "max-concurrent-requests": str(concurrency)})
    async with TritonClient(opts) as client:
        await client.infer({"features": x[:batch]}, split=False)  # warm the connection
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                out = await client.infer({"features": x[i : i + batch]}, split=False)
                assert out["class_id"].shape[0] == batch

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(0, len(x), batch)))
        return len(x) / (time.perf_counter() - start)


async def run_theirs(url: str, x: np.ndarray, batch: int, concurrency: int) -> float:
    client = triton_aio.InferenceServerClient(url.removeprefix("http://"))
    try:
        async def call(chunk: np.ndarray) -> np.ndarray:
            inp = InferInput("features", list(chunk.shape), "FP32")
            inp.set_data_from_numpy(chunk, binary_data=True)
            res = await client.infer(MODEL, [inp], outputs=[InferRequestedOutput("class_id", binary_data=True)])
            return res.as_numpy("class_id")

        await call(x[:batch])
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with sem:
                out = await call(x[i : i + batch])
                assert out.shape[0] == batch

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(0, len(x), batch)))
        return len(x) / (time.perf_counter() - start)
    finally:
        await client.close()


async def run_split(url: str, x: np.ndarray, concurrency: int) -> float:
    """One infer() call over all rows: our client splits to max_batch_size and fans out."""
    opts = TritonOptions.from_map({"endpoint": url, "model-name": MODEL,
                                   "max-concurrent-requests": str(concurrency)})
    async with TritonClient(opts) as client:
        await client.infer({"features": x[:8]})
        start = time.perf_counter()
        out = await client.infer({"features": x})
        assert out["class_id"].shape[0] == len(x)
        return len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", default="1,64,1024")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with TritonServer(models=[MODEL]) as server:
        print(f"Triton at {server.url}; model '{MODEL}'; {args.concurrency} requests in flight; "
              f"median of {args.rounds} rounds")
        print(f"{'batch':>6} {'rows':>8} {'ours rows/s':>14} {'tritonclient rows/s':>20} {'ratio':>7}")
        for batch in (int(b) for b in args.batches.split(",")):
            rows = min(args.rows, batch * 2000) // batch * batch  # whole batches; bounded count
            x = rng.normal(5, 2, size=(rows, 4)).astype(np.float32)
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(asyncio.run(run_ours(server.url, x, batch, args.concurrency)))
                theirs.append(asyncio.run(run_theirs(server.url, x, batch, args.concurrency)))
            o, t = statistics.median(ours), statistics.median(theirs)
            print(f"{batch:>6} {rows:>8} {o:>14,.0f} {t:>20,.0f} {o / t:>7.2f}")
        x = rng.normal(5, 2, size=(args.rows, 4)).astype(np.float32)
        split = statistics.median(asyncio.run(run_split(server.url, x, args.concurrency)) for _ in range(args.rounds))
        print(f"one infer() of {args.rows} rows, split to max_batch_size and sent concurrently: {split:,.0f} rows/s")


if __name__ == "__main__":
    main()
