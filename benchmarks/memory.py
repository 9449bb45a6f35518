"""Whether the Python worker's memory stays flat as rows grow (``--memory``).

In a local mini-cluster PyFlink runs the Python worker either inside this process (loopback
mode) or as a process the JVM starts for the job (process mode); which one a job gets is
PyFlink's choice. A thread samples both while ML_PREDICT runs over the smaller and then the
larger row count: this process's resident memory, and the sum over the Python processes below
it. The worker's peak is the latter when a worker process was seen, else the former.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .procstat import command_name, descendants, rss_bytes

_SAMPLE_S = 0.05


def worker_processes_rss() -> int:
    """Resident bytes of every Python process below this one (0 when there is none)."""
    return sum(rss_bytes(p) for p in descendants(os.getpid()) if command_name(p).startswith("python"))


@dataclass
class Peak:
    """Resident bytes: this process before the job and at its peak, and the worker processes' peak."""

    driver_before: int
    driver_peak: int
    workers_peak: int

    @property
    def worker_peak(self) -> int:
        """The Python worker's peak: a worker process's when there was one, else this process's."""
        return self.workers_peak or self.driver_peak

    @property
    def mode(self) -> str:
        return "process" if self.workers_peak else "loopback"


def peak_while(run: Callable[[], object]) -> Peak:
    """Run ``run()`` while sampling resident memory; the peaks seen."""
    peak = Peak(rss_bytes(os.getpid()), rss_bytes(os.getpid()), 0)
    done = threading.Event()

    def sample() -> None:
        while not done.wait(_SAMPLE_S):
            peak.driver_peak = max(peak.driver_peak, rss_bytes(os.getpid()))
            peak.workers_peak = max(peak.workers_peak, worker_processes_rss())

    sampler = threading.Thread(target=sample, name="rss-sampler", daemon=True)
    sampler.start()
    try:
        run()
    finally:
        done.set()
        sampler.join()
    return peak
