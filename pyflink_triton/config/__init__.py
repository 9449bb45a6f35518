"""Configuration: the options of a triton model, the provider keyword API, the endpoint."""

from __future__ import annotations

from .endpoint import Endpoint
from .options import (
    OPTION_SPECS,
    RESERVED_PARAMETERS,
    SUPPORTED_KEYS,
    OptionSpec,
    TritonOptions,
    format_duration,
    parse_bool,
    parse_duration,
    parse_map,
)
from .provider import TritonProvider

__all__ = [
    "Endpoint",
    "OPTION_SPECS",
    "OptionSpec",
    "RESERVED_PARAMETERS",
    "SUPPORTED_KEYS",
    "TritonOptions",
    "TritonProvider",
    "format_duration",
    "parse_bool",
    "parse_duration",
    "parse_map",
]
