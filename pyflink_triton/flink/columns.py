"""What both UDF factories share: a function's columns (arguments, result fields, result type,
from what the user declared, else from the model), its engine configuration and its name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..config import ModelLike, TritonOptions, as_options
from ..engine import ERROR_FIELD, Column, EngineConfig, FlinkType, fetch_binding
from ..errors import TritonConfigError
from .types import flink_type_of

__all__ = ["ModelLike", "describe_function", "function_config", "function_name", "resolve_columns"]


def _output_columns(result_type: FlinkType | None, outputs: Sequence[str] | None) -> list[Column] | None:
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
    inputs: Sequence[str | Column] | int | None,
    outputs: Sequence[str] | None,
) -> tuple[list[Column] | None, list[Column], FlinkType]:
    """The argument columns, result columns and result type of a Triton function.

    Where the result type is not given it is derived from the model's metadata, now: Flink
    needs it to plan the job. ``inputs`` may give :class:`Column` objects with declared types
    (as ML_PREDICT does from the model's INPUT clause): the engine checks them when it opens.
    """
    declared = None if result_type is None else flink_type_of(result_type)
    if isinstance(inputs, int):
        input_columns: list[Column] | None = [Column() for _ in range(inputs)]
    else:
        input_columns = None if inputs is None else [n if isinstance(n, Column) else Column(n) for n in inputs]
    output_columns = _output_columns(declared, outputs)
    if declared is None or output_columns is None:
        binding = fetch_binding(options, input_columns, output_columns)
        declared = binding.result_type()
        output_columns = [Column(o.name, o.flink_type) for o in binding.outputs]
    return input_columns, output_columns, declared


def function_config(
    model: ModelLike,
    result_type: Any,
    inputs: Sequence[str | Column] | int | None,
    outputs: Sequence[str] | None,
    **engine: Any,
) -> tuple[EngineConfig, FlinkType]:
    """A factory's engine configuration and its function's result type (``engine``: fill
    value, timeout, error mode; the ``column`` error mode adds an ``error`` STRING field)."""
    options = as_options(model)
    input_columns, output_columns, declared = resolve_columns(options, result_type, inputs, outputs)
    config = EngineConfig.of(options, input_columns, output_columns, **engine)
    if config.error_mode == "column":
        declared = with_error_field(declared, output_columns)
    return config, declared


def with_error_field(result: FlinkType, outputs: Sequence[Column]) -> FlinkType:
    """``ROW<outputs..., error STRING>``: the result type in the ``column`` error mode."""
    if result.root == "ROW" and len(outputs) > 1:
        fields = result.fields
    else:
        fields = ((outputs[0].name or "result", result),)
    return FlinkType("ROW", fields=(*fields, (ERROR_FIELD, FlinkType("STRING"))))


def function_name(options: TritonOptions, prefix: str, name: str | None) -> str:
    """The function's name in plans and logs: ``name``, or ``prefix`` + the model's name."""
    return name or f"{prefix}_{options.model_name.replace('-', '_')}"


def describe_function(function: Any) -> str:
    """``Class(model='m', endpoint='http://h:8000')``, credentials stripped."""
    options = function.config.options
    return f"{type(function).__name__}(model={options.model_name!r}, endpoint={options.safe_endpoint!r})"
