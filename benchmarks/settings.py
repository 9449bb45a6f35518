"""How big a run is: row counts, repeats, the batch sweep and the client points per scale.

``full`` is what ``make bench`` runs (about 20 minutes on 2 cores); ``quick`` is for
development (a minute or two); ``tiny`` is the smoke test's (a few hundred rows, the
classifier only, no fixed-cost subtraction: rates are gross).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# The client points of the issue: rows per request x requests in flight.
CLIENT_POINTS = tuple((rows, conc) for rows in (1, 64, 1024) for conc in (1, 4))
# Flink's own default for async scalar functions and the Java provider's: 10 rows in flight.
JAVA_IN_FLIGHT = 10


@dataclass(frozen=True)
class Scale:
    """Sizes of one run."""

    name: str
    repeats: int
    workloads: tuple[str, ...]
    flink_rows: dict[str, int]  # rows per Flink inference contender, per workload
    # The no-UDF and zero-UDF jobs are much faster than inference: given the same rows they
    # would end within the noise of their fixed cost, so they get more (rates are net anyway).
    ceiling_rows: dict[str, int]  # the no-UDF job
    zero_rows: dict[str, int]  # the zero pandas UDF
    async_rows: int  # ML_PREDICT async mode: about 5k rows/s
    per_row_rows: int  # the per-row tritonclient UDF: about 1k rows/s
    java_rows: int  # the Java-pattern emulation: about 3.5k rows/s
    sweep: tuple[int, ...]  # Arrow batch sizes (and bundle sizes)
    client_points: tuple[tuple[int, int], ...]
    client_rows: dict[str, int]  # rows per client point, per workload, within the bounds below
    client_requests: tuple[int, int]  # (min, max) requests per client point
    subtract_fixed: bool  # measure a 1-row job per repeat and subtract it
    perf_window_ms: int  # perf_analyzer's measurement window (it runs about 3.5 of them)
    memory_rows: tuple[int, int] = (1_000_000, 5_000_000)

    def client_requests_for(self, workload: str, batch: int) -> int:
        """Requests per round at ``batch`` rows each: the workload's ``client_rows``, bounded."""
        low, high = self.client_requests
        return max(low, min(high, self.client_rows[workload] // batch))


SCALES = {
    "full": Scale(
        name="full",
        repeats=3,
        workloads=("classifier", "text-classification", "embedding"),
        # Sized for about 20 minutes on 2 cores, with a net time (past the ~2 s fixed cost of a
        # job) of several seconds per job: at about one second, the fixed cost's noise swung net
        # rates by +-30 %. text-classification's model does ~40k rows/s; embedding's 384 floats
        # per row go through PyFlink at ~45k rows/s: fewer rows for them.
        flink_rows={"classifier": 1_500_000, "text-classification": 120_000, "embedding": 150_000},
        ceiling_rows={"classifier": 4_000_000, "text-classification": 4_000_000, "embedding": 4_000_000},
        zero_rows={"classifier": 1_500_000, "text-classification": 1_000_000, "embedding": 150_000},
        async_rows=10_000,
        per_row_rows=1_500,
        java_rows=5_000,
        sweep=(1000, 4096, 10000, 20000),
        client_points=CLIENT_POINTS,
        client_rows={"classifier": 300_000, "text-classification": 30_000, "embedding": 60_000},
        # Up to 2000 requests a point: the 1-row points take about a second a round (with 500,
        # one busy spell of the machine moved a 1-row point by 40 %).
        client_requests=(30, 2000),
        subtract_fixed=True,
        perf_window_ms=300,
    ),
    "quick": Scale(
        name="quick",
        repeats=1,
        workloads=("classifier", "embedding"),
        flink_rows={"classifier": 50_000, "text-classification": 10_000, "embedding": 10_000},
        ceiling_rows={"classifier": 500_000, "text-classification": 500_000, "embedding": 500_000},
        zero_rows={"classifier": 100_000, "text-classification": 50_000, "embedding": 10_000},
        async_rows=2_000,
        per_row_rows=300,
        java_rows=1_000,
        sweep=(1000, 20000),
        client_points=CLIENT_POINTS,
        client_rows={"classifier": 50_000, "text-classification": 10_000, "embedding": 20_000},
        client_requests=(10, 300),
        subtract_fixed=True,
        perf_window_ms=300,
    ),
    "tiny": Scale(
        name="tiny",
        repeats=1,
        workloads=("classifier",),
        flink_rows={"classifier": 300, "text-classification": 300, "embedding": 300},
        ceiling_rows={"classifier": 300, "text-classification": 300, "embedding": 300},
        zero_rows={"classifier": 300, "text-classification": 300, "embedding": 300},
        async_rows=300,
        per_row_rows=100,
        java_rows=100,
        sweep=(1000,),
        client_points=CLIENT_POINTS,
        client_rows={"classifier": 2_000, "text-classification": 2_000, "embedding": 2_000},
        client_requests=(10, 20),
        subtract_fixed=False,
        perf_window_ms=100,
        memory_rows=(1_000, 5_000),
    ),
}


def scale_with(
    scale: Scale, *, rows: int | None = None, repeats: int | None = None, workloads: tuple[str, ...] | None = None
) -> Scale:
    """``scale`` with the command line's overrides: ``rows`` for every workload's Flink jobs."""
    if rows is not None:
        every = {w: rows for w in scale.flink_rows}
        scale = replace(scale, flink_rows=every, ceiling_rows=every, zero_rows=every)
    if repeats is not None:
        scale = replace(scale, repeats=repeats)
    if workloads is not None:
        scale = replace(scale, workloads=workloads)
    return scale
