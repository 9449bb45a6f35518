"""The PyFlink shell around the engine: the pandas and async UDFs, their metrics, the PyFlink
type conversions, the version gates and the patches of PyFlink they apply. Importing it
imports PyFlink (no JVM yet)."""

from __future__ import annotations

from .pandas_udf import (
    DEFAULT_BATCH_SIZE,
    TritonPandasFunction,
    configure_inference,
    default_batching,
    triton_udf,
)
from .versions import flink_features

if flink_features().async_scalar:  # PyFlink 2.3 and later
    from .async_udf import TritonAsyncFunction, async_triton_udf, configure_async
else:  # the names stay importable, and say what they need where they are called
    from .async_missing import async_triton_udf, configure_async

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "TritonAsyncFunction",
    "TritonPandasFunction",
    "async_triton_udf",
    "configure_async",
    "configure_inference",
    "default_batching",
    "flink_features",
    "triton_udf",
]
if not flink_features().async_scalar:
    __all__.remove("TritonAsyncFunction")
