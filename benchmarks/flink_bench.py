"""The Flink contenders of one workload, each a job from generated rows to a blackhole sink.

Every contender is measured as repeats of (a 1-row job, then the N-row job) in the same warm
process: the 1-row job is the fixed cost of a job of that kind (planning, submission, start of
the Python worker, opening the function), and

    net rows/s = N / (median wall of the N-row jobs - median wall of the 1-row jobs).

The repeats run in rounds, each round every contender once (as the client benchmark alternates
its clients), so that a busy spell of this shared machine does not land on one contender alone.
The 1-row job runs once per round for each contender and batch size, right before its N-row job.

CPU is charged the same way (N-row job minus 1-row job) to Python (this process and the Python
worker processes the JVM starts for each job), to the JVM, and to Triton.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyflink_triton import triton_udf

from . import flink_env
from .flink_env import Env
from .flink_udfs import per_row_udf, zero_udf
from .procstat import CpuParties, cpu_delta
from .results import (
    ML_PREDICT,
    ML_PREDICT_ASYNC,
    ML_PREDICT_DEFAULT,
    NO_UDF,
    PER_ROW_UDF,
    TRITON_UDF,
    ZERO_UDF,
    Point,
    best,
    median,
)
from .server import Triton
from .settings import Scale
from .workloads import Workload

Statement = Callable[[int], str]  # rows -> the INSERT statement over that many rows


@dataclass(frozen=True)
class Job:
    """One contender's job: where it runs, its statement, its rows, and the batch it sets."""

    env: Env
    contender: str
    statement: Statement
    rows: int
    batch: int | None  # Arrow batch (and bundle) size set before each run; None: leave the env alone


@dataclass
class FlinkBench:
    """One workload's Flink contenders over the shared environments."""

    triton: Triton
    workload: Workload
    scale: Scale
    envs: dict[str, Env]
    parties: CpuParties

    # -- statements ---------------------------------------------------------------------------

    def _insert(self, env: Env, rows: int, select: str, into_input: bool = False) -> str:
        view = flink_env.source(env, self.workload, rows)
        sink_in, sink_out = flink_env.sinks(env, self.workload)
        return f"INSERT INTO {sink_in if into_input else sink_out} {select.format(view=view)}"

    def _udf_statement(self, env: Env, name: str) -> Statement:
        col = self.workload.input_column
        return lambda rows: self._insert(env, rows, f"SELECT id, {name}({col}) FROM {{view}}")

    def predict_statement(self, env: Env, config: str = "") -> Statement:
        w = self.workload
        model = flink_env.model(env, self.triton, w)
        extra = f", {config}" if config else ""
        return lambda rows: self._insert(
            env,
            rows,
            f"SELECT id, {w.output_column} FROM ML_PREDICT(TABLE {{view}}, MODEL {model}, "
            f"DESCRIPTOR({w.input_column}){extra})",
        )

    # -- measuring ----------------------------------------------------------------------------

    def _timed(self, env: Env, statement: str) -> tuple[float, dict[str, float]]:
        before = self.parties.snapshot()
        wall = env.execute(statement)
        return wall, cpu_delta(before, self.parties.snapshot())

    def run_rounds(
        self, jobs: Sequence[Job], log: Callable[[Point], None], say: Callable[[str], None] = lambda _: None
    ) -> list[Point]:
        """``repeats`` rounds over ``jobs``; one point per job, logged when complete."""
        fixed: dict[tuple[str, int | None], list[tuple[float, dict[str, float]]]] = {}
        runs: list[list[tuple[float, dict[str, float]]]] = [[] for _ in jobs]
        for round_ in range(self.scale.repeats):
            say(f"{self.workload.name}: round {round_ + 1} of {self.scale.repeats} over {len(jobs)} job(s)")
            for job, done in zip(jobs, runs):
                if job.batch is not None:
                    job.env.set_batch(job.batch)
                # Per batch size too: a 1-row job's time depended on the batch setting and on
                # its place in the round by up to 0.8 s, which skewed the sweep's net rates.
                mine = fixed.setdefault((job.contender, job.batch), [])
                if self.scale.subtract_fixed and len(mine) <= round_:
                    mine.append(self._timed(job.env, job.statement(1)))
                done.append(self._timed(job.env, job.statement(job.rows)))
        points = [self._point(job, done, fixed.get((job.contender, job.batch), [])) for job, done in zip(jobs, runs)]
        for p in points:
            log(p)
        return points

    def _point(
        self, job: Job, runs: Sequence[tuple[float, dict[str, float]]], fixed: Sequence[tuple[float, dict[str, float]]]
    ) -> Point:
        """The net rate and CPU of one job's runs (gross when no fixed cost was measured)."""
        point = Point(
            self.workload.name,
            "flink",
            job.contender,
            job.batch,
            None,
            job.rows,
            wall_s=[r[0] for r in runs],
            fixed_s=[f[0] for f in fixed],
        )
        net = median(point.wall_s) - (median(point.fixed_s) if fixed else 0.0)
        if net > 0:
            point.rows_per_s = job.rows / net
        else:
            point.note = "within the fixed cost's noise: raise the rows"
        cpus = [
            {k: v - (fixed[i][1].get(k, 0.0) if fixed else 0.0) for k, v in cpu.items()}
            for i, (_, cpu) in enumerate(runs)
        ]
        point.cpu_s_per_1m = {k: median([c[k] for c in cpus]) / job.rows * 1e6 for k in cpus[0]}
        if not self.scale.subtract_fixed:
            point.note = "gross: fixed job cost not subtracted"
        if job.contender == ML_PREDICT_DEFAULT:
            setting = job.env.batch_setting()
            point.note = (
                f"arrow batch after the job: {setting or 'not set (Flink default 1000)'}; " + point.note
            ).rstrip("; ")
        return point

    # -- contenders ---------------------------------------------------------------------------

    @property
    def rows(self) -> int:
        return self.scale.flink_rows[self.workload.name]

    def _no_udf(self) -> Job:
        env = self.envs["plain"]
        col = self.workload.input_column

        def statement(rows: int) -> str:
            return self._insert(env, rows, f"SELECT id, {col} FROM {{view}}", into_input=True)

        return Job(env, NO_UDF, statement, self.scale.ceiling_rows[self.workload.name], None)

    def _zero_sweep(self) -> list[Job]:
        env = self.envs["sweep"]
        name = flink_env.function(env, f"zero_{flink_env.ident(self.workload)}", lambda: zero_udf(self.workload))
        statement = self._udf_statement(env, name)
        rows = self.scale.zero_rows[self.workload.name]
        return [Job(env, ZERO_UDF, statement, rows, batch) for batch in self.scale.sweep]

    def _predict_sweep(self) -> list[Job]:
        env = self.envs["sweep"]
        statement = self.predict_statement(env)
        return [Job(env, ML_PREDICT, statement, self.rows, batch) for batch in self.scale.sweep]

    def _predict_default(self) -> Job:
        env = self.envs["default"]  # nothing configured: TritonSql's defaults
        return Job(env, ML_PREDICT_DEFAULT, self.predict_statement(env), self.rows, None)

    def _predict_async(self) -> Job:
        env = self.envs["async"]
        statement = self.predict_statement(env, "MAP['async', 'true']")
        return Job(env, ML_PREDICT_ASYNC, statement, self.scale.async_rows, None)

    def _per_row(self) -> Job:
        env = self.envs["plain"]
        name = flink_env.function(
            env, f"per_row_{flink_env.ident(self.workload)}", lambda: per_row_udf(self.triton.url, self.workload)
        )
        return Job(env, PER_ROW_UDF, self._udf_statement(env, name), self.scale.per_row_rows, None)

    def _triton_udf(self, batch: int) -> Job:
        env = self.envs["sweep"]
        w = self.workload
        name = flink_env.function(
            env,
            f"triton_{flink_env.ident(w)}",
            lambda: triton_udf(
                {"endpoint": f"{self.triton.url}/v2/models", "model-name": w.model}, result_type=w.output_type
            ),
        )
        return Job(env, TRITON_UDF, self._udf_statement(env, name), self.rows, batch)

    def run_all(self, log: Callable[[Point], None], say: Callable[[str], None]) -> list[Point]:
        """Every contender in interleaved rounds; then triton_udf at ML_PREDICT's best batch."""
        jobs = [
            self._no_udf(),
            *self._zero_sweep(),
            *self._predict_sweep(),
            self._predict_default(),
            self._predict_async(),
            self._per_row(),
        ]
        points = self.run_rounds(jobs, log, say)
        top = best(p for p in points if p.contender == ML_PREDICT)
        batch = top.batch if top and top.batch else self.scale.sweep[-1]
        return points + self.run_rounds([self._triton_udf(batch)], log, say)
