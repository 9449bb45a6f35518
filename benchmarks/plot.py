"""rows_per_s.png: rows/s against batch size, per contender, one column per workload.

Top row: the Flink jobs against the Arrow batch size (contenders without a batch setting are
horizontal lines). Bottom row: the clients against rows per request, solid at 1 request in
flight, dashed at 4. Log scales: the contenders span four orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .results import CLIENTS, FLINK_CONTENDERS, JAVA_PATTERN, Point, find


def _flink_axis(ax: Any, points: Sequence[Point], workload: str, sweep: Sequence[int], colors: Sequence[str]) -> None:
    for i, contender in enumerate((*FLINK_CONTENDERS, JAVA_PATTERN)):
        color = colors[i % len(colors)]
        rated = [p for p in find(points, workload, contender) if p.rows_per_s]
        swept = sorted((p.batch, p.rows_per_s) for p in rated if p.batch is not None and p.group == "flink")
        if len(swept) > 1:
            ax.plot(*zip(*swept), marker="o", label=contender, color=color)
        elif len(swept) == 1:
            ax.plot(*swept[0], marker="D", linestyle="none", label=f"{contender} (batch {swept[0][0]})", color=color)
        else:
            for p in rated:
                ax.axhline(p.rows_per_s, linestyle=":", label=contender, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(list(sweep), [str(b) for b in sweep])
    ax.set_title(f"{workload}: Flink jobs")
    ax.set_xlabel("Arrow batch (rows)")
    ax.set_ylabel("net rows/s")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def _client_axis(ax: Any, points: Sequence[Point], workload: str) -> None:
    for contender in CLIENTS:
        for conc, style in ((1, "-"), (4, "--")):
            line = sorted(
                (p.batch, p.rows_per_s)
                for p in find(points, workload, contender, concurrency=conc)
                if p.rows_per_s and p.batch
            )
            if line:
                ax.plot(*zip(*line), style, marker="o", label=f"{contender}, {conc} in flight")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{workload}: clients alone")
    ax.set_xlabel("rows per request")
    ax.set_ylabel("rows/s")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)


def draw(points: Sequence[Point], workloads: Sequence[str], sweep: Sequence[int], path: Path) -> None:
    """Draw the figure into ``path`` (PNG, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(2, len(workloads), figsize=(6 * len(workloads), 9), squeeze=False)
    for column, workload in enumerate(workloads):
        _flink_axis(axes[0][column], points, workload, sweep, colors)
        _client_axis(axes[1][column], points, workload)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
