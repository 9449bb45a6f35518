"""Flink's Java ``triton`` model provider's request pattern, emulated without Flink.

The Java provider answers ML_PREDICT one row at a time through Flink's async lookup: one
KServe v2 JSON request per row (no binary tensors), with ``max-concurrent-operations`` rows in
flight (Flink's default: 10). This emulation is a plain aiohttp client doing just that, with
nothing else to do; a real Flink job around it could only be slower, so it is a generous
stand-in for the Java path when async mode is compared with it.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np
import orjson

from .procstat import CpuParties, cpu_delta
from .results import JAVA_PATTERN, Point, median, median_cpu, percentile
from .settings import JAVA_IN_FLIGHT
from .workloads import Workload


async def _one_pass(
    url: str, workload: Workload, bodies: list[bytes], parties: CpuParties
) -> tuple[float, list[float], dict[str, float]]:
    """POST every body with JAVA_IN_FLIGHT requests in flight: (wall s, latencies s, CPU s)."""
    infer_url = f"{url}/v2/models/{workload.model}/infer"
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=JAVA_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post(body: bytes) -> None:
            async with session.post(infer_url, data=body, headers=headers) as response:
                answer = orjson.loads(await response.read())
                if response.status != 200 or not answer.get("outputs"):
                    raise RuntimeError(f"{workload.model}: HTTP {response.status}: {answer}")

        await post(bodies[0])  # connect before the clock starts
        pending = iter(bodies)
        latencies: list[float] = []

        async def worker() -> None:
            for body in pending:
                start = time.perf_counter()
                await post(body)
                latencies.append(time.perf_counter() - start)

        cpu = parties.snapshot()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(JAVA_IN_FLIGHT)))
        return time.perf_counter() - start, latencies, cpu_delta(cpu, parties.snapshot())


def bench_java_pattern(url: str, workload: Workload, rows: int, repeats: int, parties: CpuParties) -> Point:
    """The emulation over ``rows`` rows, ``repeats`` times; the median rate."""
    data = workload.make_inputs(rows, np.random.default_rng(7))
    bodies = [orjson.dumps({"inputs": [workload.json_tensor(row)]}) for row in data]
    passes = [asyncio.run(_one_pass(url, workload, bodies, parties)) for _ in range(repeats)]
    return Point(
        workload.name,
        "emulation",
        JAVA_PATTERN,
        1,
        JAVA_IN_FLIGHT,
        rows,
        wall_s=[p[0] for p in passes],
        rows_per_s=median([rows / p[0] for p in passes]),
        cpu_s_per_1m=median_cpu((p[2] for p in passes), rows),
        p50_ms=median([percentile(p[1], 50) * 1000 for p in passes]),
        p99_ms=median([percentile(p[1], 99) * 1000 for p in passes]),
        note="1 JSON row per request, 10 in flight, aiohttp, no Flink",
    )
