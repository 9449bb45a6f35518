"""What users may add to every request: ``custom-headers`` and ``request-parameters``.

Both are maps a user writes freely, so both are checked against what the client and Triton
reserve for themselves: framing headers the client sets, and the parameter names of Triton's
parameters extension (seed ``003_*.txt``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import TritonConfigError
from .maps import is_scalar
from .text import check_no_control
from .values import invalid_value, parse_map

__all__ = [
    "GENERATE_RESERVED",
    "INFERENCE_APIS",
    "RESERVED_PARAMETERS",
    "check_generate",
    "check_headers",
    "check_parameters",
    "is_secret_header",
]

#: The values of option 'inference-api': 'auto' resolves, per model, to one of the others.
INFERENCE_APIS = ("auto", "infer", "generate", "generate-stream")
#: Fields of a generate request the client sets itself (besides Triton's reserved parameters).
GENERATE_RESERVED = ("id", "parameters")

#: Request parameter names reserved by Triton (parameters extension); every ``triton_*`` too.
RESERVED_PARAMETERS = frozenset(
    {
        "sequence_id",
        "sequence_start",
        "sequence_end",
        "priority",
        "timeout",
        "headers",
        "binary_data_output",
    }
)

# Headers the client itself sets for framing; letting users override them breaks requests.
_FRAMING_HEADERS = frozenset(
    {
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "host",
        "inference-header-content-length",
        "connection",
    }
)
_SECRET_HEADER = re.compile(r"auth|token|secret|passw|key|cookie|credential", re.IGNORECASE)
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def is_secret_header(name: str) -> bool:
    """Whether a header's value looks like a credential (never shown in text)."""
    return bool(_SECRET_HEADER.search(name))


_HEADER_NAME_HELP = "a header name of letters, digits and !#$%&'*+-.^_`|~ (RFC 9110 token)"


def _check_header(name: str, text: str, key: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise TritonConfigError(
            f"Invalid value for option '{key}': {name!r} is not a valid HTTP header name. "
            f"Accepted: {_HEADER_NAME_HELP}.",
            option=key,
        )
    # A line break would let a value start a header (or a body) of its own; other controls
    # (NUL, DEL, U+0085, U+2028...) fail inside the HTTP library. The value is never shown.
    check_no_control(text, key, accepted="header values", where=f" (header {name!r})")
    if name.lower() in _FRAMING_HEADERS:
        raise TritonConfigError(
            f"Invalid value for option '{key}': header {name!r} is set by the client "
            "itself and cannot be overridden. Accepted: any header but "
            f"{', '.join(sorted(_FRAMING_HEADERS))}.",
            option=key,
        )


def check_headers(headers: Any, *, key: str = "custom-headers") -> dict[str, str]:
    """Validate custom headers (a map or its ``WITH`` text) into ``{name: value}`` strings.

    :raises TritonConfigError: naming ``key``.
    """
    if isinstance(headers, str):
        headers = parse_map(headers, key=key)
    if not isinstance(headers, Mapping):
        raise invalid_value(key, headers, "a mapping of header names to values")
    result: dict[str, str] = {}
    for name, value in headers.items():
        name = str(name).strip()
        if not is_scalar(value):  # never shown: it may be a secret
            raise TritonConfigError(
                f"Invalid value for option '{key}' (header {name!r}): a {type(value).__name__} value. "
                "Accepted: a string (a number or a boolean is sent as its text).",
                option=key,
            )
        text = str(value).lower() if isinstance(value, bool) else str(value)
        _check_header(name, text, key)
        result[name] = text
    return result


_PARAMETER_HELP = "a string, an integer, a boolean or a finite number"


def check_parameters(
    params: Any, *, key: str = "request-parameters", also_reserved: Iterable[str] = (), lists: bool = False
) -> dict[str, Any]:
    """Validate custom request parameters (a map or its ``WITH`` text); reserved names fail
    (Triton's, and ``also_reserved``: fields the client sets itself).

    Values are what Triton's parameters extension takes: strings, integers, booleans and
    numbers (as in the ``WITH`` text's JSON form), so the options round-trip through it.
    With ``lists``, also flat lists of them: a generate request's field named like a model
    input is that input's tensor (TensorRT-LLM's ``stop_words``); whether it is one is
    checked against the model (:func:`pyflink_triton.engine.binding.bind_model`).

    :raises TritonConfigError: naming ``key``.
    """
    if isinstance(params, str):
        params = parse_map(params, key=key)
    if not isinstance(params, Mapping):
        raise invalid_value(key, params, "a mapping of parameter names to values")
    reserved = RESERVED_PARAMETERS | frozenset(also_reserved)
    result: dict[str, Any] = {}
    for name, value in params.items():
        name = str(name)
        if name in reserved or name.startswith("triton_"):
            raise TritonConfigError(
                f"Invalid value for option '{key}': parameter {name!r} is reserved by Triton "
                f"or the client (reserved: {', '.join(sorted(reserved))}, and every 'triton_*'). "
                "Use the dedicated options ('priority', 'sequence-id', ...) instead.",
                option=key,
            )
        check_no_control(name, key, accepted="parameter names")
        where = f" (parameter {name!r})"
        if lists and isinstance(value, (list, tuple)):
            value = [_check_parameter_value(v, key, where, _LIST_HELP) for v in value]
        else:
            _check_parameter_value(value, key, where, _LIST_HELP if lists else _PARAMETER_HELP)
        result[name] = value
    return result


_LIST_HELP = f"{_PARAMETER_HELP}, or a flat list of them for a model input"


def _check_parameter_value(value: Any, key: str, where: str, accepted: str) -> Any:
    if isinstance(value, str):
        check_no_control(value, key, accepted="parameter values", where=where)
    elif not isinstance(value, (bool, int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise TritonConfigError(
            f"Invalid value for option '{key}'{where}: a {type(value).__name__} value. Accepted: {accepted}.",
            option=key,
        )
    return value


def check_generate(inference_api: Any, generate_parameters: Any, sequence_id: str | None) -> tuple[str, dict[str, Any]]:
    """Options 'inference-api' and 'generate-parameters', normalised and checked together."""
    api = str(inference_api).strip().lower()
    if api not in INFERENCE_APIS:
        raise invalid_value("inference-api", inference_api, ", ".join(f"'{a}'" for a in INFERENCE_APIS))
    params = check_parameters(
        generate_parameters, key="generate-parameters", also_reserved=GENERATE_RESERVED, lists=True
    )
    if api == "generate" and params.get("stream") is True:
        raise TritonConfigError(
            "Option 'generate-parameters' asks for \"stream\": true, but 'inference-api' = 'generate' "
            "takes exactly one response a request, and a streaming model sends one a piece. Accepted: "
            "'inference-api' = 'generate-stream' (or 'auto') to stream, or leave \"stream\" out.",
            option="inference-api",
        )
    if api in ("generate", "generate-stream") and sequence_id is not None:
        raise TritonConfigError(
            f"Options 'sequence-id' and 'inference-api' = '{api}' do not go together: Triton's "
            "generate endpoints carry no sequence. Accepted: 'inference-api' = 'infer' or 'auto' "
            "for a stateful model.",
            option="inference-api",
        )
    return api, params
