"""The PyFlink shell around the engine: the pandas and async UDFs, their metrics, the PyFlink
type conversions and the PyFlink 2.3 async patch. Importing it imports PyFlink (no JVM yet)."""

from __future__ import annotations

from .async_udf import TritonAsyncFunction, async_triton_udf, configure_async
from .pandas_udf import (
    DEFAULT_BATCH_SIZE,
    TritonPandasFunction,
    configure_inference,
    default_batching,
    triton_udf,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "TritonAsyncFunction",
    "TritonPandasFunction",
    "async_triton_udf",
    "configure_async",
    "configure_inference",
    "default_batching",
    "triton_udf",
]
