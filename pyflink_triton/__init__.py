"""pyflink-triton: model inference on NVIDIA Triton from Flink SQL and PyFlink jobs.

Importing this package does not start a JVM: the Flink-facing parts (UDF, SQL) import
PyFlink only when used.
"""

from __future__ import annotations

from .breaker import CircuitBreaker, CircuitState
from .client import ClientStats, TritonClient
from .endpoint import Endpoint
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
from .options import TritonOptions
from .provider import TritonProvider

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
