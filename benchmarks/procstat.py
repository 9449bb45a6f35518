"""CPU seconds and resident memory of processes, read from /proc (Linux only, no psutil).

The benchmark charges CPU to three parties: Python (this process: the client, or in a local
Flink job the Python worker when PyFlink runs it inside the driver, loopback mode; plus the
worker processes the JVM starts in process mode), Flink's JVM (a child of this process), and
Triton (the server and its Python-backend stubs).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads); 0 when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15 of stat)


def reaped_children_cpu_seconds(pid: int) -> float:
    """CPU seconds of the process's children that ended and were waited for (cutime + cstime)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[13]) + int(fields[14])) / _TICK


def rss_bytes(pid: int) -> int:
    """Resident set size of one process in bytes; 0 when it is gone."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * _PAGE


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                parents[int(entry)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """Pids of every live process below ``root`` (not ``root`` itself)."""
    parents = _parents()
    found: list[int] = []
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def command_name(pid: int) -> str:
    """The process's command name (``comm``), '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class CpuParties:
    """Which processes count as whom: the JVM pids and the Triton pids (server + stubs)."""

    jvm: tuple[int, ...]
    triton: tuple[int, ...]

    @classmethod
    def find(cls, triton_pid: int | None) -> CpuParties:
        """The JVMs below this process, and the Triton tree when its pid is known."""
        jvm = tuple(p for p in descendants(os.getpid()) if command_name(p) == "java")
        triton = (triton_pid, *descendants(triton_pid)) if triton_pid else ()
        return cls(jvm, triton)

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far: python, jvm, triton (absent when unknown).

        ``python`` is this process (the client, or the loopback-mode Python worker) plus the
        Python workers the JVM starts in process mode: the live ones, and through the JVM's
        reaped-children time the ones that ended (a worker lives for one job).
        """
        workers = [p for p in descendants(os.getpid()) if command_name(p).startswith("python")]
        snap = {"python": time.process_time() + _total(workers) + sum(reaped_children_cpu_seconds(p) for p in self.jvm)}
        if self.jvm:
            snap["jvm"] = _total(self.jvm)
        if self.triton:
            snap["triton"] = _total(self.triton)
        return snap


def _total(pids: Iterable[int]) -> float:
    return sum(cpu_seconds(p) for p in pids)


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, per party."""
    return {k: after[k] - before[k] for k in before if k in after}
