"""The SQL layer: ``CREATE MODEL ... ('provider' = 'triton')`` and ``ML_PREDICT`` on PyFlink.

Importing this package does not start a JVM; :class:`TritonSql` needs a ``TableEnvironment``.
"""

from __future__ import annotations

from .environment import table_environment
from .java_errors import java_message
from .lexer import split_statements, tokenize
from .predict import PredictCall, find_predict_calls, rewrite_predict_calls
from .session import ModelInfo, TritonSql, execute_sql, has_content
from .table_api import predict

__all__ = [
    "ModelInfo",
    "PredictCall",
    "TritonSql",
    "execute_sql",
    "find_predict_calls",
    "has_content",
    "java_message",
    "predict",
    "rewrite_predict_calls",
    "split_statements",
    "table_environment",
    "tokenize",
]
