"""The LLM workload: ``python benchmarks/llm.py [--quick] [--url URL]``.

rows/s and pieces/s through ``ML_PREDICT`` over ``model_repository/tiny-llm`` (decoupled,
``generate_stream``, ``"stream": true``: one piece a word), in both UDF modes, side by side with
a per-row loop of ``requests`` calling ``generate_stream`` (what a hand-written job would do),
at 1, 8 and 64 requests in flight, in one run on one server. The Flink jobs' times are net of
the fixed cost of a job (the same job over one row, measured just before); so is their CPU,
charged as in the main benchmark (benchmarks/procstat.py): the client's (this process, Flink's
JVM and its Python workers) and Triton's (server and stubs, when started here). Writes its table
into BENCHMARKS.md between ``<!-- llm:begin -->`` and ``<!-- llm:end -->``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.procstat import CpuParties

ROOT = Path(__file__).resolve().parent.parent
MODEL = "tiny-llm"
WORDS = "alpha beta gamma delta epsilon zeta eta"  # a prompt: 8 words with the row's own first
MAX_TOKENS = 16  # pieces per answer
IN_FLIGHT = (1, 8, 64)
BEGIN, END = "<!-- llm:begin -->", "<!-- llm:end -->"


def prompt(i: int) -> str:
    return f"w{i} {WORDS}"


def requests_loop(url: str, rows: int, in_flight: int, parties: CpuParties) -> tuple[float, int, dict[str, float]]:
    """A thread per request in flight, each a ``requests`` session posting one row at a time
    to ``generate_stream`` and concatenating ``text_output`` from the ``data:`` lines; seconds
    pieces and CPU seconds."""
    import requests

    from benchmarks.procstat import cpu_delta

    endpoint = f"{url}/v2/models/{MODEL}/generate_stream"
    sessions = [requests.Session() for _ in range(in_flight)]

    def one(i: int) -> int:
        session = sessions[i % in_flight]
        body = {"text_input": prompt(i), "stream": True, "max_tokens": MAX_TOKENS}
        pieces, text = 0, []
        with session.post(endpoint, json=body, stream=True, timeout=30) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    if "error" in event:
                        raise RuntimeError(event["error"])
                    text.append(event["text_output"])
                    pieces += 1
        assert "".join(text), "empty answer"
        return pieces

    before, start = parties.snapshot(), time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
        # Each thread takes the next row as it finishes: `in_flight` requests at a time.
        pieces = sum(pool.map(one, range(rows)))
    return time.perf_counter() - start, pieces, cpu_delta(before, parties.snapshot())


class FlinkJobs:
    """ML_PREDICT over ``rows`` generated prompts into a blackhole, in one table environment."""

    def __init__(self, url: str) -> None:
        from pyflink.table import EnvironmentSettings, TableEnvironment

        from pyflink_triton import TritonSql

        self.t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
        self.t_env.get_config().set("parallelism.default", "1")
        self.sql = TritonSql(self.t_env)
        self.sql.execute_sql(
            f"""CREATE TEMPORARY MODEL llm INPUT (prompt STRING) OUTPUT (text_output STRING) WITH (
                'provider' = 'triton', 'endpoint' = '{url}/v2/models', 'model-name' = '{MODEL}',
                'generate-parameters' = '{{"stream": true, "max_tokens": {MAX_TOKENS}}}')"""
        )
        self.sql.execute_sql(
            "CREATE TEMPORARY TABLE answers (id BIGINT, answer STRING) WITH ('connector' = 'blackhole')"
        )
        self.sources: set[int] = set()

    def _source(self, rows: int) -> str:
        if rows not in self.sources:
            self.sql.execute_sql(
                f"""CREATE TEMPORARY TABLE src_{rows} (id BIGINT) WITH ('connector' = 'datagen',
                    'number-of-rows' = '{rows}', 'rows-per-second' = '1000000000', 'fields.id.kind' = 'sequence',
                    'fields.id.start' = '1', 'fields.id.end' = '{rows}')"""
            )
            self.sql.execute_sql(
                f"CREATE TEMPORARY VIEW prompts_{rows} AS SELECT id, CONCAT('w', CAST(id AS STRING), "
                f"' {WORDS}') AS prompt FROM src_{rows}"
            )
            self.sources.add(rows)
        return f"prompts_{rows}"

    def run(self, rows: int, in_flight: int, is_async: bool, parties: CpuParties) -> tuple[float, dict[str, float]]:
        """Wall and CPU seconds of one INSERT job over ``rows`` prompts."""
        from benchmarks.procstat import cpu_delta

        config = f"MAP['max-concurrent-operations', '{in_flight}', 'async', '{str(is_async).lower()}']"
        statement = (
            f"INSERT INTO answers SELECT id, text_output FROM ML_PREDICT(TABLE {self._source(rows)}, "
            f"MODEL llm, DESCRIPTOR(prompt), {config})"
        )
        before, start = parties.snapshot(), time.perf_counter()
        self.sql.execute_sql(statement).wait()
        return time.perf_counter() - start, cpu_delta(before, parties.snapshot())

    def net(self, rows: int, in_flight: int, is_async: bool, parties: CpuParties) -> tuple[float, dict[str, float]]:
        """Seconds (wall, CPU) of the rows' work: the job's less the same job's over one row."""
        fixed, fixed_cpu = self.run(1, in_flight, is_async, parties)
        wall, cpu = self.run(rows, in_flight, is_async, parties)
        return max(wall - fixed, 1e-6), {k: max(v - fixed_cpu.get(k, 0.0), 0.0) for k, v in cpu.items()}


@contextmanager
def server(url: str | None) -> Iterator[tuple[str, int | None]]:
    """The Triton at ``url``, or one started (and stopped) here serving tiny-llm; and its pid
    when started here (its CPU is then measured)."""
    if url:
        yield url.rstrip("/"), None
        return
    from pyflink_triton import TritonServer

    with TritonServer(str(ROOT / "model_repository"), models=[MODEL]) as triton:
        yield triton.url, triton.pid


def measure(
    url: str, triton_pid: int | None, rows: int, flink_rows: int, in_flights: tuple[int, ...] = IN_FLIGHT
) -> list[dict[str, Any]]:
    from benchmarks.procstat import CpuParties

    results = []
    parties = CpuParties.find(triton_pid)
    for in_flight in in_flights:
        seconds, pieces, cpu = requests_loop(url, rows, in_flight, parties)
        results.append(_point("requests loop (per row)", in_flight, rows, seconds, pieces, cpu))
        _log(results[-1])
    jobs = FlinkJobs(url)
    parties = CpuParties.find(triton_pid)  # now with the JVM
    jobs.run(8, 1, False, parties)  # warm-up: the JVM, the worker, the model's first requests
    from pyflink_triton.flink.versions import flink_features

    for is_async in (False, True) if flink_features().async_scalar else (False,):  # async: PyFlink 2.3+
        for in_flight in in_flights:
            seconds, cpu = jobs.net(flink_rows, in_flight, is_async, parties)
            name = "ML_PREDICT async" if is_async else "ML_PREDICT (pandas)"
            results.append(_point(name, in_flight, flink_rows, seconds, flink_rows * MAX_TOKENS, cpu))
            _log(results[-1])
    return results


def _point(
    contender: str, in_flight: int, rows: int, seconds: float, pieces: int, cpu: dict[str, float]
) -> dict[str, Any]:
    return {
        "contender": contender,
        "in_flight": in_flight,
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "pieces_per_s": pieces / seconds,
        # CPU seconds per 1,000 rows: the client's side (Python, and Flink's JVM), and Triton's.
        "client_cpu_s_per_1k": (cpu.get("python", 0.0) + cpu.get("jvm", 0.0)) * 1000 / rows,
        "triton_cpu_s_per_1k": cpu["triton"] * 1000 / rows if "triton" in cpu else None,
    }


def _log(p: dict[str, Any]) -> None:
    print(
        f"{p['contender']:<26} {p['in_flight']:>3} in flight {p['rows']:>6} rows {p['rows_per_s']:>9,.0f} rows/s "
        f"{p['pieces_per_s']:>10,.0f} pieces/s",
        file=sys.stderr,
        flush=True,
    )


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table: one row per contender and in-flight count, the ratio to the loop."""
    loop = {p["in_flight"]: p["rows_per_s"] for p in results if p["contender"].startswith("requests")}
    lines = [
        "| contender | in flight | rows | rows/s | pieces/s | vs requests loop | client CPU s / 1k rows "
        "| Triton CPU s / 1k rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in sorted(results, key=lambda p: (p["in_flight"], p["contender"])):
        ratio = p["rows_per_s"] / loop[p["in_flight"]] if p["in_flight"] in loop else float("nan")
        triton = "n/a" if p["triton_cpu_s_per_1k"] is None else f"{p['triton_cpu_s_per_1k']:.2f}"
        lines.append(
            f"| {p['contender']} | {p['in_flight']} | {p['rows']:,} | {p['rows_per_s']:,.0f} | "
            f"{p['pieces_per_s']:,.0f} | {ratio:.2f}x | {p['client_cpu_s_per_1k']:.2f} | {triton} |"
        )
    return "\n".join(lines)


def block(command: str, results: list[dict[str, Any]]) -> str:
    return (
        f"{BEGIN}\n_Written by `{command}`; edit outside the markers only._\n\n"
        f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')}, {os.cpu_count()} cores; `{MODEL}`: decoupled, "
        f'`generate_stream` with `"stream": true`, {MAX_TOKENS} pieces (words) an answer, prompts of 8 '
        "words; Flink: local mini-cluster, parallelism 1, datagen -> ML_PREDICT -> blackhole, times net "
        "of a one-row job's; `in flight` is `max-concurrent-operations` (hence `max-concurrent-requests`) "
        "for ML_PREDICT and the threads of the loop.\n\n" + table(results) + f"\n{END}"
    )


def write(path: Path, text: str) -> None:
    """Put ``text`` between the markers of ``path`` (appended under a heading the first time)."""
    current = path.read_text() if path.exists() else ""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        current = head + text + rest.split(END, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n## LLM: generate_stream (`tiny-llm`)\n\n" + text + "\n"
    path.write_text(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks/llm.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows (about 2 minutes)")
    parser.add_argument("--rows", type=int, help="rows per point")
    parser.add_argument("--in-flight", default=",".join(map(str, IN_FLIGHT)), help="comma-separated requests in flight")
    parser.add_argument("--url", help="use this Triton (http://host:port) instead of starting one")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="'-': print only")
    args = parser.parse_args(argv)
    rows = args.rows or (400 if args.quick else 2000)
    command = shlex.join(["benchmarks/llm.py", *(sys.argv[1:] if argv is None else argv)])
    with server(args.url) as (url, triton_pid):
        results = measure(url, triton_pid, rows, rows, tuple(int(n) for n in args.in_flight.split(",")))
    text = block(command, results)
    print(table(results))
    if str(args.output) != "-":
        write(args.output, text)
    return 0


if __name__ == "__main__":
    # As benchmarks/run.py: the repository root first on the path, and for Flink's workers.
    sys.path[0] = str(ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    )
    raise SystemExit(main())
