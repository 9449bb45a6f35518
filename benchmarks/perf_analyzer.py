"""NVIDIA's reference load generator, ``perf_analyzer``, as one more client contender.

The binary comes with ``tritonclient[all]==2.51.0`` (the bench extra) in the venv's ``bin/``.
It links ``libb64.so.0d`` and ``libcudart.so.12``; both are inside the nvidia-pytriton wheel's
``nvidia_pytriton.libs`` under hashed names, so symlinks with the plain names in a private
folder on ``LD_LIBRARY_PATH`` let it run without CUDA installed. When it cannot run, the reason
is reported as the contender's ``skipped`` text, never dropped silently.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .workloads import Workload

_LIBS = {"libb64.so.0d": "libb64-*.so.0d", "libcudart.so.12": "libcudart-*.so.12*"}


def _wheel_libs() -> Path | None:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent.parent / "nvidia_pytriton.libs"
    return folder if folder.is_dir() else None


def _binary() -> Path | None:
    local = Path(sys.executable).parent / "perf_analyzer"
    found = local if local.is_file() else shutil.which("perf_analyzer")
    return Path(found) if found else None


@dataclass
class PerfAnalyzer:
    """A runnable perf_analyzer, or the reason there is none (``skipped``)."""

    binary: Path | None
    env: dict[str, str]
    skipped: str | None
    workdir: Path

    @classmethod
    def prepare(cls, workdir: Path) -> PerfAnalyzer:
        """Find the binary, link its libraries into ``workdir``, and check that it starts."""
        binary = _binary()
        if binary is None:
            return cls(
                None,
                {},
                "perf_analyzer not found: it ships with tritonclient[all]==2.51.0 "
                "(pip install -e '.[bench]', as `make bench` does)",
                workdir,
            )
        libs = _wheel_libs()
        if libs is not None:
            for plain, pattern in _LIBS.items():
                hashed = sorted(libs.glob(pattern))
                if hashed and not (workdir / plain).exists():
                    (workdir / plain).symlink_to(hashed[0])
        path = os.pathsep.join(p for p in (str(workdir), os.environ.get("LD_LIBRARY_PATH", "")) if p)
        env = {**os.environ, "LD_LIBRARY_PATH": path}
        probe = subprocess.run([str(binary), "--help"], env=env, capture_output=True, text=True, timeout=60)
        if "error while loading shared libraries" in probe.stderr or probe.returncode == 127:
            reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit {probe.returncode}"
            return cls(binary, env, f"perf_analyzer cannot start: {reason}", workdir)
        return cls(binary, env, None, workdir)

    def measure(
        self, url: str, workload: Workload, batch: int, concurrency: int, window_ms: int
    ) -> tuple[float, float, float, int]:
        """One measurement: (rows/s, p50 ms, p99 ms, requests in the reported windows).

        HTTP, binary tensors both ways, random (FP32) or given (BYTES) input data; time windows
        of ``window_ms`` until three agree within 50 %. (``--request-count`` would divide by a
        padded duration: 200 requests of 1 ms each came out as 200/s.)
        """
        assert self.binary is not None and self.skipped is None
        with tempfile.NamedTemporaryFile(suffix=".csv", dir=self.workdir, delete=False) as f:
            report = Path(f.name)
        command = [
            str(self.binary),
            "-m",
            workload.model,
            "-u",
            url.removeprefix("http://"),
            "-i",
            "http",
            "-b",
            str(batch),
            "--concurrency-range",
            str(concurrency),
            "--measurement-interval",
            str(window_ms),
            "--stability-percentage",
            "50",
            "--max-trials",
            "8",
            "--input-tensor-format",
            "binary",
            "--output-tensor-format",
            "binary",
            "-f",
            str(report),
            *workload.perf_analyzer_args,
        ]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
            raise RuntimeError(f"perf_analyzer exited with {done.returncode}: {said}")
        with report.open() as f:
            row = next(csv.DictReader(f))
        report.unlink()
        counts = [
            int(line.split(":")[1]) for line in done.stdout.splitlines() if line.strip().startswith("Request count:")
        ]
        return (
            float(row["Inferences/Second"]),
            float(row["p50 latency"]) / 1000,
            float(row["p99 latency"]) / 1000,
            counts[0] if counts else 0,
        )
