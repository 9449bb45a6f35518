"""The vectorized Triton UDF for PyFlink: ``triton_udf(model, ...)``.

Each Arrow batch PyFlink hands the function becomes a few batched Triton requests (split to
the model's ``max_batch_size`` or ``batch-size``, several in flight), and the results come
back one per input row, in input order. See :class:`~pyflink_triton.runtime.ModelRuntime`
for the engine; this module is the PyFlink shell around it: ``open`` / ``eval`` / ``close``,
metrics, and the factory.

Example::

    >>> from pyflink_triton import TritonProvider
    >>> from pyflink_triton.udf import triton_udf, configure_inference
    >>> classify = triton_udf(
    ...     TritonProvider(endpoint="http://localhost:8000", model_name="classifier"),
    ...     result_type="BIGINT")
    >>> configure_inference(t_env, batch_size=4096)
    >>> t_env.create_temporary_function("classify", classify)
    >>> t_env.sql_query("SELECT id, classify(features) AS class_id FROM iris")
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from pyflink.table.udf import FunctionContext, ScalarFunction, udf

from ..engine.binding import Column
from ..errors import TritonConfigError
from ..config import TritonOptions, parse_duration
from ..config import TritonProvider
from ..engine.engine import ModelRuntime, fetch_binding
from ..engine.types import FlinkType

__all__ = ["triton_udf", "TritonPandasFunction", "configure_inference", "to_options", "resolve_columns"]

log = logging.getLogger(__name__)

ModelLike = TritonProvider | TritonOptions | Mapping[str, Any]


def to_options(model: ModelLike) -> TritonOptions:
    """A ``TritonProvider``, ``TritonOptions`` or ``CREATE MODEL`` option dict as options."""
    if isinstance(model, TritonOptions):
        return model
    if isinstance(model, TritonProvider):
        return model.to_triton_options()
    if isinstance(model, Mapping):
        return TritonOptions.from_map(model)
    raise TypeError(
        f"model must be a TritonProvider, TritonOptions or a dict of options, got {type(model).__name__}"
    )


class _Metrics:
    """The ``triton`` metric group of one function instance.

    PyFlink moves metric values to Java at bundle boundaries; we report deltas of the
    runtime's own counters after each batch, and keep our own totals (a counter cannot be
    read back in ``close``).
    """

    def __init__(self, context: FunctionContext, runtime: ModelRuntime) -> None:
        group = context.get_metric_group().add_group("triton")
        self.runtime = runtime
        self.counters = {
            name: group.counter(name)
            for name in ("requests", "rows", "failures", "retries", "fallbacks", "nullRows",
                         "breakerRejections")
        }
        self.latency = group.distribution("requestLatencyMs")
        self.reported = dict.fromkeys(self.counters, 0)
        client = runtime.client
        assert client is not None
        group.gauge("rowsInFlight", lambda: int(client.stats.in_flight_rows))
        group.gauge(
            "circuitBreakerState",
            lambda: client.breaker.state.gauge if client.breaker is not None else 0,
        )

    def report(self) -> None:
        client = self.runtime.client
        if client is None:
            return
        s = client.stats
        now = {
            "requests": s.requests, "rows": s.rows, "failures": s.failures, "retries": s.retries,
            "fallbacks": self.runtime.fallback_rows, "nullRows": self.runtime.null_rows,
            "breakerRejections": s.breaker_rejections,
        }
        for name, value in now.items():
            delta = value - self.reported[name]
            if delta:
                self.counters[name].inc(delta)
                self.reported[name] = value
        for latency in s.drain_latencies():
            self.latency.update(int(latency * 1000))


class TritonPandasFunction(ScalarFunction):
    """A pandas (vectorized) scalar function that runs a Triton model.

    ``__init__`` holds configuration only (the object is pickled to the workers); the
    event loop, the client and the model metadata are made in :meth:`open`.
    """

    def __init__(
        self,
        options: TritonOptions,
        inputs: Sequence[Column] | None,
        outputs: Sequence[Column] | None,
        *,
        fill_value: Any = None,
        total_timeout_s: float | None = None,
    ) -> None:
        self.options = options
        self.inputs = None if inputs is None else list(inputs)
        self.outputs = None if outputs is None else list(outputs)
        self.fill_value = fill_value
        self.total_timeout_s = total_timeout_s
        self._runtime: ModelRuntime | None = None
        self._metrics: _Metrics | None = None

    def open(self, function_context: FunctionContext) -> None:
        runtime = ModelRuntime(
            self.options, self.inputs, self.outputs,
            fill_value=self.fill_value, total_timeout_s=self.total_timeout_s,
        )
        try:
            runtime.open()
        except BaseException:
            runtime.close()
            raise
        self._runtime = runtime
        try:
            self._metrics = _Metrics(function_context, runtime)
        except Exception:  # metrics are best-effort: never fail a job for them
            log.debug("Triton metrics could not be registered", exc_info=True)

    def eval(self, *args: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
        assert self._runtime is not None
        try:
            return self._runtime.predict(args)
        finally:
            if self._metrics is not None:
                self._metrics.report()

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    def __repr__(self) -> str:
        return f"TritonPandasFunction(model={self.options.model_name!r}, endpoint={self.options.safe_endpoint!r})"


def _output_columns(
    result_type: FlinkType | None, outputs: Sequence[str] | None
) -> list[Column] | None:
    if result_type is None:
        return None if outputs is None else [Column(n) for n in outputs]
    if result_type.root == "ROW":
        names = list(outputs) if outputs is not None else [n for n, _ in result_type.fields]
        if len(names) != len(result_type.fields):
            raise TritonConfigError(
                f"outputs names {len(names)} model outputs but the result type {result_type} has "
                f"{len(result_type.fields)} fields"
            )
        return [Column(n, t) for n, (_, t) in zip(names, result_type.fields)]
    if outputs is not None and len(outputs) != 1:
        raise TritonConfigError(
            f"result type {result_type} is one value; name one output, or use a ROW type for "
            f"several (got outputs={list(outputs)})"
        )
    return [Column(outputs[0] if outputs else None, result_type)]


def resolve_columns(
    options: TritonOptions,
    result_type: Any,
    inputs: Sequence[str] | int | None,
    outputs: Sequence[str] | None,
) -> tuple[list[Column] | None, list[Column], FlinkType]:
    """The argument columns, result columns and result type of a Triton function.

    Where the result type is not given it is derived from the model's metadata, now: Flink
    needs it to plan the job.
    """
    declared = None if result_type is None else FlinkType.of(result_type)
    if isinstance(inputs, int):
        input_columns: list[Column] | None = [Column() for _ in range(inputs)]
    else:
        input_columns = None if inputs is None else [Column(n) for n in inputs]
    output_columns = _output_columns(declared, outputs)
    if declared is None or output_columns is None:
        binding = fetch_binding(options, input_columns, output_columns)
        declared = binding.result_type()
        output_columns = [Column(o.name, o.flink_type) for o in binding.outputs]
    return input_columns, output_columns, declared


def triton_udf(
    model: ModelLike,
    *,
    result_type: Any = None,
    inputs: Sequence[str] | int | None = None,
    outputs: Sequence[str] | None = None,
    fill_value: Any = None,
    timeout: str | float | None = None,
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
    :param name: the function's name (for plans and logs).
    :return: a function for ``t_env.create_temporary_function`` or Table API calls.

    Example::

        >>> f = triton_udf({"endpoint": "http://localhost:8000", "model-name": "multi-io"},
        ...                inputs=["ids", "text", "vec"])
    """
    options = to_options(model)
    input_columns, output_columns, declared = resolve_columns(options, result_type, inputs, outputs)
    total_timeout_s = parse_duration(timeout, key="timeout") if isinstance(timeout, str) else timeout
    function = TritonPandasFunction(
        options, input_columns, output_columns, fill_value=fill_value, total_timeout_s=total_timeout_s)
    return udf(
        function,
        result_type=declared.to_datatype(),
        func_type="pandas",
        name=name or f"triton_{options.model_name.replace('-', '_')}",
    )


def configure_inference(
    t_env: Any, *, batch_size: int = 4096, max_latency_ms: int | None = None
) -> None:
    """Set PyFlink's batch settings for inference on a ``TableEnvironment``.

    ``python.fn-execution.arrow.batch.size`` (rows per pandas batch) is capped by
    ``python.fn-execution.bundle.size``, so both are set to ``batch_size``. A batch larger
    than the model's ``max_batch_size`` is split into concurrent requests, so a few times
    the model's limit keeps several requests in flight. ``python.fn-execution.bundle.time``
    flushes a partial batch after ``max_latency_ms`` (Flink's default: 1000 ms): it is the
    bound on the latency batching adds.
    """
    if batch_size <= 0:
        raise TritonConfigError("batch_size must be > 0")
    config = t_env.get_config()
    config.set("python.fn-execution.arrow.batch.size", str(batch_size))
    config.set("python.fn-execution.bundle.size", str(batch_size))
    if max_latency_ms is not None:
        if max_latency_ms <= 0:
            raise TritonConfigError("max_latency_ms must be > 0")
        config.set("python.fn-execution.bundle.time", str(max_latency_ms))

