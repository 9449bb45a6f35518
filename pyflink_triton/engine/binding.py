"""Bind Flink columns to a model's tensors, from the model's metadata and config.

Columns match tensors by name exactly, then case-insensitively, then by position among
those left; anything that does not fit is an error naming the model, the columns and the
tensors. The per-row shape of each tensor (the model's dims without the batch dimension)
decides how a column travels: a scalar as ``[B]`` or ``[B, 1]``, an array as ``[B, N]``;
for a model without a batch dimension (``max_batch_size: 0``) each row is its own request,
an array as ``[N]`` with ``flatten-batch-dim`` or ``[1, N]`` without.

Which endpoint a model is called through (``inference-api``) is decided here too, from the
model's config: a decoupled model (an LLM) cannot go through ``infer``. Through ``generate``,
a text (BYTES) output is one STRING per row, the answer's pieces concatenated, and an argument
column named like no model input is sent as a request field of that name (a generation
parameter such as ``max_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import GENERATE_RESERVED, RESERVED_PARAMETERS
from ..errors import TritonConfigError, TritonSchemaError
from ..protocol import config_datatype_to_triton
from .types import FlinkType, can_receive, can_send, flink_type_for

__all__ = ["APIS", "Column", "ModelBinding", "TensorSpec", "bind_model", "is_decoupled", "match_names", "resolve_api"]

#: The endpoints a model is called through ('inference-api' without 'auto').
APIS = ("infer", "generate", "generate-stream")
_STRING = FlinkType("STRING")
# What a generate request's parameter may hold (Triton: string, int, bool, double).
_PARAMETER_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "STRING")


@dataclass(frozen=True)
class Column:
    """A Flink column (or UDF argument): its name if known, and its type if declared."""

    name: str | None = None
    type: FlinkType | None = None


@dataclass(frozen=True)
class TensorSpec:
    """One model tensor as a column sees it.

    :param name: the tensor name, exact case.
    :param datatype: Triton datatype (``FP32``, ``BYTES``, ...).
    :param dims: per-row dims: the model's shape without the batch dimension (-1 = variable).
    :param flink_type: the Flink type of one row's value.
    :param optional: the model marks the input optional.
    :param parameter: not a tensor: a generate request's field of this name (a generation
        parameter, per row; ``datatype`` is then empty).
    """

    name: str
    datatype: str
    dims: tuple[int, ...]
    flink_type: FlinkType
    optional: bool = False
    parameter: bool = False

    @property
    def is_array(self) -> bool:
        """Whether a row holds an array (dims other than ``[]`` or ``[1]``)."""
        return self.flink_type.is_array


@dataclass(frozen=True)
class ModelBinding:
    """How a function's arguments and result map onto one model's tensors."""

    model: str
    inputs: tuple[TensorSpec, ...]  # one per argument, in argument order
    outputs: tuple[TensorSpec, ...]  # one per result field, in result order
    max_batch_size: int  # 0: no batch dimension
    sequence: bool
    api: str = "infer"  # the endpoint: one of APIS

    @property
    def generates(self) -> bool:
        """Whether rows go through Triton's generate extension (one request per row)."""
        return self.api != "infer"

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 0

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.outputs]

    def result_type(self) -> FlinkType:
        """One output: its type; several: ``ROW<name type, ...>`` in output order."""
        if len(self.outputs) == 1:
            return self.outputs[0].flink_type
        return FlinkType("ROW", fields=tuple((o.name, o.flink_type) for o in self.outputs))


def match_names(columns: Sequence[str | None], tensors: Sequence[str], *, what: str) -> list[int]:
    """For each column, the index of its tensor: exact name, then case-insensitive, then the
    next unmatched tensor in order. Raises when there are more columns than tensors."""
    if len(columns) > len(tensors):
        raise TritonSchemaError(
            f"{len(columns)} {what} columns ({_names(columns)}) but the model has only "
            f"{len(tensors)} {what} tensors ({', '.join(tensors)})"
        )
    chosen: list[int | None] = [None] * len(columns)
    free = set(range(len(tensors)))
    for exact in (True, False):
        for i, col in enumerate(columns):
            if chosen[i] is not None or col is None:
                continue
            for j in sorted(free):
                if (tensors[j] == col) if exact else (tensors[j].lower() == col.lower()):
                    chosen[i] = j
                    free.discard(j)
                    break
    remaining = sorted(free)
    for i in range(len(columns)):
        if chosen[i] is None:
            chosen[i] = remaining.pop(0)
    return [c for c in chosen if c is not None]


def _names(columns: Sequence[str | None]) -> str:
    return ", ".join(c if c else f"#{i + 1}" for i, c in enumerate(columns))


def _tensor_specs(
    meta: Sequence[Mapping[str, Any]], config: Sequence[Mapping[str, Any]], batching: bool, flatten: bool
) -> list[TensorSpec]:
    optional = {c.get("name"): bool(c.get("optional", False)) for c in config}
    specs = []
    for t in meta:
        shape = [int(d) for d in t.get("shape", [])]
        dims = tuple(shape[1:] if batching else shape)
        if not batching and not flatten and dims and dims[0] == 1:
            dims = dims[1:]  # [1, N]: one row, with a leading dim of 1
        # [] and [1] are one value a row; anything else is an array a row.
        rank = 0 if dims in ((), (1,)) else len(dims)
        if rank > 1:
            rank = 1 if sum(1 for d in dims if d != 1) <= 1 else rank
        datatype = config_datatype_to_triton(t["datatype"])
        specs.append(
            TensorSpec(t["name"], datatype, dims, flink_type_for(datatype, rank), optional.get(t["name"], False))
        )
    return specs


def bind_model(
    metadata: Mapping[str, Any],
    config: Mapping[str, Any],
    inputs: Sequence[Column] | None,
    outputs: Sequence[Column] | None = None,
    *,
    flatten_batch_dim: bool = False,
    inference_api: str = "infer",
    generate_fields: Mapping[str, Any] | None = None,
) -> ModelBinding:
    """Bind argument columns and result columns to the model's tensors.

    :param metadata: the model's ``GET /v2/models/{m}`` answer.
    :param config: the model's ``GET /v2/models/{m}/config`` answer.
    :param inputs: the function's arguments, in order (names and types when known); None
        means every model input, in the model's order.
    :param outputs: the wanted result columns; None means every model output, as the model
        declares them.
    :param inference_api: the option's value: ``auto`` or one of :data:`APIS`.
    :param generate_fields: option ``'generate-parameters'``: those named like a model input
        must fit it (a generate endpoint sends them as that input).
    :raises TritonSchemaError: when columns and tensors do not fit, naming both.
    :raises TritonConfigError: when the endpoint cannot serve the model.
    """
    model = str(metadata.get("name", "?"))
    api = resolve_api(inference_api, config, model)
    max_batch = int(config.get("max_batch_size", 0) or 0)
    batching = max_batch > 0
    in_specs = _tensor_specs(metadata.get("inputs", []), config.get("input", []), batching, flatten_batch_dim)
    out_specs = _tensor_specs(metadata.get("outputs", []), config.get("output", []), batching, flatten_batch_dim)
    mismatches: list[str] = []
    if api != "infer":
        # A generated answer is text: every BYTES output is one STRING per row, whatever its dims.
        out_specs = [_text_output(s) for s in out_specs]
        _check_generate_fields(generate_fields or {}, in_specs, model)
        bound_in = _bind_generate_inputs(in_specs, inputs, model, mismatches)
    else:
        if not batching and not flatten_batch_dim:
            _check_unbatched_arrays(metadata, in_specs, model)
        bound_in = _bind_inputs(in_specs, inputs, model, mismatches)
    bound_out = out_specs if outputs is None else _bind_outputs(out_specs, outputs, model, mismatches)
    if mismatches:
        raise TritonSchemaError(
            "the declared columns do not fit the model's tensors (declared <-> model):\n" + "\n".join(mismatches),
            model=model,
        )
    for spec in (*bound_in, *bound_out):
        if spec.flink_type.is_array and spec.flink_type.element.is_array:  # type: ignore[union-attr]  # an ARRAY has an element
            raise TritonSchemaError(
                f"tensor '{spec.name}' has per-row dims {list(spec.dims)}; only "
                "scalars and one-dimensional arrays per row are supported",
                model=model,
            )
    return ModelBinding(model, tuple(bound_in), tuple(bound_out), max_batch, "sequence_batching" in config, api)


def is_decoupled(config: Mapping[str, Any]) -> bool:
    """Whether a model config says ``model_transaction_policy { decoupled: true }``."""
    policy = config.get("model_transaction_policy") or {}
    return bool(policy.get("decoupled", False)) if isinstance(policy, Mapping) else False


def resolve_api(choice: str, config: Mapping[str, Any], model: str) -> str:
    """The endpoint for option ``'inference-api' = choice``: ``auto`` gives ``generate-stream``
    for a decoupled model and ``infer`` otherwise.

    ``generate-stream``, not ``generate``, because it serves every decoupled model: Triton's
    ``generate`` fails unless the model sends exactly one response, and an LLM backend streams
    one response per piece when asked to (ours always does); a model that sends one response
    gives one event, the same answer.

    :raises TritonConfigError: ``infer`` for a decoupled model, naming model, endpoint and option.
    """
    if choice == "auto":
        return "generate-stream" if is_decoupled(config) else "infer"
    if choice not in APIS:
        raise TritonConfigError(
            f"Invalid value for option 'inference-api': {choice!r}. Accepted: 'auto', "
            + ", ".join(f"'{a}'" for a in APIS)
            + ".",
            option="inference-api",
        )
    if choice == "infer" and is_decoupled(config):
        raise TritonConfigError(
            "the model is decoupled (model_transaction_policy.decoupled: true): Triton's infer "
            "endpoint refuses such models ('HTTP end point doesn't support models with decoupled "
            "transaction policy'). Set 'inference-api' = 'generate-stream' (or 'auto', or 'generate' "
            "for a model that sends exactly one response).",
            option="inference-api",
            model=model,
        )
    return choice


def _text_output(spec: TensorSpec) -> TensorSpec:
    if spec.datatype != "BYTES":
        return spec
    return TensorSpec(spec.name, spec.datatype, spec.dims, _STRING, spec.optional)


def _bind_generate_inputs(
    specs: Sequence[TensorSpec], inputs: Sequence[Column] | None, model: str, mismatches: list[str]
) -> list[TensorSpec]:
    """Columns for a generate request: tensors by name (exactly, then case-insensitively), the
    model's required inputs left over by position, the rest as request fields of their names.
    None: the model's required inputs (all of them when none is marked required)."""
    if inputs is None:
        required = [s for s in specs if not s.optional] or list(specs)
        inputs = [Column(s.name) for s in required]
    chosen: list[TensorSpec | None] = [None] * len(inputs)
    free = list(specs)
    for exact in (True, False):
        for i, col in enumerate(inputs):
            match = next((s for s in free if col.name and _same(s.name, col.name, exact)), None)
            if chosen[i] is None and match is not None:
                chosen[i] = match
                free.remove(match)
    unnamed_required = [s for s in free if not s.optional]
    for i in range(len(inputs)):
        if chosen[i] is None and unnamed_required:
            chosen[i] = unnamed_required.pop(0)
    if unnamed_required:
        raise TritonSchemaError(
            f"the model needs inputs {', '.join(s.name for s in unnamed_required)} that no column provides "
            f"(columns: {_names([c.name for c in inputs])}; model inputs: {', '.join(s.name for s in specs)})",
            model=model,
        )
    bound = []
    for col, spec in zip(inputs, chosen):
        if spec is None:
            spec = _parameter(col, model)
            if col.type is not None and col.type.root not in _PARAMETER_TYPES:
                mismatches.append(
                    f"  input {col.name} {col.type}  <->  request parameter '{col.name}' (takes "
                    f"{', '.join(_PARAMETER_TYPES)})"
                )
        elif col.type is not None and not _fits_input(col.type, spec):
            mismatches.append(_side_by_side("input", col, spec))
        bound.append(spec)
    return bound


def _check_generate_fields(fields: Mapping[str, Any], specs: Sequence[TensorSpec], model: str) -> None:
    """Triton sends a generate request's field named like a model input as that input (a
    scalar or a flat list of its datatype), any other as a request parameter (a scalar): check
    here what the server would refuse for every row."""
    inputs = {s.name: s for s in specs}
    for name, value in fields.items():
        spec = inputs.get(name)
        where = f"Invalid value for option 'generate-parameters' (parameter {name!r}): "
        if spec is None:
            if isinstance(value, list):
                raise TritonConfigError(
                    f"{where}a list, which Triton takes only for a model input, and model {model!r} has "
                    f"no input {name!r} (its inputs: {', '.join(inputs)}). Accepted: a list for a model "
                    "input, a scalar for a request parameter.",
                    option="generate-parameters",
                )
            continue
        accepted = _JSON_VALUES.get(spec.datatype.upper())
        values = value if isinstance(value, list) else [value]
        if accepted is None or not all(_is_json(v, accepted[0]) for v in values):
            what = accepted[1] if accepted else "nothing: Triton refuses it in a JSON request"
            raise TritonConfigError(
                f"{where}model {model!r} has an input {name!r} of {spec.datatype}, which takes {what} "
                "(a value, or a flat list of them).",
                option="generate-parameters",
            )


#: The JSON values Triton converts to an input of each datatype: ("str" | "bool" | "int" |
#: "number", what to call them). FP16 and BF16 are missing: Triton refuses them in JSON.
_JSON_VALUES: dict[str, tuple[str, str]] = {
    "BYTES": ("str", "strings"),
    "BOOL": ("bool", "booleans"),
    **{f"{sign}INT{bits}": ("int", "integers") for sign in ("", "U") for bits in (8, 16, 32, 64)},
    "FP32": ("number", "numbers"),
    "FP64": ("number", "numbers"),
}


def _is_json(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool" or isinstance(value, bool):  # a bool is an int to Python, not to Triton
        return kind == "bool" and isinstance(value, bool)
    return isinstance(value, int) or (kind == "number" and isinstance(value, float))


def _same(name: str, col: str, exact: bool) -> bool:
    return name == col if exact else name.lower() == col.lower()


def _parameter(col: Column, model: str) -> TensorSpec:
    """A column named like no model input: a generate request's field of that name."""
    if not col.name:
        raise TritonSchemaError(
            "a column without a name matches no model input, and cannot be sent as a "
            "generation parameter (name it after the parameter, e.g. max_tokens)",
            model=model,
        )
    if col.name in RESERVED_PARAMETERS or col.name in GENERATE_RESERVED or col.name.startswith("triton_"):
        raise TritonSchemaError(
            f"input column '{col.name}' matches no model input, and its name is reserved by Triton or the "
            f"client as a request field (reserved: {', '.join(sorted({*RESERVED_PARAMETERS, *GENERATE_RESERVED}))}, "
            "and every 'triton_*'): rename it",
            model=model,
        )
    return TensorSpec(col.name, "", (), col.type or _STRING, optional=True, parameter=True)


def _check_unbatched_arrays(metadata: Mapping[str, Any], specs: Sequence[TensorSpec], model: str) -> None:
    """A model without a batch dimension whose input is a flat ``[N]`` needs ``flatten-batch-dim``."""
    for spec in specs:
        full = next(t for t in metadata["inputs"] if t["name"] == spec.name)["shape"]
        if spec.is_array and len(full) == 1:
            raise TritonConfigError(
                f"the model has no batch dimension and input '{spec.name}' has shape "
                f"{full}: set 'flatten-batch-dim' = 'true' to send arrays as [N] "
                "instead of [1, N].",
                option="flatten-batch-dim",
                model=model,
            )


def _matched(columns: Sequence[Column], specs: Sequence[TensorSpec], what: str, model: str) -> list[int]:
    try:
        return match_names([c.name for c in columns], [s.name for s in specs], what=what)
    except TritonSchemaError as exc:
        raise TritonSchemaError(exc.message, model=model) from None


def _bind_inputs(
    specs: Sequence[TensorSpec], inputs: Sequence[Column] | None, model: str, mismatches: list[str]
) -> list[TensorSpec]:
    if inputs is None:
        inputs = [Column(s.name) for s in specs]
    idx = _matched(inputs, specs, "input", model)
    bound = [specs[j] for j in idx]
    missing = [s.name for j, s in enumerate(specs) if j not in idx and not s.optional]
    if missing:
        raise TritonSchemaError(
            f"the model needs inputs {', '.join(missing)} that no column provides "
            f"(columns: {_names([c.name for c in inputs])}; model inputs: "
            f"{', '.join(s.name for s in specs)})",
            model=model,
        )
    for col, spec in zip(inputs, bound):
        if col.type is not None and not _fits_input(col.type, spec):
            mismatches.append(_side_by_side("input", col, spec))
    return bound


def _bind_outputs(
    specs: Sequence[TensorSpec], outputs: Sequence[Column], model: str, mismatches: list[str]
) -> list[TensorSpec]:
    bound = []
    for col, j in zip(outputs, _matched(outputs, specs, "output", model)):
        spec = specs[j]
        if col.type is not None:
            if not _fits_output(spec, col.type):
                mismatches.append(_side_by_side("output", col, spec))
            spec = TensorSpec(spec.name, spec.datatype, spec.dims, col.type, spec.optional)
        bound.append(spec)
    return bound


def _side_by_side(kind: str, col: Column, spec: TensorSpec) -> str:
    """One mismatch, both sides: ``input  features FLOAT  <->  'input__0' FP32 dims [4] (ARRAY<FLOAT>)``."""
    return (
        f"  {kind} {col.name or '?'} {col.type}  <->  '{spec.name}' {spec.datatype} per-row dims "
        f"{list(spec.dims)} (takes {spec.flink_type})"
    )


def _fits_input(ftype: FlinkType, spec: TensorSpec) -> bool:
    if ftype.root == "ROW" or (ftype.is_array != spec.is_array and not _scalar_as_one(ftype, spec)):
        return False
    return can_send(ftype, spec.datatype)


def _fits_output(spec: TensorSpec, ftype: FlinkType) -> bool:
    if ftype.root == "ROW" or (ftype.is_array != spec.is_array and not _scalar_as_one(ftype, spec)):
        return False
    return can_receive(spec.datatype, ftype)


def _scalar_as_one(ftype: FlinkType, spec: TensorSpec) -> bool:
    # An ARRAY column may feed or take a per-row [1] or [-1] tensor too.
    return ftype.is_array and spec.dims in ((1,), (-1,))
