"""The vectorized Triton UDF for PyFlink: ``triton_udf(model, ...)``.

Each Arrow batch PyFlink hands the function becomes a few batched Triton requests (split to
the model's ``max_batch_size`` or ``batch-size``, several in flight), and the results come
back one per input row, in input order. The engine (:class:`~pyflink_triton.engine.InferenceEngine`)
does the work; this module is the PyFlink shell around it: ``open`` / ``eval`` / ``close``,
metrics, the factory and the batch settings.

Example::

    >>> from pyflink_triton import TritonProvider, configure_inference, triton_udf
    >>> classify = triton_udf(
    ...     TritonProvider(endpoint="http://localhost:8000", model_name="classifier"),
    ...     result_type="BIGINT")
    >>> configure_inference(t_env)  # rows per batch: DEFAULT_BATCH_SIZE
    >>> t_env.create_temporary_function("classify", classify)
    >>> t_env.sql_query("SELECT id, classify(features) AS class_id FROM iris")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..config import parse_duration
from ..engine import BlockingEngine, Column, EngineConfig
from ..errors import TritonConfigError
from .arrow_input import keep_arrow_arrays
from .columns import ModelLike, describe_function, function_config, function_name
from .context import request_ids
from .metrics import TritonMetrics
from .types import to_datatype

__all__ = ["DEFAULT_BATCH_SIZE", "TritonPandasFunction", "configure_inference", "default_batching", "triton_udf"]

#: Rows per Arrow batch and per bundle where nothing else sets them (``TritonSql``, the CLI,
#: ``predict()``): the best of the batch sweep in BENCHMARKS.md. Flink's own default, 1000,
#: gives about a third of the throughput; the bound on added latency stays Flink's
#: ``python.fn-execution.bundle.time`` (1 s).
DEFAULT_BATCH_SIZE = 20000

_BATCH_KEYS = ("python.fn-execution.arrow.batch.size", "python.fn-execution.bundle.size")

# A worker imports this module when it unpickles the function: ARRAY arguments then arrive
# with their Arrow arrays (see .arrow_input).
keep_arrow_arrays()


class TritonPandasFunction(ScalarFunction):
    """A pandas (vectorized) scalar function that runs a Triton model.

    ``__init__`` holds configuration only (the object is pickled to the workers); the
    event loop, the client and the model metadata are made in :meth:`open`.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._engine: BlockingEngine | None = None
        self._metrics: TritonMetrics | None = None

    def open(self, function_context: FunctionContext) -> None:
        engine = BlockingEngine(self.config, request_ids(function_context, self.config.options))
        engine.open()
        self._engine = engine
        self._metrics = TritonMetrics.register(function_context, engine.engine)

    def eval(self, *args: pd.Series[Any] | pd.DataFrame) -> pd.Series[Any] | pd.DataFrame:
        assert self._engine is not None, "open() was not called"
        try:
            return self._engine.predict(args).frame()
        finally:
            if self._metrics is not None:
                self._metrics.report()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __getstate__(self) -> dict[str, Any]:
        # Configuration only: never ship a live engine.
        return {**self.__dict__, "_engine": None, "_metrics": None}

    def __repr__(self) -> str:
        return describe_function(self)


def triton_udf(
    model: ModelLike,
    *,
    result_type: Any = None,
    inputs: Sequence[str | Column] | int | None = None,
    outputs: Sequence[str] | None = None,
    fill_value: Any = None,
    timeout: str | float | None = None,
    error_mode: str = "fail",
    name: str | None = None,
) -> Any:
    """A PyFlink pandas UDF that runs a Triton model, one result per row, in row order.

    :param model: a :class:`TritonProvider`, :class:`TritonOptions`, or a dict of
        ``CREATE MODEL`` options (``{'endpoint': ..., 'model-name': ...}``).
    :param result_type: the Flink result type (``DataType`` or DDL string such as
        ``'BIGINT'``, ``'ARRAY<FLOAT>'``, ``'ROW<label STRING, score FLOAT>'``). One model
        output gives a value; several give a ROW, whose fields match output tensors by
        name (exactly, then case-insensitively, then by position). None: derived from the
        model's metadata on the server, now.
    :param inputs: the argument names, matched to input tensors the same way; or the
        number of arguments (matched by position); None: every model input, in order.
    :param outputs: the output tensors to return, in result order (default: all, or those
        the result type names).
    :param fill_value: value sent in place of NULL elements inside arrays (default: a row
        with a NULL element fails with a clear error). NULL rows are never sent: they give NULL.
    :param timeout: bound on one batch's total time, retries included (``'30s'``, seconds).
    :param error_mode: ``'fail'`` (default): a failed row fails the job, or takes the
        ``default-value``; ``'column'``: the result is a ROW of the outputs and an ``error``
        STRING (NULL, or why the row failed; its outputs are then the default or NULL), and
        failures never fail the job.
    :param name: the function's name (for plans and logs).
    :return: a function for ``t_env.create_temporary_function`` or Table API calls.

    Example::

        >>> f = triton_udf({"endpoint": "http://localhost:8000", "model-name": "multi-io"},
        ...                inputs=["ids", "text", "vec"])
    """
    config, declared = function_config(
        model,
        result_type,
        inputs,
        outputs,
        fill_value=fill_value,
        total_timeout_s=_seconds(timeout),
        error_mode=error_mode,
    )
    return udf(
        TritonPandasFunction(config),
        result_type=to_datatype(declared),
        func_type="pandas",
        name=function_name(config.options, "triton", name),
    )


def _seconds(timeout: str | float | None) -> float | None:
    return parse_duration(timeout, key="timeout") if isinstance(timeout, str) else timeout


def configure_inference(t_env: Any, *, batch_size: int = DEFAULT_BATCH_SIZE, max_latency_ms: int | None = None) -> None:
    """Set PyFlink's batch settings for inference on a ``TableEnvironment``.

    ``python.fn-execution.arrow.batch.size`` (rows per pandas batch) is capped by
    ``python.fn-execution.bundle.size``, so both are set to ``batch_size``. A batch larger
    than the model's ``max_batch_size`` is split into concurrent requests, so a few times
    the model's limit keeps several requests in flight. ``python.fn-execution.bundle.time``
    flushes a partial batch after ``max_latency_ms`` (Flink's default: 1000 ms): it is the
    bound on the latency batching adds.

    :raises TritonConfigError: for a size or latency that is not positive.
    """
    if batch_size <= 0:
        raise TritonConfigError(f"batch_size must be > 0, got {batch_size}")
    config = t_env.get_config()
    config.set("python.fn-execution.arrow.batch.size", str(batch_size))
    config.set("python.fn-execution.bundle.size", str(batch_size))
    if max_latency_ms is not None:
        if max_latency_ms <= 0:
            raise TritonConfigError(f"max_latency_ms must be > 0, got {max_latency_ms}")
        config.set("python.fn-execution.bundle.time", str(max_latency_ms))


def default_batching(t_env: Any) -> bool:
    """:func:`configure_inference` with its defaults, unless the job (or the cluster's
    configuration) sets a batch or bundle size already: those are left as they are.

    :return: whether the defaults were set.
    """
    config = t_env.get_config()
    if any(config.get(key, None) is not None for key in _BATCH_KEYS):
        return False
    configure_inference(t_env)
    return True
