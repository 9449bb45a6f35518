"""What users may add to every request: ``custom-headers`` and ``request-parameters``.

Both are maps a user writes freely, so both are checked against what the client and Triton
reserve for themselves: framing headers the client sets, and the parameter names of Triton's
parameters extension (seed ``003_*.txt``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import TritonConfigError
from .values import invalid_value, parse_map

__all__ = ["RESERVED_PARAMETERS", "check_headers", "check_parameters", "is_secret_header"]

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


def _check_header(name: str, text: str, key: str) -> None:
    if not _HEADER_NAME.match(name):
        raise TritonConfigError(
            f"Invalid value for option '{key}': {name!r} is not a valid HTTP header name.",
            option=key,
        )
    # A line break would let a value start a header (or a body) of its own.
    if "\r" in text or "\n" in text:
        raise TritonConfigError(
            f"Invalid value for option '{key}': the value of header {name!r} contains a "
            "line break.",
            option=key,
        )
    if name.lower() in _FRAMING_HEADERS:
        raise TritonConfigError(
            f"Invalid value for option '{key}': header {name!r} is set by the client "
            "itself and cannot be overridden.",
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
        text = str(value).lower() if isinstance(value, bool) else str(value)
        _check_header(name, text, key)
        result[name] = text
    return result


def check_parameters(params: Any, *, key: str = "request-parameters") -> dict[str, Any]:
    """Validate custom request parameters (a map or its ``WITH`` text); reserved names fail.

    :raises TritonConfigError: naming ``key``.
    """
    if isinstance(params, str):
        params = parse_map(params, key=key)
    if not isinstance(params, Mapping):
        raise invalid_value(key, params, "a mapping of parameter names to values")
    for name in params:
        if name in RESERVED_PARAMETERS or str(name).startswith("triton_"):
            raise TritonConfigError(
                f"Invalid value for option '{key}': parameter {name!r} is reserved by Triton "
                f"(reserved: {', '.join(sorted(RESERVED_PARAMETERS))}, and every 'triton_*'). "
                "Use the dedicated options ('priority', 'sequence-id', ...) instead.",
                option=key,
            )
    return dict(params)
