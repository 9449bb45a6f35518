"""What goes into a request and what must come back, with no I/O.

Headers from the options, request parameters (priority, sequence flags), how a batch is cut
into chunks the model accepts, and the checks on what the server answered.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy.typing as npt

from ..config import TritonOptions
from ..errors import (
    TritonClientRequestError,
    TritonProtocolError,
    TritonSchemaError,
    TritonServerError,
    server_error_for_status,
)
from ..protocol import Tensor, error_message
from .correlation import BatchTag

__all__ = [
    "Batch",
    "build_headers",
    "check_outputs",
    "check_rows",
    "error_context",
    "json_object",
    "output_datatypes",
    "plan_chunks",
    "request_parameters",
    "status_error",
]

_UINT64_MAX = 2**64 - 1

#: Triton's answer to ``/infer`` on a decoupled model (501 since 2.42, 400 before).
_DECOUPLED_REFUSAL = "doesn't support models with decoupled transaction policy"


@dataclass(frozen=True)
class Batch:
    """One ``infer_parts`` call: what every chunk (request) of it shares."""

    tensors: list[Tensor]
    rows: int
    checked: bool  # whether outputs must have the chunk's row count (the model batches)
    outputs: Sequence[str] | None
    binary_outputs: tuple[str, ...]
    parameters: Mapping[str, Any] | None
    required: Sequence[str] | None = None  # outputs the caller named: each must come back
    declared: Mapping[str, str] = field(default_factory=dict)  # output -> datatype (metadata)
    tag: BatchTag = field(default_factory=lambda: BatchTag("request"))  # names the requests


def error_context(options: TritonOptions) -> dict[str, str | None]:
    """``model``/``version``/``endpoint`` (without credentials) for every error we raise."""
    return {
        "model": options.model_name,
        "version": options.model_version,
        "endpoint": str(options.parsed_endpoint),
    }


def build_headers(options: TritonOptions) -> dict[str, str]:
    """Headers sent with every request: ``Accept-Encoding``, custom headers, authorization."""
    # aiohttp would ask for gzip/deflate/br by default, and Triton would then spend CPU
    # compressing every response; ask for gzip only when compression is on.
    headers = {"Accept-Encoding": "gzip" if options.compression == "gzip" else "identity"}
    headers.update(options.custom_headers)
    endpoint = options.parsed_endpoint
    if options.auth_token:
        token = options.auth_token
        # Flink's docs write 'Bearer <token>'; do not send 'Bearer Bearer <token>'.
        bearer = token.lower().startswith("bearer ")
        headers["Authorization"] = token if bearer else f"Bearer {token}"
    elif endpoint.username is not None:
        # user:password@ in the endpoint means HTTP basic auth (RFC 7617).
        pair = f"{endpoint.username}:{endpoint.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    return headers


def request_parameters(
    options: TritonOptions, extra: Mapping[str, Any] | None, *, sequence_open: bool, last: bool
) -> dict[str, Any]:
    """The ``parameters`` of one inference request.

    :param extra: per-call parameters, merged over ``request-parameters``.
    :param sequence_open: a ``sequence_start`` was sent and no ``sequence_end`` since.
    :param last: this request carries the last rows of its ``infer()`` call.
    """
    params: dict[str, Any] = dict(options.request_parameters)
    if extra:
        params.update(extra)
    if options.priority is not None:
        params["priority"] = options.priority
    if options.sequence_id:
        sid = options.sequence_id
        # Triton takes a uint64 or a string; digits that fit go as the number.
        params["sequence_id"] = int(sid) if sid.isdigit() and int(sid) <= _UINT64_MAX else sid
        # The first request of the sequence carries 'sequence_start'; with 'sequence-end',
        # the last request of each infer() call ends it (and the next call starts anew).
        if options.sequence_start and not sequence_open:
            params["sequence_start"] = True
        if options.sequence_end and last:
            params["sequence_end"] = True
    return params


def plan_chunks(
    tensors: Sequence[Tensor], limit: int, context: Mapping[str, str | None]
) -> tuple[int, list[tuple[int, int]]]:
    """Cut a batch into ``[start, stop)`` row ranges of at most ``limit`` rows.

    :param limit: rows per request; 0 sends everything in one request (rows are then 0:
        without a batch dimension there is nothing to count).
    :return: the batch's rows and the ranges, in order.
    :raises TritonSchemaError: the inputs do not share their first dimension.
    """
    first = tensors[0].data
    rows = first.shape[0] if limit and first.ndim else 0
    if limit and any(t.data.ndim == 0 or t.data.shape[0] != rows for t in tensors):
        shapes = ", ".join(f"{t.name}{list(t.data.shape)}" for t in tensors)
        raise TritonSchemaError(f"inputs must share their first (batch) dimension: {shapes}", **context)
    if not limit:
        return rows, [(0, rows)]
    return rows, [(a, min(a + limit, rows)) for a in range(0, rows, limit)] or [(0, 0)]


def check_rows(
    outputs: dict[str, npt.NDArray[Any]], rows: int | None, context: Mapping[str, str | None]
) -> dict[str, npt.NDArray[Any]]:
    """Return ``outputs`` if each has ``rows`` rows (``None``: not checked).

    :raises TritonSchemaError: an output has another row count.
    """
    if rows is not None:
        for name, arr in outputs.items():
            if arr.ndim == 0 or arr.shape[0] != rows:
                raise TritonSchemaError(
                    f"output '{name}' has shape {list(arr.shape)} for a batch of {rows} rows",
                    **context,
                )
    return outputs


def json_object(payload: bytes, what: str, context: Mapping[str, str | None]) -> dict[str, Any]:
    """Parse a JSON object (metadata, config).

    :raises TritonProtocolError: the payload is not JSON, or not an object.
    """
    try:
        result = json.loads(payload)
    except (ValueError, RecursionError):
        raise TritonProtocolError(f"{what}: the server's answer is not JSON", **context) from None
    if not isinstance(result, dict):
        raise TritonProtocolError(f"{what}: expected a JSON object", **context)
    return result


def output_datatypes(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Output name -> datatype, as the model's metadata declares them (entries without
    both are left out: nothing can be checked against them)."""
    outputs = metadata.get("outputs")
    declared: dict[str, str] = {}
    for entry in outputs if isinstance(outputs, list) else ():
        if isinstance(entry, dict):
            name, datatype = entry.get("name"), entry.get("datatype")
            if isinstance(name, str) and isinstance(datatype, str):
                declared[name] = datatype
    return declared


def check_outputs(
    received: Mapping[str, str], requested: Sequence[str] | None, declared: Mapping[str, str]
) -> str | None:
    """What is wrong with the outputs a 200 response carried, in words; ``None``: nothing.

    :param received: output name -> datatype, as the response gave them.
    :param requested: the outputs the caller named (``None``: whatever the server sends).
    :param declared: output name -> datatype from the model's metadata (may be empty).
    """
    missing = [name for name in requested or () if name not in received]
    if missing:
        got = _names(list(received)) or "none"
        return f"requested output(s) {_names(missing)} missing from the response (it has {got})"
    for name, datatype in received.items():
        expected = declared.get(name)
        if expected is not None and expected != datatype:
            return f"output {_names([name])} came back as {datatype}, but the model's metadata declares {expected}"
    return None


def _names(names: Sequence[str], most: int = 10) -> str:
    """``'a', 'b'`` for a message: at most ``most`` names, each shortened."""
    shown = ", ".join(repr(n if len(n) <= 80 else n[:80] + "...") for n in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def status_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    what: str,
    redact: Callable[[str], str],
    context: Mapping[str, Any],
) -> TritonServerError:
    """The error of a non-200 answer: Triton's message (redacted) and the class of its status.

    ``/infer`` on a decoupled model is a request error, not a server failure to retry: such a
    model answers through the generate extension only, and the message says which option does it.
    """
    message = error_message(body, headers.get("Content-Type"), redact=redact)
    if _DECOUPLED_REFUSAL in message:
        return TritonClientRequestError(
            f"{what} failed with HTTP {status}: {message}: the model is decoupled (e.g. an LLM), which "
            "Triton serves only through its generate extension; use option 'inference-api' = 'generate' "
            "(or 'generate-stream', or 'auto')",
            status=status,
            server_message=message,
            **context,
        )
    return server_error_for_status(status, message, action=what, **context)
