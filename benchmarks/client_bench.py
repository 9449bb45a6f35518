"""The clients alone, no Flink: our TritonClient, tritonclient.http.aio and perf_analyzer at each
(rows per request, requests in flight) point, same server, model and rows, binary tensors.

Rounds alternate between the contenders (and their order flips every round) so that none of
them always meets a warmer or a busier server. Each round is a fresh event loop and a fresh
client whose connections are warmed by one request before the clock starts. The clock covers
sending every request and decoding every response; the CPU is this process's (time.process_time,
all threads) and Triton's, per 1M rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import tritonclient.http.aio as triton_aio
from tritonclient.http import InferInput, InferRequestedOutput

from pyflink_triton import TritonClient, TritonOptions

from .perf_analyzer import PerfAnalyzer
from .procstat import CpuParties, cpu_delta
from .results import OURS, OURS_LEAN, PERF_ANALYZER, TRITONCLIENT_AIO, Point, median, median_cpu, percentile
from .settings import Scale
from .workloads import Workload


@dataclass
class Round:
    """One contender's pass over every request of a point."""

    wall_s: float
    latencies_s: list[float]
    cpu_s: dict[str, float]


Call = Callable[[np.ndarray], Awaitable[int]]


async def drive(call: Call, chunks: list[np.ndarray], concurrency: int, parties: CpuParties) -> Round:
    """Send every chunk through ``call`` with ``concurrency`` requests in flight."""
    await call(chunks[0])  # opens (and so warms) a connection before the clock starts
    pending = iter(chunks)  # shared by the workers: each chunk is taken once
    latencies: list[float] = []
    answered = 0

    async def worker() -> None:
        nonlocal answered
        for chunk in pending:
            start = time.perf_counter()
            rows = await call(chunk)  # not `answered += await ...`: that reads `answered` first
            latencies.append(time.perf_counter() - start)
            answered += rows

    cpu = parties.snapshot()
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    used = cpu_delta(cpu, parties.snapshot())
    expected = sum(len(c) for c in chunks)
    if answered != expected:
        raise AssertionError(f"{answered} rows answered of {expected}")
    return Round(wall, latencies, used)


async def ours(
    url: str,
    workload: Workload,
    chunks: list[np.ndarray],
    concurrency: int,
    parties: CpuParties,
    http_client: str = "aiohttp",
) -> Round:
    """Our client: one request per chunk (split=False), as the other two send them."""
    options = TritonOptions.from_map(
        {
            "endpoint": url,
            "model-name": workload.model,
            "max-concurrent-requests": str(concurrency),
            "http-client": http_client,
        }
    )
    async with TritonClient(options) as client:

        async def call(chunk: np.ndarray) -> int:
            out = await client.infer({workload.input_name: chunk}, split=False)
            return len(out[workload.output_name])

        return await drive(call, chunks, concurrency, parties)


async def ours_lean(
    url: str, workload: Workload, chunks: list[np.ndarray], concurrency: int, parties: CpuParties
) -> Round:
    """Our client with 'http-client' = 'httptools'."""
    return await ours(url, workload, chunks, concurrency, parties, http_client="httptools")


async def theirs(
    url: str, workload: Workload, chunks: list[np.ndarray], concurrency: int, parties: CpuParties
) -> Round:
    """NVIDIA's asyncio client, binary both ways, as its docs show it."""
    client = triton_aio.InferenceServerClient(url.removeprefix("http://"))
    try:

        async def call(chunk: np.ndarray) -> int:
            tensor = InferInput(workload.input_name, list(chunk.shape), workload.input_datatype)
            tensor.set_data_from_numpy(chunk, binary_data=True)
            result = await client.infer(
                workload.model, [tensor], outputs=[InferRequestedOutput(workload.output_name, binary_data=True)]
            )
            return len(result.as_numpy(workload.output_name))

        return await drive(call, chunks, concurrency, parties)
    finally:
        await client.close()


def _point(workload: Workload, contender: str, batch: int, concurrency: int, rows: int, rounds: list[Round]) -> Point:
    rates = [rows / r.wall_s for r in rounds]
    return Point(
        workload.name,
        "client",
        contender,
        batch,
        concurrency,
        rows,
        wall_s=[r.wall_s for r in rounds],
        rows_per_s=median(rates),
        cpu_s_per_1m=median_cpu((r.cpu_s for r in rounds), rows),
        p50_ms=median([percentile(r.latencies_s, 50) * 1000 for r in rounds]),
        p99_ms=median([percentile(r.latencies_s, 99) * 1000 for r in rounds]),
    )


def _perf_analyzer_point(
    analyzer: PerfAnalyzer, url: str, workload: Workload, batch: int, concurrency: int, scale: Scale
) -> Point:
    """perf_analyzer's rate and latencies; no CPU: it sends as many requests as its windows need."""
    point = Point(workload.name, "client", PERF_ANALYZER, batch, concurrency, 0)
    if analyzer.skipped:
        point.skipped = analyzer.skipped
        return point
    runs = []
    for _ in range(scale.repeats):
        try:
            runs.append(analyzer.measure(url, workload, batch, concurrency, scale.perf_window_ms))
        except RuntimeError as exc:  # reported as this point's reason, the run goes on
            point.skipped = str(exc)
            return point
    point.rows = int(median([batch * r[3] for r in runs]))
    point.rows_per_s = median([r[0] for r in runs])
    point.wall_s = [batch * r[3] / r[0] for r in runs]
    point.p50_ms, point.p99_ms = median([r[1] for r in runs]), median([r[2] for r in runs])
    point.note = f"time windows of {scale.perf_window_ms} ms until 3 agree within 50 %"
    return point


def bench_point(
    url: str,
    workload: Workload,
    batch: int,
    concurrency: int,
    scale: Scale,
    analyzer: PerfAnalyzer,
    parties: CpuParties,
) -> list[Point]:
    """Every client at one point: rounds of ours (both HTTP clients) and theirs, in an order
    that flips every round, then perf_analyzer."""
    requests = scale.client_requests_for(workload.name, batch)
    rows = batch * requests
    data = workload.make_inputs(rows, np.random.default_rng(batch * 31 + concurrency))
    chunks = [data[i : i + batch] for i in range(0, rows, batch)]
    mine: list[Round] = []
    lean: list[Round] = []
    other: list[Round] = []
    for i in range(scale.repeats):
        order = [(ours, mine), (ours_lean, lean), (theirs, other)]
        for run, sink in order if i % 2 == 0 else order[::-1]:
            sink.append(asyncio.run(run(url, workload, chunks, concurrency, parties)))
    points = [_perf_analyzer_point(analyzer, url, workload, batch, concurrency, scale)]
    points.append(_point(workload, OURS, batch, concurrency, rows, mine))
    points.append(_point(workload, OURS_LEAN, batch, concurrency, rows, lean))
    points.append(_point(workload, TRITONCLIENT_AIO, batch, concurrency, rows, other))
    return points
