"""Shared fixtures and helpers: one local Triton server (the repository's model_repository/) for
the whole session, a fault-injecting server, clean environments for Flink subprocesses, and
the small helpers several test modules use."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import pytest
import tenacity

from pyflink_triton.config import TritonOptions
from pyflink_triton.engine import LoopThread
from pyflink_triton.server.launcher import TritonServer, find_tritonserver

from .faultserver import FaultServer

T = TypeVar("T")

# `make check` runs the fast tier (-m "not flink and not triton and not slow") with this set. A
# test that would start a JVM or a Triton server there fails at once, saying which mark it lacks,
# instead of silently making the inner loop slow: no JVM can start (JAVA_HOME leads nowhere, here
# and in subprocesses), and neither the launcher nor a subprocess may start tritonserver.
FAST_TIER = os.environ.get("PYFLINK_TRITON_FAST") == "1"
if FAST_TIER:
    os.environ["JAVA_HOME"] = "/nonexistent/the-fast-tier-starts-no-jvm(mark-the-test-flink)"

# Tests using these fixtures need the session's Triton: they are marked `triton` automatically.
TRITON_FIXTURES = frozenset({"triton_server", "triton_url", "endpoint"})

# The environment before any Flink job ran in this process. PyFlink's local (loopback) mode sets
# variables in the process that runs a job (FLINK_HOME, PYTHON_LOOPBACK_SERVER_ADDRESS,
# _PYFLINK_CONN_INFO_PATH, BOOT_LOG_DIR, ...); a driver started with them attaches to the wrong
# things. Subprocesses that run Flink get this copy instead. conftest is imported before any test.
PRISTINE_ENV = {k: v for k, v in os.environ.items() if k != "TRITON_ENDPOINT"}


def clean_env(**extra: str) -> dict[str, str]:
    """A fresh environment for a subprocess that runs Flink, with ``extra`` set."""
    return {**PRISTINE_ENV, **extra}


@pytest.fixture
def fault() -> Iterator[FaultServer]:
    """A fault-injecting server on a loop thread of its own, for synchronous tests and Flink
    jobs (test_client_faults.py has an async one on the test's loop)."""
    loop = LoopThread("fault-server").start()
    server = loop.run(FaultServer().start())
    try:
        yield server
    finally:
        loop.run(server.stop())
        loop.stop()


@pytest.fixture
async def loop_fault() -> AsyncIterator[FaultServer]:
    """A fault server on the test's own event loop, for async tests (``fault`` runs on a thread)."""
    server = await FaultServer().start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture(scope="session")
def triton_server() -> Iterator[TritonServer]:
    """A started :class:`TritonServer` serving every model of ``model_repository/``; stopped at the end."""
    # No skip when the binary is missing: the tests need a real server, so that is a failure.
    find_tritonserver()
    server = TritonServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def triton_url(triton_server: TritonServer) -> str:
    """Base URL of the session's Triton server, e.g. ``http://127.0.0.1:PORT``."""
    return triton_server.url


@pytest.fixture(scope="module")
def endpoint(triton_url: str) -> dict[str, str]:
    """The environment that points a SQL script's ``${TRITON_ENDPOINT}`` at the session's Triton."""
    return {"TRITON_ENDPOINT": triton_url + "/v2/models"}


def model_options(url: str, model: str, **extra: Any) -> TritonOptions:
    """Options of ``model`` at ``url``; keyword arguments are option keys with ``_`` for ``-``."""
    return TritonOptions.from_map(
        {"endpoint": url, "model-name": model, **{k.replace("_", "-"): str(v) for k, v in extra.items()}}
    )


# The classifier model's documented rule (model_repository/classifier): the nearest class mean
# in pooled-standard-deviation units. Tests compute expected classes with it, independently.
IRIS_MEANS = np.array([[5.006, 3.428, 1.462, 0.246], [5.936, 2.770, 4.260, 1.326], [6.588, 2.974, 5.552, 2.026]])
IRIS_POOLED_STD = np.array([0.5148, 0.3397, 0.4303, 0.2047])


def iris_class(x: list[float]) -> int:
    """The class the classifier model gives ``x``."""
    z = np.asarray(x, np.float32).astype(np.float64) / IRIS_POOLED_STD
    return int(np.argmin(((z - IRIS_MEANS / IRIS_POOLED_STD) ** 2).sum(axis=1)))


def poll(
    read: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float,
    what: str,
    context: Callable[[], str] = lambda: "",
) -> T:
    """Read until ``done(value)``; fails naming ``what`` (and the last value) at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f}s (last: {str(value)[:1500]})\n{context()[-6000:]}")
        time.sleep(0.25)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def tenacity_objects(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Counts the tenacity Retrying controllers and per-call retry states made."""
    counts = {"retrying": 0, "states": 0}
    for cls, key in ((tenacity.AsyncRetrying, "retrying"), (tenacity.RetryCallState, "states")):
        original = cls.__init__

        def counting(self: Any, *args: Any, _original: Any = original, _key: str = key, **kwargs: Any) -> None:
            counts[_key] += 1
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counting)
    yield counts


@contextmanager
def classifier_triton() -> Iterator[TritonServer]:
    """A Triton of a test's own serving only 'classifier', on a fixed free port so that a
    restart keeps the URL (tests that kill, freeze or restart Triton); stopped at the end."""
    server = TritonServer(
        models=["classifier"],
        http_port=free_port(),
        extra_args=["--model-control-mode=explicit", "--load-model=classifier"],
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `triton` every test that uses the session's Triton (its fixtures, however indirect)."""
    for item in items:
        if TRITON_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.triton)


class ServiceInFastTier(RuntimeError):
    """A test of the fast tier tried to start Triton or a JVM: it lacks its `triton` or `flink` mark."""


def pytest_configure(config: pytest.Config) -> None:
    """In the fast tier, make starting Triton or a JVM an error for the whole session."""
    if not FAST_TIER:
        return

    def refuse_start(self: TritonServer) -> TritonServer:
        raise ServiceInFastTier("the fast tier starts no Triton server: mark this test `triton`")

    original_popen_init = subprocess.Popen.__init__

    def guarded_popen_init(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        program = args if isinstance(args, str | bytes | os.PathLike) else next(iter(args), "")
        if os.path.basename(os.fsdecode(program)).startswith(("tritonserver", "java")):
            raise ServiceInFastTier(f"the fast tier starts no Triton or JVM ({program!r}): mark this test")
        original_popen_init(self, args, *rest, **kwargs)

    TritonServer.start = refuse_start  # type: ignore[method-assign]  # for this session only
    subprocess.Popen.__init__ = guarded_popen_init  # type: ignore[method-assign]  # for this session only
