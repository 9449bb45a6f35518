"""Shared fixtures: one local Triton server (the repository's model_repository/) for the whole session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pyflink_triton.engine.engine import LoopThread
from pyflink_triton.server.launcher import TritonServer, find_tritonserver

from .faultserver import FaultServer


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
