"""The PyFlink-free inference engine: Flink types, binding columns to tensors, column
conversions, the engine (rows in, one outcome per row out) and the async row coalescer."""

from __future__ import annotations

from .binding import Column, ModelBinding, TensorSpec, bind_model
from .blocking import BlockingEngine
from .coalescer import Coalescer
from .engine import EngineConfig, EngineStats, InferenceEngine, RowsPredicted, fetch_binding, rows_predicted
from .loop import LoopThread
from .outcomes import ERROR_FIELD, ERROR_MODES, Failed, Outcomes
from .types import FlinkType

__all__ = [
    "ERROR_FIELD",
    "ERROR_MODES",
    "BlockingEngine",
    "Coalescer",
    "Column",
    "EngineConfig",
    "EngineStats",
    "Failed",
    "FlinkType",
    "InferenceEngine",
    "LoopThread",
    "ModelBinding",
    "Outcomes",
    "RowsPredicted",
    "TensorSpec",
    "bind_model",
    "fetch_binding",
    "rows_predicted",
]
