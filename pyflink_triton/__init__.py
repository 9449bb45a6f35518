"""pyflink-triton: model inference on NVIDIA Triton from Flink SQL and PyFlink jobs.

The public names are below. Importing this package imports neither PyFlink nor aiohttp, and
never starts a JVM: the Flink-facing names (UDFs, SQL) are loaded on first use.

Layers, each importing only those before it: ``errors`` -> ``config`` (options, provider,
endpoint) -> ``protocol`` (KServe v2 codec, no I/O) -> ``client`` (aiohttp transport, retries,
breaker) -> ``engine`` (rows in, one outcome per row out; no PyFlink) -> ``flink`` (the UDFs)
-> ``sql`` (CREATE MODEL, ML_PREDICT) -> ``cli``; ``server`` (the local Triton) stands apart.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from .config import TritonOptions, TritonProvider
from .errors import (
    TritonCircuitOpenError,
    TritonClientRequestError,
    TritonConfigError,
    TritonConnectionError,
    TritonError,
    TritonLaunchError,
    TritonProtocolError,
    TritonSchemaError,
    TritonServerError,
    TritonServiceError,
    TritonTimeoutError,
    TritonTransportError,
)

if TYPE_CHECKING:
    from .client import TritonClient
    from .flink import async_triton_udf, configure_async, configure_inference, triton_udf
    from .server import TritonServer
    from .sql import TritonSql, predict

try:
    # One source for the version: pyproject.toml, as the installed distribution reports it.
    __version__ = importlib.metadata.version("pyflink-triton")
except importlib.metadata.PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"

# Loaded on first use: importing them pulls in aiohttp or PyFlink.
_LAZY = {
    "TritonClient": ".client",
    "TritonServer": ".server",
    "triton_udf": ".flink",
    "async_triton_udf": ".flink",
    "configure_inference": ".flink",
    "configure_async": ".flink",
    "TritonSql": ".sql",
    "predict": ".sql",
}

__all__ = [
    "TritonCircuitOpenError",
    "TritonClient",
    "TritonClientRequestError",
    "TritonConfigError",
    "TritonConnectionError",
    "TritonError",
    "TritonLaunchError",
    "TritonOptions",
    "TritonProtocolError",
    "TritonProvider",
    "TritonSchemaError",
    "TritonServer",
    "TritonServerError",
    "TritonServiceError",
    "TritonSql",
    "TritonTimeoutError",
    "TritonTransportError",
    "__version__",
    "async_triton_udf",
    "configure_async",
    "configure_inference",
    "predict",
    "triton_udf",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pyflink_triton' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
