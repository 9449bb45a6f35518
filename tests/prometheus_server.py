"""A private Prometheus server (Debian's ``prometheus`` package) for tests, and its ``promtool``.

::

    with PrometheusServer(config_dir) as prom:       # config_dir/prometheus.yml, as deployed
        prom.query('flink_taskmanager_job_task_operator_triton_rows')

It runs the ``prometheus.yml`` of a folder the test prepared (a copy of ``deploy/prometheus/``
plus the test's own ``targets/*.yml``), listens on 127.0.0.1 on a free port, keeps its data in a
temporary folder, and is stopped (by its pid) by the code that started it. Readiness is polled
on ``/-/ready``. ``make prometheus`` installs the package (root, or sudo); where no apt-get
exists, the package cannot be installed and the tests that need it are skipped, saying so.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest

from .conftest import free_port

__all__ = ["PrometheusServer", "require_binary"]

HOST = "127.0.0.1"


def require_binary(name: str) -> str:
    """The path of ``prometheus`` or ``promtool``; skips only where Debian's package cannot be
    installed (no apt-get), fails where ``make prometheus`` would have installed it."""
    path = shutil.which(name)
    if path:
        return path
    if shutil.which("apt-get") is None:
        pytest.skip(f"{name} is not installed and this system has no apt-get for Debian's prometheus package")
    pytest.fail(
        f"{name} is not installed: `make prometheus` installs Debian's prometheus package (as root or with sudo)"
    )


class PrometheusServer:
    """``prometheus --config.file=CONFIG_DIR/prometheus.yml`` on 127.0.0.1:free port."""

    def __init__(self, config_dir: Path, start_timeout_s: float = 60.0) -> None:
        self.config_dir = config_dir
        self.start_timeout_s = start_timeout_s
        self.port = 0
        self.data: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = config_dir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        binary = require_binary("prometheus")
        self.data = Path(tempfile.mkdtemp(prefix="prometheus-data-"))
        self.port = free_port()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config_dir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.data}",
                    f"--web.listen-address={HOST}:{self.port}",
                    "--web.enable-lifecycle",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.config_dir,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready on {self.url} within {self.start_timeout_s:.0f}s\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
            self.process = None
        if self.data is not None:
            shutil.rmtree(self.data, ignore_errors=True)
            self.data = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    # -- HTTP API ---------------------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>``; the ``data`` of a successful answer."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query: one ``{"metric": labels, "value": [t, "v"]}`` per series."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def values(self, expr: str, by: str) -> dict[str, float]:
        """An instant query's values by the label ``by`` (one series per value expected)."""
        return {s["metric"].get(by, ""): float(s["value"][1]) for s in self.query(expr)}
