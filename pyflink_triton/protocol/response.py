"""Inference responses: :func:`decode_response` into an :class:`InferResponse`, and
:func:`error_message` for error bodies."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from pyflink_triton.errors import TritonProtocolError, TritonSchemaError

from . import jsonio
from .body import decompress
from .bytes_tensor import decode_bytes_section
from .datatypes import BF16, BYTES, numpy_dtype
from .tensors import bf16_to_float32

__all__ = ["InferResponse", "decode_response", "error_message"]

_SNIPPET = 200
_ERROR_TEXT = 500


@dataclass(frozen=True)
class InferResponse:
    """A decoded inference response; ``outputs`` maps names to arrays in response order,
    ``datatypes`` names to the Triton datatype the response gave each (``BF16`` arrays are
    float32, so the array alone cannot say)."""

    outputs: dict[str, npt.NDArray[Any]]
    model_name: str
    model_version: str
    id: str | None
    parameters: dict[str, Any]
    datatypes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Output:
    """An output entry of the response header, checked."""

    name: str
    datatype: str
    dtype: np.dtype[Any]
    shape: list[int]
    count: int
    binary_size: int | None


def decode_response(
    body: bytes | bytearray | memoryview,
    *,
    header_length: int | str | None = None,
    content_encoding: str | None = None,
) -> InferResponse:
    """Decode an inference response body (JSON header, then binary outputs if any).

    :param header_length: the ``Inference-Header-Content-Length`` response header;
        None when the whole body is JSON.
    :param content_encoding: the response's ``Content-Encoding`` (gzip, deflate) if
        the body is still compressed.

    Numeric binary outputs are zero-copy, **read-only** views of the body (copy one
    to modify it); they may be unaligned, which numpy handles. BYTES outputs are
    object arrays of ``bytes`` (JSON strings are UTF-8 encoded to match), BOOL
    outputs are ``np.bool_`` and BF16 outputs float32.

    :raises TritonProtocolError: for a body that does not follow the protocol.
    """
    if not isinstance(body, bytes):
        body = bytes(body)
    if (content_encoding or "").strip().lower() not in ("", "identity"):
        body = decompress(body, content_encoding)
    header_end = _header_end(header_length, len(body))
    try:
        result = _parse_header(body if header_end == len(body) else body[:header_end])
        datatypes: dict[str, str] = {}
        outputs = _decode_outputs(result["outputs"], body, header_end, datatypes)
        request_id = result.get("id")
        parameters = result.get("parameters")
        return InferResponse(
            outputs=outputs,
            model_name=str(result.get("model_name", "")),
            model_version=str(result.get("model_version", "")),
            id=None if request_id is None else str(request_id),
            parameters=parameters if isinstance(parameters, dict) else {},
            datatypes=datatypes,
        )
    except RecursionError:
        # orjson reads JSON nested 1024 deep, deeper than str() or repr() of it can go
        raise TritonProtocolError("response header is nested too deeply") from None


def error_message(
    body: bytes,
    content_type: str | None = None,
    *,
    redact: Callable[[str], str] | None = None,
) -> str:
    """Extract the text of Triton's ``{"error": "..."}`` from an error response body.

    Other bodies come back as text shortened to about 500 characters; an empty
    body gives ``""``.

    :param redact: applied to the whole text before it is shortened, so that a secret the
        server echoes is never cut in half (and so half shown).
    """
    if not body:
        return ""
    body = bytes(body)
    clean = redact or (lambda text: text)
    if (content_type and "json" in content_type.lower()) or body.lstrip()[:1] == b"{":
        # the standard library, not jsonio: error bodies are small, and its output is
        # meant for people (spaced JSON, integers beyond 64 bits kept exact)
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            parsed = None
        if isinstance(parsed, dict) and "error" in parsed:
            error = parsed["error"]
            text = error if isinstance(error, str) else json.dumps(error)
            return _snippet(clean(text), 4 * _ERROR_TEXT)
    return _snippet(clean(body.decode("utf-8", "replace").strip()), _ERROR_TEXT)


def _snippet(data: bytes | str, limit: int = _SNIPPET) -> str:
    text = data if isinstance(data, str) else bytes(data[: limit + 1]).decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "..."


def _header_end(header_length: int | str | None, size: int) -> int:
    if header_length is None or header_length == "":
        return size
    try:
        header_end = int(header_length)
    except (TypeError, ValueError):
        raise TritonProtocolError(f"invalid header length {_snippet(repr(header_length))}") from None
    if not 0 <= header_end <= size:
        raise TritonProtocolError(f"header length {header_end} outside a body of {size} bytes")
    return header_end


def _parse_header(header: bytes) -> dict[str, Any]:
    """The header as a JSON object that holds an ``outputs`` list."""
    try:
        result = jsonio.loads(header)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise TritonProtocolError(
            f"response header is not valid JSON ({_snippet(str(exc))}): {_snippet(header)}"
        ) from None
    if not isinstance(result, dict):
        raise TritonProtocolError(f"response header is not a JSON object: {_snippet(header)}")
    if "error" in result and "outputs" not in result:
        raise TritonProtocolError(f"response is an error: {_snippet(str(result['error']))}")
    if not isinstance(result.get("outputs"), list):
        raise TritonProtocolError(f"response has no outputs list: {_snippet(header)}")
    return result


def _decode_outputs(
    entries: list[Any], body: bytes, position: int, datatypes: dict[str, str]
) -> dict[str, npt.NDArray[Any]]:
    """Decode the outputs, whose binary data fill ``body`` from ``position`` to its end;
    note each output's datatype in ``datatypes``."""
    outputs: dict[str, npt.NDArray[Any]] = {}
    for entry in entries:
        output = _describe_output(entry, outputs)
        datatypes[output.name] = output.datatype
        size = output.binary_size
        if size is None:
            array = _json_output(entry, output)
        else:
            array = _binary_output(body, position, size, output)
            position += size
        try:
            outputs[output.name] = array.reshape(output.shape)
        except ValueError:  # more dimensions, or a larger size, than numpy can hold
            raise TritonProtocolError(
                f"output {output.name!r}: numpy cannot hold shape {_snippet(repr(output.shape))}"
            ) from None
    if position != len(body):
        raise TritonProtocolError(
            f"{len(body) - position} bytes left after the binary outputs (wrong header length or binary_data_size)"
        )
    return outputs


def _describe_output(entry: Any, seen: Mapping[str, Any]) -> _Output:
    if not isinstance(entry, dict):
        raise TritonProtocolError(f"output entry is not an object: {_snippet(repr(entry))}")
    name = entry.get("name")
    datatype = entry.get("datatype")
    if not isinstance(name, str):
        raise TritonProtocolError(f"output without a name: {_snippet(repr(entry))}")
    if name in seen:
        raise TritonProtocolError(f"output {name!r} appears twice")
    try:
        if not isinstance(datatype, str):
            raise TritonSchemaError(f"datatype {datatype!r} is not a string")
        dtype = numpy_dtype(datatype)
    except TritonSchemaError:
        raise TritonProtocolError(f"output {name!r}: unknown datatype {_snippet(repr(datatype))}") from None
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise TritonProtocolError(f"output {name!r}: invalid shape {_snippet(repr(shape))}")
    params = entry.get("parameters")
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise TritonProtocolError(f"output {name!r}: invalid binary_data_size {size!r}")
    return _Output(name, datatype, dtype, shape, math.prod(shape), size)


def _json_output(entry: Mapping[str, Any], output: _Output) -> npt.NDArray[Any]:
    name, datatype = output.name, output.datatype
    data = entry.get("data")
    if data is None:
        raise TritonProtocolError(
            f"output {name!r} has neither data nor binary_data_size (outputs in shared memory are not supported)"
        )
    if not isinstance(data, list):
        raise TritonProtocolError(f"output {name!r}: data is not a list")
    try:
        if datatype == BYTES:
            flat = data
            if any(isinstance(v, list) for v in data):
                flat = np.array(data, dtype=object).ravel().tolist()
            array = np.empty(len(flat), dtype=object)
            array[:] = [v.encode("utf-8") for v in flat]
        else:
            array = _json_numbers(data, output)
    except (AttributeError, TypeError, ValueError, OverflowError) as exc:
        raise TritonProtocolError(f"output {name!r}: data does not match {datatype}: {_snippet(str(exc))}") from None
    if array.size != output.count:
        raise TritonProtocolError(f"output {name!r}: {array.size} data elements for shape {output.shape}")
    return array


def _json_numbers(data: list[Any], output: _Output) -> npt.NDArray[Any]:
    """JSON numbers as ``output.dtype``, refusing what numpy would silently change.

    numpy truncates ``1.5`` to ``1`` under an integer dtype, wraps ``300`` to ``44`` under
    UINT8 and reads the string ``"12"`` as 12: integer and BOOL outputs are read as whatever
    JSON gave first, then checked to be exact before they are converted.

    :raises ValueError: a value the datatype cannot hold exactly.
    """
    dtype = output.dtype
    if dtype.kind == "f":
        return _json_floats(data, dtype)
    if dtype.kind not in "iub":
        return np.array(data, dtype=dtype)
    raw = np.array(data)  # ragged nesting raises ValueError; mixed values come out object
    if raw.size == 0:
        return raw.astype(dtype)
    if dtype.kind == "b":
        if raw.dtype.kind == "b" or (raw.dtype.kind in "iu" and np.isin(raw, (0, 1)).all()):
            return raw.astype(dtype)
        raise ValueError(f"{_first_bad(data, _is_boolean)} is not a boolean")
    info = np.iinfo(dtype)
    if raw.dtype.kind in "iu":  # the common case: integers all, in one numpy type
        if int(raw.min()) >= info.min and int(raw.max()) <= info.max:
            return raw.astype(dtype)
    elif raw.dtype.kind in "fO":
        # Floats, or integers numpy could not hold in one integer type (uint64 values past
        # int64 next to others come out float64, rounded): check the values JSON gave.
        values = np.array(data, dtype=object).ravel().tolist()
        if all(_is_integer_in(v, info) for v in values):
            return np.array([int(v) for v in values], dtype=dtype).reshape(raw.shape)
    bad = _first_bad(data, lambda v: _is_integer_in(v, info))
    raise ValueError(f"{bad} is not an integer in [{info.min}, {info.max}]")


def _json_floats(data: list[Any], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """Floats; a finite value too large for ``dtype`` (1e300 as FP32) is refused, not made
    infinite. Infinities JSON wrote as such stay infinite."""
    with np.errstate(over="ignore"):
        values = np.array(data, dtype=dtype)
    if values.dtype.itemsize < 8 and values.size and not np.isfinite(values).all():
        wide = np.array(data, dtype=np.float64)
        overflow = np.isinf(values) & np.isfinite(wide)
        if overflow.any():
            raise ValueError(f"{wide[overflow].flat[0]!r} is not within the range of {dtype.name}")
    return values


def _is_integer_in(value: Any, info: np.iinfo[Any]) -> bool:
    """Whether a JSON value is an integer (or an integral float) that ``info``'s type holds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return False
    return info.min <= int(value) <= info.max


def _is_boolean(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, int) and value in (0, 1))


def _first_bad(data: list[Any], ok: Callable[[Any], bool]) -> str:
    """The first value of ``data`` (JSON, maybe nested) that is not ``ok``, for the message."""
    for value in np.array(data, dtype=object).ravel().tolist():
        if not ok(value):
            return _snippet(repr(value), 40)
    return "a value"


def _binary_output(body: bytes, start: int, nbytes: int, output: _Output) -> npt.NDArray[Any]:
    """The output's flat array, read from ``body[start:start + nbytes]``."""
    name, datatype, count = output.name, output.datatype, output.count
    end = start + nbytes
    if end > len(body):
        raise TritonProtocolError(
            f"output {name!r}: needs {nbytes} binary bytes, {max(len(body) - start, 0)} left in the body (truncated)"
        )
    if datatype == BYTES:
        return decode_bytes_section(body, start, end, count, name)
    wire = 2 if datatype == BF16 else output.dtype.itemsize
    if nbytes != count * wire:
        raise TritonProtocolError(
            f"output {name!r}: binary_data_size {nbytes} does not match "
            f"shape {output.shape} of {datatype} ({count * wire} bytes)"
        )
    if datatype == BF16:
        return bf16_to_float32(np.frombuffer(body, "<u2", count, start))
    return np.frombuffer(body, output.dtype, count, start)
