"""Inference request bodies: :func:`encode_request` and the :class:`EncodedRequest` it builds."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pyflink_triton.errors import TritonConfigError, TritonSchemaError

from . import jsonio
from .bytes_tensor import bytes_tensor_buffer, element_bytes
from .datatypes import BF16, BYTES, FP16
from .tensors import Tensor, bf16_bits, coerce

__all__ = ["COMPRESSIONS", "EncodedRequest", "encode_request"]

#: accepted values of ``encode_request(compression=...)`` besides None
COMPRESSIONS: tuple[str, ...] = ("gzip", "deflate")


@dataclass(frozen=True)
class EncodedRequest:
    """A ready-to-send request body and the headers that describe it (Content-Length excluded)."""

    body: bytes
    headers: dict[str, str]


def encode_request(
    inputs: Sequence[Tensor],
    *,
    outputs: Sequence[str] | None = None,
    binary: bool = True,
    binary_outputs: Collection[str] = (),
    parameters: Mapping[str, object] | None = None,
    request_id: str | None = None,
    compression: str | None = None,
    compression_level: int = 1,
) -> EncodedRequest:
    """Encode an inference request body.

    ``binary=True`` sends every input as binary data and asks for binary outputs
    (per output, or with ``binary_data_output`` when ``outputs`` is None).
    ``binary=False`` sends JSON ``data`` and asks for JSON outputs, except for the
    inputs JSON cannot carry, which go binary on their own: FP16 and BF16, BYTES
    with elements that are not valid UTF-8, and floats holding NaN or infinity.
    A server may still send FP16/BF16 outputs as binary; :func:`decode_response`
    reads both.

    :param outputs: names of the outputs wanted; None for all of them.
    :param binary_outputs: with ``binary=False``, outputs to ask as binary all the same
        (Triton refuses to send FP16/BF16 as JSON).
    :param parameters: request-level parameters (``sequence_id``, ``priority``...).
    :param request_id: sent as ``id`` and echoed back by the server.
    :param compression: ``"gzip"``, ``"deflate"`` or None.
    :raises TritonSchemaError: for data that does not fit its datatype or duplicate names.
    :raises TritonConfigError: (a ValueError) for an unsupported compression.
    """
    encoding = _content_encoding(compression, compression_level)
    entries, chunks, has_binary = _encode_inputs(inputs, binary)
    header = _json_header(entries, outputs, binary, binary_outputs, parameters, request_id)
    headers = {"Content-Type": "application/octet-stream" if has_binary else "application/json"}
    if has_binary:
        headers["Inference-Header-Content-Length"] = str(len(header))
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    body = _join_body([header, *chunks], encoding, compression_level)
    return EncodedRequest(body=body, headers=headers)


def _json_header(
    entries: list[dict[str, Any]],
    outputs: Sequence[str] | None,
    binary: bool,
    binary_outputs: Collection[str],
    parameters: Mapping[str, object] | None,
    request_id: str | None,
) -> bytes:
    request: dict[str, Any] = {}
    if request_id:
        request["id"] = str(request_id)
    params = dict(parameters) if parameters else {}
    if binary and outputs is None:
        params = {"binary_data_output": True, **params}
    if params:
        request["parameters"] = params
    request["inputs"] = entries
    if outputs is not None:
        request["outputs"] = _requested_outputs(outputs, binary, binary_outputs)
    try:
        return jsonio.dumps(request)
    except (TypeError, ValueError) as exc:
        raise TritonSchemaError(f"request cannot be encoded as JSON: {exc}") from None


def _encode_inputs(inputs: Sequence[Tensor], binary: bool) -> tuple[list[dict[str, Any]], list[memoryview], bool]:
    """The header's input entries, the binary chunks, and whether any input went binary."""
    entries: list[dict[str, Any]] = []
    chunks: list[memoryview] = []
    has_binary = False
    seen: set[str] = set()
    for tensor in inputs:
        if not isinstance(tensor, Tensor):
            raise TritonSchemaError(f"inputs must be Tensor objects, got {type(tensor).__name__}")
        if tensor.name in seen:
            raise TritonSchemaError(f"input {tensor.name!r} given twice")
        seen.add(tensor.name)
        data = coerce(tensor.name, tensor.data, tensor.datatype)
        entry: dict[str, Any] = {
            "name": tensor.name,
            "shape": list(data.shape),
            "datatype": tensor.datatype,
        }
        values = None if binary else _json_payload(tensor, data)
        if values is None:
            payload = _binary_payload(tensor, data)
            entry["parameters"] = {"binary_data_size": payload.nbytes}
            has_binary = True
            if payload.nbytes:
                chunks.append(payload.reshape(-1).view(np.uint8).data)
        else:
            entry["data"] = values
        entries.append(entry)
    return entries, chunks, has_binary


def _requested_outputs(outputs: Sequence[str], binary: bool, binary_outputs: Collection[str]) -> list[dict[str, Any]]:
    names = list(outputs)
    if len(set(names)) != len(names):
        raise TritonSchemaError(f"an output is requested twice: {names}")
    for name in names:
        if not isinstance(name, str) or not name:
            raise TritonSchemaError(f"output names must be non-empty strings, got {name!r}")
    return [{"name": name, "parameters": {"binary_data": binary or name in binary_outputs}} for name in names]


def _binary_payload(tensor: Tensor, data: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The tensor's wire bytes as a C-contiguous array (the data itself when possible)."""
    if tensor.datatype == BYTES:
        return bytes_tensor_buffer(data, tensor.name)
    if tensor.datatype == BF16:
        return bf16_bits(data)
    return data if data.flags.c_contiguous else np.ascontiguousarray(data)


def _json_payload(tensor: Tensor, data: npt.NDArray[Any]) -> list[Any] | None:
    """The tensor's flat JSON ``data``, or None when it has to travel as binary."""
    if tensor.datatype in (FP16, BF16):
        return None
    if tensor.datatype == BYTES:
        return _json_strings(tensor.name, data)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        return None  # JSON has no NaN or infinity
    values: list[Any] = data.ravel().tolist()
    return values


def _json_strings(name: str, data: npt.NDArray[Any]) -> list[str] | None:
    """BYTES elements as JSON strings, or None when one is not valid UTF-8."""
    items: list[Any] = data.ravel().tolist()  # str elements, or bytes-like ones
    try:
        # one join to check every str encodes, instead of an encode per element
        "".join(items).encode("utf-8")
        return items
    except TypeError:
        pass
    except UnicodeEncodeError:
        for i, value in enumerate(items):
            element_bytes(value, i, data, name)  # raises, naming the element
    values: list[str] = []
    for i, value in enumerate(items):
        if isinstance(value, (bytes, bytearray, memoryview)):
            try:
                values.append(str(value, "utf-8"))
            except UnicodeDecodeError:
                return None
        else:
            values.append(element_bytes(value, i, data, name).decode("utf-8"))
    return values


def _content_encoding(compression: str | None, level: int) -> str | None:
    """The request's Content-Encoding for ``compression``, after checking it and ``level``."""
    if compression is None:
        return None
    kind = compression.lower() if isinstance(compression, str) else compression
    if kind not in COMPRESSIONS:
        raise TritonConfigError(
            f"unsupported compression {compression!r}; use one of {', '.join(COMPRESSIONS)} or None",
            option="compression",
        )
    if not isinstance(level, int) or not -1 <= level <= 9:
        raise TritonConfigError(f"compression level must be -1..9, got {level!r}", option="compression-level")
    return kind


def _join_body(parts: list[Any], encoding: str | None, level: int) -> bytes:
    """Concatenate header and chunks, compressed when ``encoding`` is set."""
    if encoding is None:
        return b"".join(parts) if len(parts) > 1 else parts[0]
    # wbits 31: gzip framing (mtime 0, so equal requests give equal bodies); 15: zlib
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    packed = [compressor.compress(part) for part in parts]
    packed.append(compressor.flush())
    return b"".join(packed)
