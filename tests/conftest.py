"""Shared fixtures: one local Triton server (the repository's model_repository/) for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyflink_triton.server import TritonLaunchError, TritonServer, find_tritonserver


@pytest.fixture(scope="session")
def triton_server() -> Iterator[TritonServer]:
    """A started :class:`TritonServer` serving every model of ``model_repository/``; stopped at the end."""
    try:
        find_tritonserver()
    except TritonLaunchError as exc:
        pytest.skip(str(exc))
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
