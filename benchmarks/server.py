"""The one Triton every contender talks to: started here on a repository made of the workloads'
models, or an already running one (``--url``, as the smoke test passes its session server).

The ``embedding`` model lives in ``benchmarks/models/`` rather than ``model_repository/``: the
test suite pins the set of models there, and the benchmark is its only user.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyflink_triton import TritonServer

from .workloads import WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_MODELS = ROOT / "model_repository"
BENCH_MODELS = Path(__file__).resolve().parent / "models"


@dataclass(frozen=True)
class Triton:
    """Where the server is, its pid when known (for its CPU), and what it serves."""

    url: str
    pid: int | None
    version: str

    def model_ready(self, model: str) -> bool:
        """Whether ``model`` is loaded and ready on the server."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/models/{model}/ready", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False


def server_version(url: str) -> str:
    """The server's version from its metadata (``GET /v2``)."""
    with urllib.request.urlopen(f"{url}/v2", timeout=5) as response:
        return str(json.loads(response.read()).get("version", "?"))


def _repository(workloads: Sequence[str], into: Path) -> list[str]:
    """Copy the workloads' models into ``into``; return their names."""
    models = []
    for name in workloads:
        workload = WORKLOADS[name]
        source = (BUNDLED_MODELS if workload.bundled else BENCH_MODELS) / workload.model
        if workload.model not in models:
            shutil.copytree(source, into / workload.model, ignore=shutil.ignore_patterns("__pycache__"))
            models.append(workload.model)
    return models


@contextmanager
def triton(workloads: Sequence[str], url: str | None = None, pid: int | None = None) -> Iterator[Triton]:
    """A server serving ``workloads``' models: the one at ``url``, or one started (and stopped) here."""
    if url is not None:
        yield Triton(url.rstrip("/"), pid, server_version(url))
        return
    with tempfile.TemporaryDirectory(prefix="bench-models-") as folder:
        models = _repository(workloads, Path(folder))
        # TritonServer binds 127.0.0.1 on free ports, polls every model's ready endpoint and
        # stops the process on exit, failures included.
        with TritonServer(folder, models=models) as server:
            yield Triton(server.url, server.pid, server_version(server.url))
