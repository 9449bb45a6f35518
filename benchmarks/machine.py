"""What the numbers were measured on: the machine and the versions of everything involved."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def machine() -> dict[str, str]:
    """Cores, CPU model, RAM, OS."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": f"{usable} usable ({os.cpu_count()} online)",
        "cpu": _cpu_model(),
        "ram": f"{_memory_gib():.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(tritonserver: str) -> dict[str, str]:
    """Python, Flink, Triton server and client, and the libraries on the hot path."""
    return {
        "python": platform.python_version(),
        "apache-flink (pyflink)": _version("apache-flink"),
        "tritonserver": tritonserver,
        "tritonclient": _version("tritonclient"),
        "pyflink-triton": _version("pyflink-triton"),
        "aiohttp": _version("aiohttp"),
        "numpy": _version("numpy"),
        "pyarrow": _version("pyarrow"),
        "java": _java(),
    }


def _java() -> str:
    java = shutil.which(
        "java", path=os.path.join(os.environ.get("JAVA_HOME", ""), "bin") + os.pathsep + os.environ.get("PATH", "")
    )
    if java is None:
        return "not found"
    done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    lines = (done.stderr or done.stdout).splitlines()
    return lines[0].strip() if lines else "unknown"
