"""Process plumbing for the local Triton: ports, liveness, log tails, cleanup and stale-leftover reaping.

Only the standard library: nothing here may import aiohttp or pyflink.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "LOG_TAIL_LINES",
    "PID_FILE",
    "SHM_PREFIX",
    "WORKDIR_PREFIX",
    "can_die_with_parent",
    "cleanup",
    "die_with_parent",
    "free_ports",
    "is_ready",
    "owns_listening_port",
    "pid_alive",
    "reap_stale",
    "tail",
]

LOG_TAIL_LINES = 60
#: temp dirs are named ``pyflink-triton-<owner pid>-<random>`` so a later start can tell whose they are
WORKDIR_PREFIX = "pyflink-triton-"
#: shared-memory regions are named ``pyflink_triton_<owner pid>_<random>_...`` for the same reason
SHM_PREFIX = "pyflink_triton_"
#: the server's pid, written into its temp dir: a dead owner's server may still be alive
PID_FILE = "tritonserver.pid"

_SHM_DIR = "/dev/shm"


def free_ports(host: str, count: int, *, fixed_first: int | None = None) -> tuple[int, int, int]:
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


def _listening_inodes(port: int) -> set[str] | None:
    """Socket inodes listening on TCP ``port`` from /proc/net; None where /proc cannot be read."""
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
    return inodes if readable else None


def owns_listening_port(pid: int, port: int) -> bool:
    """True when process ``pid`` holds a TCP socket listening on ``port`` (Linux /proc).

    Where /proc cannot tell (another OS), say yes: readiness polls still follow.
    """
    inodes = _listening_inodes(port)
    if inodes is None:
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


def is_ready(url: str) -> bool:
    """True when a GET of ``url`` answers 200 within 2 s (any failure counts as not ready)."""
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tail(path: Path | None, lines: int) -> str:
    """The last ``lines`` lines of a log file; '' when there is no file."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as f:
            # Only the end matters, and a verbose log can be large.
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM and wait ``timeout_s``, then SIGKILL the whole process group."""
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


def _remove_shared_memory(owned: Callable[[str], bool]) -> None:
    """Unlink the /dev/shm entries ``owned`` picks (Triton cannot after a SIGKILL)."""
    if not os.path.isdir(_SHM_DIR):
        return
    for name in os.listdir(_SHM_DIR):
        if owned(name):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(_SHM_DIR, name))


def cleanup(process: subprocess.Popen[bytes] | None, workdir: Path | None, shm_prefix: str, timeout_s: float) -> None:
    """Stop the process we started, then remove what it left (also run by the finalizer at exit)."""
    if process is not None:
        _terminate(process, timeout_s)
    if shm_prefix:
        _remove_shared_memory(lambda name: name.startswith(shm_prefix))
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)


def pid_alive(pid: int) -> bool:
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


def _is_abandoned(workdir: Path) -> str | None:
    """The owner pid of a temp dir whose owner and server are both gone; None otherwise."""
    owner = workdir.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
    if not owner.isdigit() or pid_alive(int(owner)):
        return None
    try:
        server_pid = int((workdir / PID_FILE).read_text())
    except (OSError, ValueError):
        server_pid = 0
    if server_pid and pid_alive(server_pid):
        return None
    return owner


def reap_stale() -> None:
    """Remove temp dirs and shared memory left by servers whose owner and server both died (kill -9)."""
    dead: set[str] = set()
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        owner = _is_abandoned(workdir)
        if owner is not None:
            dead.add(owner)
            shutil.rmtree(workdir, ignore_errors=True)
    if dead:
        _remove_shared_memory(
            lambda name: name.startswith(SHM_PREFIX) and name[len(SHM_PREFIX) :].split("_", 1)[0] in dead
        )


def can_die_with_parent() -> bool:
    """True where :func:`die_with_parent` works as meant (Linux, called from the main thread)."""
    # PR_SET_PDEATHSIG fires when the creating *thread* ends, so only use it from the main thread.
    return sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread()


def die_with_parent() -> None:
    """In the child: ask Linux to SIGTERM the server if the Python process dies without cleaning up."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
    except Exception:
        pass
