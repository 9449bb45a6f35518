"""A private standalone Flink cluster (one JobManager, one TaskManager) started from the PyFlink wheel.

::

    with FlinkCluster(slots=2) as cluster:
        subprocess.run([..., "--jobmanager", cluster.rest_address])
        print(cluster.taskmanager_out())

Everything lives in a temporary folder: a copy of ``pyflink/conf`` (``FLINK_CONF_DIR``) whose
``config.yaml`` binds every service to 127.0.0.1 (REST and JobManager RPC on free ports chosen
here, every other port ephemeral), the logs (``FLINK_LOG_DIR``; the TaskManager's stdout, where
the ``print`` sink writes, is its ``*taskexecutor*.out``) and the daemons' pid files
(``FLINK_PID_DIR``). Readiness is polled on the REST API (``/overview``: a TaskManager with free
slots), never waited for with a sleep. :meth:`stop` runs ``stop-cluster.sh`` and then makes sure
that every process this cluster started (the daemons from its own pid files, and their
descendants, such as Python workers) is gone, signalling only those, by pid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pyflink
import yaml

from .conftest import clean_env, free_port

__all__ = ["FlinkCluster", "FlinkClusterError"]

PYFLINK_HOME = Path(pyflink.__file__).resolve().parent
HOST = "127.0.0.1"


class FlinkClusterError(RuntimeError):
    """The cluster did not start (the message carries the end of its logs)."""


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, sub in value.items():
            flat.update(_flatten(sub, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: value}


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat): pid plus this names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]


def _running(pid: int) -> bool:
    """Whether the process exists and has not exited: a killed daemon's parent is init, which
    may take seconds to reap it, and until then it is a zombie (state Z) with its start time."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


class FlinkCluster:
    """A standalone session cluster on 127.0.0.1; use as a context manager or call start()/stop()."""

    def __init__(
        self,
        slots: int = 2,
        *,
        jobmanager_memory: str = "1024m",
        taskmanager_memory: str = "1536m",
        python_executable: str | None = None,
        extra_config: dict[str, str] | None = None,
        start_timeout_s: float = 90.0,
    ) -> None:
        self.slots = slots
        self.jobmanager_memory = jobmanager_memory
        self.taskmanager_memory = taskmanager_memory
        self.python_executable = python_executable or sys.executable
        self.extra_config = dict(extra_config or {})
        self.start_timeout_s = start_timeout_s
        self.rest_port = 0
        self.rpc_port = 0
        self.root: Path | None = None
        self.start_seconds: float | None = None
        self._processes: dict[int, str] = {}  # pid -> start time, of every process this cluster started

    # -- paths and addresses ------------------------------------------------------------------------
    @property
    def rest_address(self) -> str:
        """``127.0.0.1:PORT`` of the REST API (what ``--jobmanager`` takes)."""
        return f"{HOST}:{self.rest_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.rest_address}"

    @property
    def conf_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "conf"

    @property
    def log_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "log"

    @property
    def pid_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "pid"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in clean_env().items() if not k.startswith(("FLINK_", "HADOOP_", "YARN_"))}
        env.update(
            FLINK_CONF_DIR=str(self.conf_dir),
            FLINK_LOG_DIR=str(self.log_dir),
            FLINK_PID_DIR=str(self.pid_dir),
            FLINK_IDENT_STRING="pytest",
        )
        # The scripts look for `python` only when FLINK_HOME is not next to bin/; keep the venv first anyway.
        env["PATH"] = str(Path(self.python_executable).parent) + os.pathsep + env.get("PATH", "")
        return env

    # -- configuration ------------------------------------------------------------------------------
    def _write_conf(self) -> None:
        shutil.copytree(PYFLINK_HOME / "conf", self.conf_dir)
        base = _flatten(yaml.safe_load((self.conf_dir / "config.yaml").read_text()) or {})
        self.rest_port, self.rpc_port = free_port(), free_port()
        while self.rpc_port == self.rest_port:
            self.rpc_port = free_port()
        config: dict[str, Any] = {
            **base,
            "jobmanager.rpc.address": HOST,
            "jobmanager.bind-host": HOST,
            "jobmanager.rpc.port": self.rpc_port,
            "jobmanager.memory.process.size": self.jobmanager_memory,
            "taskmanager.host": HOST,
            "taskmanager.bind-host": HOST,
            "taskmanager.rpc.port": "0",  # 0: an ephemeral port chosen by the OS (no race)
            "taskmanager.data.port": 0,
            "taskmanager.collect-sink.port": 0,
            "taskmanager.numberOfTaskSlots": self.slots,
            "taskmanager.memory.process.size": self.taskmanager_memory,
            "blob.server.port": "0",
            "metrics.internal.query-service.port": "0",
            "rest.address": HOST,
            "rest.bind-address": HOST,
            "rest.port": self.rest_port,
            "parallelism.default": 1,
            "python.executable": self.python_executable,
            "python.client.executable": self.python_executable,
            "io.tmp.dirs": str(self.root / "tmp"),
            **self.extra_config,
        }
        (self.root / "tmp").mkdir()
        (self.conf_dir / "config.yaml").write_text(
            yaml.safe_dump(config, default_flow_style=False, sort_keys=True, allow_unicode=True)
        )
        (self.conf_dir / "masters").write_text(f"{HOST}:{self.rest_port}\n")
        (self.conf_dir / "workers").write_text(f"{HOST}\n")

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Self:
        began = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="flink-cluster-"))
        try:
            self.log_dir.mkdir()
            self.pid_dir.mkdir()
            self._write_conf()
            # cwd: the daemons (and the Python workers they start) inherit it, and a worker run with
            # `python -m` puts its cwd first on sys.path: keep the caller's folder out of it.
            script = subprocess.run(
                ["bash", str(PYFLINK_HOME / "bin" / "start-cluster.sh")],
                env=self._env(),
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            self._remember_daemons()
            if script.returncode != 0:
                raise FlinkClusterError(f"start-cluster.sh exited {script.returncode}:\n{script.stdout}{script.stderr}")
            self._wait_ready(began + self.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _daemon_pids(self) -> list[int]:
        pids = []
        if self.root is not None and self.pid_dir.is_dir():
            for pid_file in self.pid_dir.glob("*.pid"):
                pids += [int(line) for line in pid_file.read_text().split() if line.isdigit()]
        return pids

    def _remember_daemons(self) -> None:
        """Record the daemons (and everything they started) by pid and start time."""
        for pid in self._daemon_pids():
            for p in [pid, *_descendants(pid)]:
                started = _start_time(p)
                if started is not None:
                    self._processes.setdefault(p, started)

    def _alive(self) -> list[int]:
        return [pid for pid, started in self._processes.items() if _start_time(pid) == started]

    def _wait_ready(self, deadline: float) -> None:
        last: Any = None
        while time.monotonic() < deadline:
            self._remember_daemons()
            if self._processes and not self._alive():
                raise FlinkClusterError(f"the Flink daemons exited during start-up\n{self.log_tail()}")
            try:
                last = self.rest("/overview", timeout=2)
            except (OSError, ValueError):
                last = None
            if last and last.get("taskmanagers", 0) >= 1 and last.get("slots-available", 0) >= 1:
                return
            time.sleep(0.2)
        raise FlinkClusterError(
            f"no TaskManager with free slots on {self.rest_url} within "
            f"{self.start_timeout_s:.0f}s (last /overview: {last})\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the daemons (stop-cluster.sh), end whatever of ours outlived it, remove the folder."""
        if self.root is None:
            return
        try:
            self._remember_daemons()
            if self.conf_dir.is_dir():
                try:
                    subprocess.run(
                        ["bash", str(PYFLINK_HOME / "bin" / "stop-cluster.sh")],
                        env=self._env(),
                        cwd=self.root,
                        capture_output=True,
                        text=True,
                        timeout=60,
                        check=False,
                    )
                except subprocess.TimeoutExpired:
                    pass
            self._end_leftovers()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _end_leftovers(self) -> None:
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            alive = self._alive()
            if not alive:
                return
            for pid in alive:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while self._alive() and time.monotonic() < deadline:
                time.sleep(0.1)

    def leftover_pids(self) -> list[int]:
        """Processes this cluster started that are still running (empty after stop())."""
        return self._alive()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- REST and logs ------------------------------------------------------------------------------
    def rest(self, path: str, timeout: float = 5.0) -> Any:
        """GET a REST path (``/overview``, ``/jobs/overview``, ...) as parsed JSON."""
        with urllib.request.urlopen(self.rest_url + path, timeout=timeout) as resp:
            return json.load(resp)

    def jobs(self) -> list[dict[str, Any]]:
        """``/jobs/overview``: one dict per job (``jid``, ``name``, ``state``, ...)."""
        return list(self.rest("/jobs/overview").get("jobs", []))

    def taskmanager_out(self) -> str:
        """The TaskManager's stdout (its ``.out`` files, concatenated): where the ``print`` sink writes."""
        if self.root is None:
            return ""
        return "".join(
            p.read_text(encoding="utf-8", errors="replace") for p in sorted(self.log_dir.glob("*taskexecutor*.out"))
        )

    def wait_for_output(self, *needles: str, since: int = 0, timeout_s: float = 30.0) -> str:
        """Poll the TaskManager's ``.out`` (from character ``since`` on: pass the length it had
        before a job) until every needle is in it; returns that text, complete or not at timeout."""
        deadline = time.monotonic() + timeout_s
        text = self.taskmanager_out()[since:]
        while not all(n in text for n in needles) and time.monotonic() < deadline:
            time.sleep(0.2)
            text = self.taskmanager_out()[since:]
        return text

    def run_cli(
        self, script: str | Path, worker: HiddenPackagesPython, env: dict[str, str], *args: str, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``pyflink-triton run script`` against this cluster, its workers on ``worker``'s Python
        (``args``: more of run's options, e.g. ``--detach``); the output captured, not checked."""
        command = ["run", str(script), "--jobmanager", self.rest_address, "--python-executable", str(worker.executable)]
        return subprocess.run(
            [sys.executable, "-m", "pyflink_triton.cli", *command, *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=clean_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self, chars: int = 4000) -> str:
        """The end of every log file, for failure messages."""
        if self.root is None or not self.log_dir.is_dir():
            return ""
        parts = []
        for path in sorted(self.log_dir.iterdir()):
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")
                parts.append(f"--- {path.name} ---\n{text[-chars:]}")
        return "\n".join(parts)

    # -- flink run ----------------------------------------------------------------------------------
    def flink_run(
        self, args: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``bin/flink run ARGS`` of the wheel against this cluster (its ``FLINK_CONF_DIR``, whose
        ``rest.address``/``rest.port`` are this cluster's), attached: it returns when the job does."""
        command = ["bash", str(PYFLINK_HOME / "bin" / "flink"), "run", "-m", self.rest_address, *args]
        return subprocess.run(
            command,
            env={**self._env(), **(env or {})},
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- jobs and TaskManagers, for failover tests ---------------------------------------------
    def cancel_job(self, job_id: str) -> None:
        """Cancel a job (``PATCH /jobs/<id>?mode=cancel``); a job already ended is left as it is."""
        request = urllib.request.Request(f"{self.rest_url}/jobs/{job_id}?mode=cancel", method="PATCH")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError as exc:
            if exc.code not in (404, 409):  # unknown or no longer running
                raise

    def taskmanager_pids(self) -> list[int]:
        """The TaskManager daemons of this cluster that are running (from its pid file)."""
        if self.root is None:
            return []
        alive = []
        for pid_file in self.pid_dir.glob("*taskexecutor*.pid"):
            for line in pid_file.read_text().split():
                if line.isdigit() and _running(int(line)):
                    alive.append(int(line))
        return alive

    def kill_taskmanager(self, timeout_s: float = 30.0) -> int:
        """SIGKILL the running TaskManager by its pid, as a crash would; returns that pid once it is gone.
        Its descendants (Python workers) are recorded first: :meth:`stop` ends any that outlive it."""
        self._remember_daemons()
        [pid] = self.taskmanager_pids()
        started = _start_time(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while _start_time(pid) == started and _running(pid):
            if time.monotonic() > deadline:
                raise FlinkClusterError(f"TaskManager {pid} still running {timeout_s:.0f}s after SIGKILL")
            time.sleep(0.05)
        return pid

    def start_taskmanager(self, timeout_s: float = 90.0) -> int:
        """Start one more TaskManager with this cluster's configuration (``taskmanager.sh start``);
        returns its pid once it has registered with the JobManager (a new id in ``/taskmanagers``)."""
        known = {tm["id"] for tm in self.rest("/taskmanagers").get("taskmanagers", [])}
        before = set(self.taskmanager_pids())
        script = subprocess.run(
            ["bash", str(PYFLINK_HOME / "bin" / "taskmanager.sh"), "start"],
            env=self._env(),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self._remember_daemons()
        new = sorted(set(self.taskmanager_pids()) - before)
        if script.returncode != 0 or len(new) != 1:
            raise FlinkClusterError(
                f"taskmanager.sh start exited {script.returncode} (new pids {new}):\n{script.stdout}{script.stderr}"
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._remember_daemons()
            try:
                ids = {tm["id"] for tm in self.rest("/taskmanagers", timeout=2).get("taskmanagers", [])}
            except (OSError, ValueError):
                ids = set()
            if ids - known:
                return new[0]
            if _start_time(new[0]) is None:
                break
            time.sleep(0.2)
        raise FlinkClusterError(
            f"the new TaskManager {new[0]} did not register within {timeout_s:.0f}s\n{self.log_tail()}"
        )


_HIDING_SITECUSTOMIZE = """\
\"\"\"Hide {packages!r} from this interpreter (their editable-install finders, and the source
folders {folders!r}) so that only what a job ships (python.files) can provide them; record
where each process found them, one line "pid package origin" in {log!r}.\"\"\"
import os
import sys
from importlib.machinery import PathFinder


class _Witness:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in {packages!r}:
            return None
        spec = PathFinder.find_spec(name, path)
        with open({log!r}, "a", encoding="utf-8") as f:
            f.write(f"{{os.getpid()}} {{name}} {{spec.origin if spec else None}}\\n")
        return spec


sys.meta_path[:] = [_Witness] + [f for f in sys.meta_path
                                 if not (getattr(f, "__module__", None) or "").startswith("__editable__")
                                 or not any(p in f.__module__ for p in {packages!r})]
sys.path[:] = [e for e in sys.path if os.path.realpath(e or ".") not in {folders!r}]
"""


class HiddenPackagesPython:
    """An executable that runs ``python`` (default: this one) unable to import ``packages`` from
    where this process finds them (editable installs, source folders), as a cluster's workers
    would be: only a job's ``python.files`` can provide them. A ``sitecustomize`` on
    ``PYTHONPATH`` does it (it runs after the ``.pth`` files that install editable finders), and
    records every import of those packages: :meth:`imports`. (``-c``/``-m`` still put the cwd
    first on ``sys.path``, after sitecustomize: run it elsewhere.)"""

    def __init__(self, packages: tuple[str, ...], directory: Path, python: str | None = None) -> None:
        import importlib.util

        folders = []
        for package in packages:
            spec = importlib.util.find_spec(package)
            if spec is not None and spec.origin:
                folders.append(os.path.realpath(Path(spec.origin).parent.parent))
        self.imports_log = directory / "imports.log"
        site = directory / "hiding-site"
        site.mkdir(parents=True, exist_ok=True)
        (site / "sitecustomize.py").write_text(
            _HIDING_SITECUSTOMIZE.format(packages=tuple(packages), folders=tuple(folders), log=str(self.imports_log))
        )
        self.executable = directory / "python"
        self.executable.write_text(
            f'#!/bin/sh\nPYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{python or sys.executable}" "$@"\n'
        )
        self.executable.chmod(0o755)

    def imports(self) -> list[tuple[int, str, str]]:
        """(pid, package, origin or "None") for every import of a hidden package so far."""
        if not self.imports_log.exists():
            return []
        rows = []
        for line in self.imports_log.read_text(encoding="utf-8").splitlines():
            pid, package, origin = line.split(" ", 2)
            rows.append((int(pid), package, origin))
        return rows
