"""Start a local Triton Inference Server from the ``tritonserver`` binary in the nvidia-pytriton wheel.

No Docker and no GPU needed: the wheel (``pip install 'pyflink-triton[server]'``) ships Triton 2.51 with its
Python backend and a backend stub per Python version. :class:`TritonServer` prepares a private backend
directory holding the stub for the running interpreter, starts the binary on free ports bound to
127.0.0.1, waits until the models are ready, and stops it again::

    with TritonServer() as server:          # the example models (model_repository/)
        print(server.url)                   # http://127.0.0.1:PORT

Command line: ``python -m pyflink_triton.server [--model-repository DIR] [--port N]`` (see :mod:`.cli`).
The helpers live in :mod:`.backends` (the binary, its backend directory and environment) and
:mod:`.process` (ports, liveness, cleanup).

Only the standard library is used here, so starting a server never imports aiohttp or pyflink.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

from ..errors import TritonLaunchError
from . import backends, examples, process
from .backends import find_tritonserver

__all__ = [
    "TritonLaunchError",
    "TritonServer",
    "default_model_repository",
    "find_tritonserver",
]

# Ports picked by binding port 0 can be taken by someone else before Triton binds them.
_PORT_ATTEMPTS = 3
# How 2.51 reports a taken port: "failed to start HTTP service: Unavailable - Socket '...' already in use".
_ADDRESS_IN_USE_MARKERS = ("already in use", "address in use")


def default_model_repository() -> Path:
    """Return the example model repository: the installed package's copy, or a checkout's ``model_repository/``."""
    return examples.model_repository()


def _repository_models(repository: Path) -> list[str]:
    """Model folders of a repository, as Triton sees them (hidden entries skipped)."""
    if not repository.is_dir():
        return []
    return sorted(p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith("."))


def _is_flag(arg: str, name: str) -> bool:
    return arg == f"--{name}" or arg.startswith(f"--{name}=")


class _PortConflict(Exception):
    """Triton lost a picked port to someone else: start() picks new ones and tries again."""

    def __init__(self, message: str, log_tail: str, url: str) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.url = url


class TritonServer:
    """A Triton Inference Server process serving a model repository on 127.0.0.1.

    :param model_repository: folder of models; None means the example models (:func:`default_model_repository`).
    :param models: models to wait for; None means every model folder in the repository.
    :param host: address to bind and to connect to; keep the loopback default unless you need more.
    :param http_port: HTTP port; None picks a free one (gRPC and metrics ports are always picked).
    :param startup_timeout_s: how long :meth:`start` waits for the models to be ready.
    :param log_verbose: Triton's ``--log-verbose`` level.
    :param extra_args: more ``tritonserver`` arguments, appended last (so they override ours).
    """

    def __init__(
        self,
        model_repository: str | os.PathLike[str] | None = None,
        *,
        models: Sequence[str] | None = None,
        host: str = "127.0.0.1",
        http_port: int | None = None,
        startup_timeout_s: float = 120.0,
        log_verbose: int = 0,
        extra_args: Sequence[str] = (),
    ) -> None:
        repository = default_model_repository() if model_repository is None else Path(model_repository)
        self._repository = repository.resolve()
        if isinstance(models, str):
            raise TypeError("models must be a sequence of model names, not a string")
        self._models = list(models) if models is not None else None
        self._host = host
        self._requested_http_port = http_port
        self._startup_timeout_s = float(startup_timeout_s)
        self._log_verbose = int(log_verbose)
        self._extra_args = [str(arg) for arg in extra_args]
        if any(_is_flag(arg, "http-port") for arg in self._extra_args):
            raise ValueError("pass the HTTP port as http_port=..., not in extra_args")

        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self._log_path: Path | None = None
        self._shm_prefix = ""
        self._ports: tuple[int, int, int] | None = None
        self._finalizer: weakref.finalize[..., TritonServer] | None = None
        self._lock = threading.Lock()

    # -- properties ---------------------------------------------------------------------------------

    @property
    def model_repository(self) -> Path:
        """The model repository served."""
        return self._repository

    @property
    def models(self) -> list[str]:
        """The models waited for at start (every model folder when none were named)."""
        return list(self._models) if self._models is not None else _repository_models(self._repository)

    @property
    def url(self) -> str:
        """Base URL of the HTTP endpoint, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.http_port}"

    @property
    def http_port(self) -> int:
        """The HTTP port (known once started)."""
        return self._require_ports()[0]

    @property
    def grpc_port(self) -> int:
        """The gRPC port (known once started)."""
        return self._require_ports()[1]

    @property
    def metrics_port(self) -> int:
        """The Prometheus metrics port (known once started)."""
        return self._require_ports()[2]

    @property
    def log_path(self) -> Path | None:
        """The server's log file; None before start and after stop (it lives in the removed temp dir)."""
        return self._log_path

    @property
    def pid(self) -> int | None:
        """Process id of the server, None when not started."""
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        """True while the process started by :meth:`start` is alive."""
        return self._process is not None and self._process.poll() is None

    def _require_ports(self) -> tuple[int, int, int]:
        if self._ports is None:
            raise RuntimeError("the Triton server is not started")
        return self._ports

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> TritonServer:
        """Start the server and wait until every model is ready; return self.

        :raises TritonLaunchError: binary missing, bad repository, a model failed to load, or timeout;
            the message carries the tail of the server log and no process is left behind.
        """
        with self._lock:
            if self.is_running:
                return self
            self._stop_locked()
            if not self._repository.is_dir():
                raise TritonLaunchError(f"model repository {self._repository} is not a directory")
            models = self.models
            tree = find_tritonserver()
            backends.check_numpy()
            attempts = _PORT_ATTEMPTS if self._requested_http_port is None else 1
            for attempt in range(1, attempts + 1):
                try:
                    self._launch(tree, models)
                    self._wait_ready(models)
                    return self
                except _PortConflict as exc:
                    self._stop_locked()
                    if attempt == attempts:
                        raise TritonLaunchError(str(exc), log_tail=exc.log_tail, endpoint=exc.url) from None
                except BaseException:
                    self._stop_locked()
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``timeout_s``) and remove its temp dir. Idempotent."""
        with self._lock:
            self._stop_locked(timeout_s)

    def __enter__(self) -> TritonServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running at {self.url}, pid {self.pid}" if self.is_running else "stopped"
        return f"TritonServer({str(self._repository)!r}, {state})"

    def log_tail(self, lines: int = process.LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log ('' when there is none)."""
        return process.tail(self._log_path, lines)

    # -- internals ----------------------------------------------------------------------------------

    def _launch(self, tree: Path, models: Sequence[str]) -> None:
        """Start the binary in a fresh temp dir on newly picked ports (not yet waiting for readiness)."""
        process.reap_stale()
        workdir = Path(tempfile.mkdtemp(prefix=f"{process.WORKDIR_PREFIX}{os.getpid()}-"))
        self._workdir = workdir
        backend_directory = backends.prepare_backend_directory(tree, workdir)
        self._log_path = workdir / "tritonserver.log"
        self._ports = process.free_ports(self._host, 3, fixed_first=self._requested_http_port)
        # Our own prefix keeps concurrent servers apart in /dev/shm and lets stop() clean up after a kill.
        self._shm_prefix = f"{process.SHM_PREFIX}{os.getpid()}_{workdir.name.rsplit('-', 1)[-1]}_"
        command = self._command(tree, backend_directory, models)
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=backends.server_environment(tree),
                cwd=workdir,
                # Its own process group: Ctrl-C in a terminal reaches only us (we stop it in order),
                # and a last-resort SIGKILL can take the Python backend stubs with it.
                start_new_session=True,
                preexec_fn=process.die_with_parent if process.can_die_with_parent() else None,
            )
        # Lets a later start tell a dead owner's still-running server from an abandoned temp dir.
        (workdir / process.PID_FILE).write_text(str(self._process.pid))
        self._finalizer = weakref.finalize(self, process.cleanup, self._process, workdir, self._shm_prefix, 10.0)

    def _command(self, tree: Path, backend_directory: Path, models: Sequence[str]) -> list[str]:
        """The ``tritonserver`` command line for the picked ports (extra_args last, so they win)."""
        http_port, grpc_port, metrics_port = self._require_ports()
        return [
            str(tree / "bin" / "tritonserver"),
            f"--model-repository={self._repository}",
            f"--backend-directory={backend_directory}",
            f"--cache-directory={tree / 'caches'}",
            f"--http-address={self._host}",
            f"--http-port={http_port}",
            f"--grpc-address={self._host}",
            f"--grpc-port={grpc_port}",
            f"--metrics-address={self._host}",
            f"--metrics-port={metrics_port}",
            "--exit-timeout-secs=5",
            # Triton loads 4 models at a time by default; the stubs start faster side by side.
            f"--model-load-thread-count={min(16, max(4, len(models)))}",
            f"--log-verbose={self._log_verbose}",
            f"--backend-config=python,shm-region-prefix-name={self._shm_prefix}",
            *self._extra_args,
        ]

    def _readiness_steps(self, models: Sequence[str]) -> list[tuple[str, Any]]:
        """What start() waits for, in order: ("port", n) or ("model", name)."""
        http_port, grpc_port, metrics_port = self._require_ports()
        # Until our process holds the HTTP port, whatever answers there is someone else's.
        steps: list[tuple[str, Any]] = [("port", http_port)]
        steps += [("model", m) for m in models]
        for port, name in ((grpc_port, "grpc"), (metrics_port, "metrics")):
            if self._ours(name):
                steps.append(("port", port))
        return steps

    def _wait_ready(self, models: Sequence[str]) -> None:
        """Poll until our process owns its ports and every model is ready; raise if it dies or times out."""
        assert self._process is not None
        steps = self._readiness_steps(models)
        deadline = time.monotonic() + self._startup_timeout_s
        delay = 0.02
        while True:
            code = self._process.poll()
            if code is not None:
                self._raise_exited(code)
            while steps and self._step_done(*steps[0]):
                steps.pop(0)
            if not steps:
                return
            if time.monotonic() >= deadline:
                self._raise_timed_out(steps)
            time.sleep(delay)
            # Short polls first (a small repository is ready in well under a second), then back off.
            delay = min(delay * 1.5, 0.25)

    def _raise_exited(self, code: int) -> NoReturn:
        """The process ended while starting: a lost port race (retried) or a real failure."""
        tail = self.log_tail()
        port_taken = any(m in tail.lower() for m in _ADDRESS_IN_USE_MARKERS)
        # A port the caller asked for is not ours to re-pick: that conflict is their error.
        if port_taken and self._requested_http_port is None:
            raise _PortConflict(f"tritonserver could not bind its ports:\n{tail}", tail, self.url)
        raise TritonLaunchError(
            f"tritonserver exited with code {code} while starting "
            f"(model repository {self._repository}); last lines of its log:\n{tail}",
            log_tail=tail,
            endpoint=self.url,
        )

    def _raise_timed_out(self, steps: Sequence[tuple[str, Any]]) -> NoReturn:
        tail = self.log_tail()
        waiting = [f"model {v!r}" if k == "model" else f"port {v}" for k, v in steps]
        raise TritonLaunchError(
            f"tritonserver was not ready within {self._startup_timeout_s:g} s "
            f"(still waiting for {', '.join(waiting)}); last lines of its log:\n{tail}",
            log_tail=tail,
            endpoint=self.url,
        )

    def _step_done(self, kind: str, value: Any) -> bool:
        assert self._process is not None
        if kind == "port":
            return process.owns_listening_port(self._process.pid, value)
        return process.is_ready(f"{self.url}/v2/models/{urllib.parse.quote(value, safe='')}/ready")

    def _ours(self, endpoint: str) -> bool:
        """False when extra_args turn an endpoint off or move it (``--allow-grpc=false``, ``--grpc-port=N``).

        Such an endpoint is not waited for: its port is not the one we picked.
        """
        for arg in reversed(self._extra_args):
            if _is_flag(arg, f"{endpoint}-port"):
                return False
            if _is_flag(arg, f"allow-{endpoint}"):
                return arg.partition("=")[2].strip().lower() not in ("false", "0", "no", "off")
        return True

    def _stop_locked(self, timeout_s: float = 10.0) -> None:
        # Detach first: the finalizer would otherwise run cleanup a second time at exit.
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        server_process, self._process = self._process, None
        workdir, self._workdir = self._workdir, None
        process.cleanup(server_process, workdir, self._shm_prefix, timeout_s)
        self._log_path = None
