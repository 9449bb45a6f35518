"""Start a local Triton Inference Server from the ``tritonserver`` binary in the nvidia-pytriton wheel.

No Docker and no GPU needed: the wheel (``pip install 'pyflink-triton[server]'``) ships Triton 2.51 with its
Python backend and a backend stub per Python version. :class:`TritonServer` prepares a private backend
directory holding the stub for the running interpreter, starts the binary on free ports bound to
127.0.0.1, waits until the models are ready, and stops it again::

    with TritonServer() as server:          # the repository's model_repository/
        print(server.url)                   # http://127.0.0.1:PORT

Command line: ``python -m pyflink_triton.server [--model-repository DIR] [--port N]``.

Only the standard library is used here, so starting a server never imports aiohttp or pyflink.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import TritonLaunchError

__all__ = [
    "TritonServer",
    "TritonLaunchError",
    "default_model_repository",
    "find_tritonserver",
    "main",
]

#: the repository's own models, next to the package (a source checkout or an editable install)
_DEFAULT_REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
_INSTALL_HINT = "install the local server with: pip install 'pyflink-triton[server]'"
_LOG_TAIL_LINES = 60
# Ports picked by binding port 0 can be taken by someone else before Triton binds them.
_PORT_ATTEMPTS = 3
# How 2.51 reports a taken port: "failed to start HTTP service: Unavailable - Socket '...' already in use".
_ADDRESS_IN_USE_MARKERS = ("already in use", "address in use")
_WORKDIR_PREFIX = "pyflink-triton-"
_SHM_PREFIX = "pyflink_triton_"
_PID_FILE = "tritonserver.pid"


def default_model_repository() -> Path:
    """Return the repository's ``model_repository/`` folder; raise if it does not exist."""
    if not _DEFAULT_REPOSITORY.is_dir():
        raise TritonLaunchError(
            f"no model repository given and the default {_DEFAULT_REPOSITORY} does not exist "
            "(it is part of a source checkout, not of the installed package): pass model_repository"
        )
    return _DEFAULT_REPOSITORY


def find_tritonserver() -> Path:
    """Return the ``tritonserver`` tree inside the installed ``pytriton`` package.

    The package is located without being imported: importing pytriton pulls in tritonclient.grpc,
    which fails with some grpcio versions although the binary itself is fine.
    """
    spec = importlib.util.find_spec("pytriton")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        tree = Path(location) / "tritonserver"
        if (tree / "bin" / "tritonserver").is_file():
            return tree
    raise TritonLaunchError(
        f"the tritonserver binary (package nvidia-pytriton) was not found; {_INSTALL_HINT}"
    )


class TritonServer:
    """A Triton Inference Server process serving a model repository on 127.0.0.1.

    :param model_repository: folder of models; None means the repository's ``model_repository/``.
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
        self._finalizer: weakref.finalize | None = None
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
            _check_numpy()
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

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the server log ('' when there is none)."""
        return _tail(self._log_path, lines)

    # -- internals ----------------------------------------------------------------------------------

    def _launch(self, tree: Path, models: Sequence[str]) -> None:
        _reap_stale()
        workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{os.getpid()}-"))
        self._workdir = workdir
        backends = _prepare_backends(tree, workdir)
        self._log_path = workdir / "tritonserver.log"
        self._ports = _free_ports(self._host, 3, fixed_first=self._requested_http_port)
        http_port, grpc_port, metrics_port = self._ports
        # Our own prefix keeps concurrent servers apart in /dev/shm and lets stop() clean up after a kill.
        self._shm_prefix = f"{_SHM_PREFIX}{os.getpid()}_{workdir.name.rsplit('-', 1)[-1]}_"
        command = [
            str(tree / "bin" / "tritonserver"),
            f"--model-repository={self._repository}",
            f"--backend-directory={backends}",
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
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_server_environment(tree),
                cwd=workdir,
                # Its own process group: Ctrl-C in a terminal reaches only us (we stop it in order),
                # and a last-resort SIGKILL can take the Python backend stubs with it.
                start_new_session=True,
                preexec_fn=_die_with_parent if _can_die_with_parent() else None,
            )
        (workdir / _PID_FILE).write_text(str(self._process.pid))
        self._finalizer = weakref.finalize(self, _cleanup, self._process, workdir, self._shm_prefix, 10.0)

    def _wait_ready(self, models: Sequence[str]) -> None:
        """Poll until our process owns its ports and every model is ready; raise if it dies or times out."""
        assert self._process is not None and self._ports is not None
        http_port, grpc_port, metrics_port = self._ports
        # Until our process holds the HTTP port, whatever answers there is someone else's.
        steps: list[tuple[str, Any]] = [("port", http_port)]
        steps += [("model", m) for m in models]
        for port, name in ((grpc_port, "grpc"), (metrics_port, "metrics")):
            if self._ours(name):
                steps.append(("port", port))
        deadline = time.monotonic() + self._startup_timeout_s
        delay = 0.02
        while True:
            code = self._process.poll()
            if code is not None:
                tail = self.log_tail()
                port_taken = any(m in tail.lower() for m in _ADDRESS_IN_USE_MARKERS)
                if port_taken and self._requested_http_port is None:
                    raise _PortConflict(f"tritonserver could not bind its ports:\n{tail}", tail, self.url)
                raise TritonLaunchError(
                    f"tritonserver exited with code {code} while starting "
                    f"(model repository {self._repository}); last lines of its log:\n{tail}",
                    log_tail=tail,
                    endpoint=self.url,
                )
            while steps and self._step_done(*steps[0]):
                steps.pop(0)
            if not steps:
                return
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                waiting = [f"model {v!r}" if k == "model" else f"port {v}" for k, v in steps]
                raise TritonLaunchError(
                    f"tritonserver was not ready within {self._startup_timeout_s:g} s "
                    f"(still waiting for {', '.join(waiting)}); last lines of its log:\n{tail}",
                    log_tail=tail,
                    endpoint=self.url,
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def _step_done(self, kind: str, value: Any) -> bool:
        assert self._process is not None
        if kind == "port":
            return _owns_listening_port(self._process.pid, value)
        return _is_ready(f"{self.url}/v2/models/{urllib.parse.quote(value, safe='')}/ready")

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
        finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        process, self._process = self._process, None
        workdir, self._workdir = self._workdir, None
        _cleanup(process, workdir, self._shm_prefix, timeout_s)
        self._log_path = None


class _PortConflict(Exception):
    def __init__(self, message: str, log_tail: str, url: str) -> None:
        super().__init__(message)
        self.log_tail = log_tail
        self.url = url


def _is_flag(arg: str, name: str) -> bool:
    return arg == f"--{name}" or arg.startswith(f"--{name}=")


def _repository_models(repository: Path) -> list[str]:
    """Model folders of a repository, as Triton sees them (hidden entries skipped)."""
    if not repository.is_dir():
        return []
    return sorted(p.name for p in repository.iterdir() if p.is_dir() and not p.name.startswith("."))


def _prepare_backends(tree: Path, workdir: Path) -> Path:
    """Make a backend directory whose Python backend has the stub for this interpreter.

    Symlinks are enough: the backend looks for ``triton_python_backend_stub`` next to
    ``libtriton_python.so`` and nothing in the tree is written to, so no file needs copying.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = tree / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        available = sorted(p.name for p in (tree / "python_backend_stubs").glob("*"))
        raise TritonLaunchError(
            f"the Triton Python backend has no stub for Python {version} (it has {available})"
        )
    backends = workdir / "backends"
    python_backend = backends / "python"
    python_backend.mkdir(parents=True)
    for entry in (tree / "backends").iterdir():
        if entry.name != "python":
            (backends / entry.name).symlink_to(entry)
    for entry in (tree / "backends" / "python").iterdir():
        if entry.name != "__pycache__":
            (python_backend / entry.name).symlink_to(entry)
    (python_backend / stub.name).symlink_to(stub)
    return backends


def _server_environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    libs = tree.parent.parent / "nvidia_pytriton.libs"
    # The interpreter's own libpython first: otherwise the stub may load another patch level's.
    library_path = [sysconfig.get_config_var("LIBDIR") or "", str(libs), env.get("LD_LIBRARY_PATH", "")]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in library_path if p)
    # The stub's embedded interpreter finds its site-packages (numpy) through the python on PATH.
    path = [str(Path(sys.executable).parent), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(p for p in path if p)
    env.pop("PYTHONHOME", None)
    return env


def _check_numpy() -> None:
    try:
        version = importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        raise TritonLaunchError("numpy is not installed; the Triton Python backend models need it") from None
    if int(version.split(".", 1)[0]) >= 2:
        warnings.warn(
            f"numpy {version} is installed; Triton 2.51's Python backend needs numpy < 2 "
            "(models may return wrong shapes or crash)",
            RuntimeWarning,
            stacklevel=3,
        )


def _free_ports(host: str, count: int, *, fixed_first: int | None = None) -> tuple[int, int, int]:
    """Pick distinct free ports by binding port 0 (all held open at once so they differ)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    ports: list[int] = [fixed_first] if fixed_first is not None else []
    with contextlib.ExitStack() as stack:
        while len(ports) < count:
            sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            sock.bind((host, 0))
            port = sock.getsockname()[1]
            if port not in ports:
                ports.append(port)
    return ports[0], ports[1], ports[2]


def _owns_listening_port(pid: int, port: int) -> bool:
    """True when process ``pid`` holds a TCP socket listening on ``port`` (Linux /proc).

    Where /proc cannot tell (another OS), say yes: readiness polls still follow.
    """
    inodes: set[str] = set()
    readable = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for row in rows:
            fields = row.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])  # 0A = LISTEN
    if not readable:
        return True
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False


def _is_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path | None, lines: int) -> str:
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _cleanup(
    process: subprocess.Popen[bytes] | None, workdir: Path | None, shm_prefix: str, timeout_s: float
) -> None:
    """Stop the process we started, then remove what it left (also run by the finalizer at exit)."""
    if process is not None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # The group is the one created for this process (start_new_session): it holds the server and
        # its Python backend stubs, which a SIGKILLed server cannot stop itself.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5.0)
    if shm_prefix and os.path.isdir("/dev/shm"):
        for name in os.listdir("/dev/shm"):
            if name.startswith(shm_prefix):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join("/dev/shm", name))
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    """True when ``pid`` is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _reap_stale() -> None:
    """Remove temp dirs and shared memory left by servers whose owner and server both died (kill -9)."""
    dead: set[str] = set()
    for workdir in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}*-*"):
        owner = workdir.name[len(_WORKDIR_PREFIX) :].split("-", 1)[0]
        if not owner.isdigit() or _pid_alive(int(owner)):
            continue
        try:
            server_pid = int((workdir / _PID_FILE).read_text())
        except (OSError, ValueError):
            server_pid = 0
        if server_pid and _pid_alive(server_pid):
            continue
        dead.add(owner)
        shutil.rmtree(workdir, ignore_errors=True)
    if dead and os.path.isdir("/dev/shm"):
        for name in os.listdir("/dev/shm"):
            if name.startswith(_SHM_PREFIX) and name[len(_SHM_PREFIX) :].split("_", 1)[0] in dead:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join("/dev/shm", name))


def _can_die_with_parent() -> bool:
    # PR_SET_PDEATHSIG fires when the creating *thread* ends, so only use it from the main thread.
    return sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()


def _die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM the server if the Python process dies without cleaning up."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except Exception:  # noqa: BLE001 - best effort; the finalizer still covers orderly exits
        pass


# -- command line --------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Start a server, print its URL and models, and serve until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m pyflink_triton.server", description="Serve a model repository with a local Triton."
    )
    parser.add_argument(
        "--model-repository", default=None, help="model repository (default: the project's model_repository/)"
    )
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--models", nargs="*", default=None, help="models to wait for (default: all)")
    parser.add_argument("--startup-timeout", type=float, default=120.0, help="seconds to wait for readiness")
    parser.add_argument("--log-verbose", type=int, default=0, help="Triton's --log-verbose level")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server: TritonServer | None = None
    try:
        started = time.monotonic()
        try:
            server = TritonServer(
                args.model_repository,
                models=args.models,
                http_port=args.port,
                startup_timeout_s=args.startup_timeout,
                log_verbose=args.log_verbose,
            )
            server.start()
        except TritonLaunchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        info = {
            "url": server.url,
            "grpc_port": server.grpc_port,
            "metrics_port": server.metrics_port,
            "pid": server.pid,
            "models": server.models,
            "log": str(server.log_path),
            "startup_s": round(time.monotonic() - started, 2),
        }
        print(f"Triton is serving at {server.url}", flush=True)
        print(json.dumps(info), flush=True)
        while not stop.wait(0.5):
            if not server.is_running:
                tail = server.log_tail()
                print(f"error: tritonserver exited; last lines of its log:\n{tail}", file=sys.stderr)
                return 1
        return 0
    finally:
        if server is not None:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
