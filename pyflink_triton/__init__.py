"""pyflink-triton: model inference on NVIDIA Triton from Flink SQL and PyFlink jobs.

Importing this package does not start a JVM: the Flink-facing parts (UDF, SQL) import
PyFlink only when used.
"""

from __future__ import annotations

from .client import CircuitBreaker, CircuitState, ClientStats, TritonClient
from .config import Endpoint, TritonOptions, TritonProvider
from .errors import (
    TritonCircuitOpenError,
    TritonClientRequestError,
    TritonConfigError,
    TritonConnectionError,
    TritonError,
    TritonProtocolError,
    TritonSchemaError,
    TritonServerError,
    TritonServiceError,
    TritonTimeoutError,
    TritonTransportError,
)

__version__ = "0.1.0"

__all__ = [
    "CircuitBreaker",
    "CircuitState",
    "ClientStats",
    "Endpoint",
    "TritonCircuitOpenError",
    "TritonClient",
    "TritonClientRequestError",
    "TritonConfigError",
    "TritonConnectionError",
    "TritonError",
    "TritonOptions",
    "TritonProtocolError",
    "TritonProvider",
    "TritonSchemaError",
    "TritonServerError",
    "TritonServiceError",
    "TritonTimeoutError",
    "TritonTransportError",
    "__version__",
]
