"""Configuration: the options of a triton model, the provider keyword API, the endpoint.

Modules, bottom up: ``maps`` (map syntax) and ``values`` (option text <-> Python values),
``text`` (no control characters), ``secrets`` (secret options resolved where the
client opens), ``spec`` (the option table), ``endpoint`` (credentials never
shown), ``request_extras`` (custom headers and request parameters), ``options``
(``TritonOptions``: all validation), ``provider`` (PyFlink's ``TritonProvider``), ``coerce``
(``as_options``). Other layers import from this package only.
"""

from __future__ import annotations

from .coerce import ModelLike, as_options
from .endpoint import Endpoint
from .options import PRIORITY_MAX, PRIORITY_MIN, TritonOptions
from .provider import TritonDefaultValue, TritonProvider
from .request_extras import GENERATE_RESERVED, INFERENCE_APIS, RESERVED_PARAMETERS, is_secret_header
from .secrets import VARIABLE, Secret
from .spec import OPTION_SPECS, PROVIDER_KEYWORDS, REQUIRED_KEYS, SUPPORTED_KEYS, OptionSpec
from .values import format_default_value, format_duration, format_size, parse_bool, parse_duration, parse_map

__all__ = [
    "GENERATE_RESERVED",
    "INFERENCE_APIS",
    "OPTION_SPECS",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "PROVIDER_KEYWORDS",
    "REQUIRED_KEYS",
    "RESERVED_PARAMETERS",
    "SUPPORTED_KEYS",
    "VARIABLE",
    "Endpoint",
    "ModelLike",
    "OptionSpec",
    "Secret",
    "TritonDefaultValue",
    "TritonOptions",
    "TritonProvider",
    "as_options",
    "format_default_value",
    "format_duration",
    "format_size",
    "is_secret_header",
    "parse_bool",
    "parse_duration",
    "parse_map",
]
