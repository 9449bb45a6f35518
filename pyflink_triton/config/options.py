"""``TritonOptions``: the options of ``CREATE MODEL ... WITH ('provider' = 'triton', ...)``.

The 22 keys of Flink's Java ``triton`` provider keep their names, types and defaults, so a
``CREATE MODEL`` written for Flink's Java provider works here unchanged. The keys marked
*ours* in :data:`OPTION_SPECS` are additions of this project (the Java provider has none).

Values come in as the strings of a ``WITH`` clause (or Python values from a dict) and are
parsed and validated once, here: every bad value is reported with the key and what is
accepted; secrets (``auth-token``, passwords in the endpoint, credential-like headers)
never appear in ``repr``, ``str`` or error messages.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .endpoint import Endpoint
from ..errors import TritonConfigError

__all__ = [
    "TritonOptions",
    "OptionSpec",
    "OPTION_SPECS",
    "SUPPORTED_KEYS",
    "RESERVED_PARAMETERS",
    "parse_duration",
    "format_duration",
    "parse_bool",
    "parse_map",
]

PROVIDER = "triton"

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

# ---------------------------------------------------------------------------------------
# Value parsers, following Flink's own rules (TimeUtils, ConfigurationUtils).
# ---------------------------------------------------------------------------------------

_DURATION_UNITS: dict[str, float] = {}
for _factor, _names in (
    (86400.0, ("d", "day", "days")),
    (3600.0, ("h", "hour", "hours")),
    (60.0, ("min", "m", "minute", "minutes")),
    (1.0, ("s", "sec", "secs", "second", "seconds")),
    (1e-3, ("ms", "milli", "millis", "millisecond", "milliseconds")),
    (1e-6, ("µs", "us", "micro", "micros", "microsecond", "microseconds")),
    (1e-9, ("ns", "nano", "nanos", "nanosecond", "nanoseconds")),
):
    for _name in _names:
        _DURATION_UNITS[_name] = _factor

_DURATION = re.compile(r"^\s*(\d+)\s*([a-zµ]*)\s*$")
_DURATION_HELP = (
    "a duration such as '10s', '30000ms', '1 min' or a bare number of milliseconds "
    "(units: d, h, min/m, s, ms, us, ns)"
)


def parse_duration(value: Any, *, key: str = "duration") -> float:
    """Parse a Flink duration (``'10s'``, ``'30000ms'``, ``'1 min'``, ``'5000'`` = ms) into seconds.

    :raises TritonConfigError: naming ``key`` when the text is not a duration.
    """
    if isinstance(value, bool):
        raise TritonConfigError(
            f"Invalid value for option '{key}': {value!r}. Accepted: {_DURATION_HELP}.", option=key
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # A Python number follows Flink's rule for a bare number: milliseconds.
        if value < 0 or not math.isfinite(value):
            raise TritonConfigError(
                f"Invalid value for option '{key}': {value!r}. Accepted: {_DURATION_HELP}.",
                option=key,
            )
        return float(value) / 1000.0
    match = _DURATION.match(str(value).lower())
    if not match or (match.group(2) and match.group(2) not in _DURATION_UNITS):
        raise TritonConfigError(
            f"Invalid value for option '{key}': {str(value)!r}. Accepted: {_DURATION_HELP}.",
            option=key,
        )
    number, unit = match.groups()
    return int(number) * _DURATION_UNITS[unit or "ms"]


def format_duration(seconds: float) -> str:
    """Format seconds the way Flink prints durations: ``'30 s'`` style without the space."""
    ms = round(seconds * 1000)
    if ms % 60000 == 0 and ms:
        return f"{ms // 60000}min"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


def parse_bool(value: Any, *, key: str = "boolean") -> bool:
    """Parse ``true``/``false`` (any case), as Flink does; Python bools pass through."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise TritonConfigError(
        f"Invalid value for option '{key}': {str(value)!r}. Accepted: 'true' or 'false'.",
        option=key,
    )


def _read_token(text: str, i: int, stop: str) -> tuple[str, int]:
    """Read one key or value starting at ``i``; quoted ('x' or "x", doubled quote escapes)
    or plain up to ``stop``. Returns the token and the index of the stop (or the end)."""
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    if i < n and text[i] in "'\"":
        quote, i, buf = text[i], i + 1, []
        while True:
            if i >= n:
                raise ValueError(f"unclosed quote {quote}")
            if text[i] == quote:
                if i + 1 < n and text[i + 1] == quote:
                    buf.append(quote)
                    i += 2
                    continue
                i += 1
                break
            buf.append(text[i])
            i += 1
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] != stop:
            raise ValueError(f"unexpected {text[i]!r} after a quoted token")
        return "".join(buf), i
    j = text.find(stop, i)
    j = n if j < 0 else j
    return text[i:j].strip(), j


def _parse_pairs(text: str) -> dict[str, str]:
    """Flink map syntax: ``k1:v1,k2:v2``; a value runs to the next comma, so it may hold
    colons (URLs); quote a key or value to put ``,`` or ``:`` in it."""
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        key, i = _read_token(text, i, ":")
        if i >= n:
            if key:
                raise ValueError(f"entry {key!r} has no 'key:value' form")
            break
        if not key:
            raise ValueError("an entry has an empty key")
        value, i = _read_token(text, i + 1, ",")
        result[key] = value
        i += 1  # past the comma
    return result


def parse_map(value: Any, *, key: str = "map") -> dict[str, Any]:
    """Parse Flink map syntax ``'k1:v1,k2:v2'`` (quotes allowed) or a JSON object.

    JSON values keep their JSON types (numbers, booleans); map-syntax values are strings.
    """
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    text = str(value).strip()
    if not text:
        return {}
    accepted = "Flink map syntax 'key1:value1,key2:value2' or a JSON object '{\"key1\": \"value1\"}'"
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TritonConfigError(
                f"Invalid value for option '{key}': not valid JSON ({exc.msg} at position "
                f"{exc.pos}). Accepted: {accepted}.",
                option=key,
            ) from None
        if not isinstance(parsed, dict) or any(
            isinstance(v, (dict, list)) or v is None for v in parsed.values()
        ):
            raise TritonConfigError(
                f"Invalid value for option '{key}': the JSON must be an object of scalar values. "
                f"Accepted: {accepted}.",
                option=key,
            )
        return parsed
    try:
        return dict(_parse_pairs(text))
    except ValueError as exc:
        raise TritonConfigError(
            f"Invalid value for option '{key}': {exc}. Accepted: {accepted}.", option=key
        ) from None


# ---------------------------------------------------------------------------------------
# The option table.
# ---------------------------------------------------------------------------------------

Kind = Literal["string", "int", "float", "bool", "duration", "map", "raw"]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One ``CREATE MODEL`` option: its key, the ``TritonOptions`` attribute, type and origin."""

    key: str
    attr: str
    kind: Kind
    description: str
    ours: bool = False
    secret: bool = False


OPTION_SPECS: tuple[OptionSpec, ...] = (
    # --- Flink's Java provider (same keys, types and defaults) ---
    OptionSpec("endpoint", "endpoint", "string", "Triton HTTP URL, e.g. http://localhost:8000/v2/models (required)."),
    OptionSpec("model-name", "model_name", "string", "Model name on the server (required)."),
    OptionSpec("model-version", "model_version", "string", "Model version: digits, or 'latest' (default) for the server's choice."),
    OptionSpec("timeout", "timeout_s", "duration", "HTTP request timeout (default 30s; bare number = ms)."),
    OptionSpec("flatten-batch-dim", "flatten_batch_dim", "bool", "Send array inputs as [N] instead of [1, N] (models without a batch dim)."),
    OptionSpec("priority", "priority", "int", "Request priority, parameters.priority (0 = model default; lower = higher priority)."),
    OptionSpec("sequence-id", "sequence_id", "string", "Sequence id for stateful models (uint64 digits or a string)."),
    OptionSpec("sequence-start", "sequence_start", "bool", "Mark requests as the start of the sequence."),
    OptionSpec("sequence-end", "sequence_end", "bool", "Mark requests as the end of the sequence."),
    OptionSpec("compression", "compression", "string", "Request body compression: 'gzip' (responses are then asked gzip too)."),
    OptionSpec("auth-token", "auth_token", "string", "Sent as 'Authorization: Bearer <token>'.", secret=True),
    OptionSpec("custom-headers", "custom_headers", "map", "Extra HTTP headers: 'X-A:1,X-B:2' or a JSON object."),
    OptionSpec("max-retries", "max_retries", "int", "Retries after the first attempt, on network errors, timeouts and 5xx only (default 0)."),
    OptionSpec("retry-initial-backoff", "retry_initial_backoff_s", "duration", "First backoff (default 100ms); doubles each retry, with equal jitter."),
    OptionSpec("retry-max-backoff", "retry_max_backoff_s", "duration", "Backoff cap (default 30s)."),
    OptionSpec("default-value", "default_value", "raw", "Fallback output when inference fails; 'null' = SQL NULL; parsed for the output type."),
    OptionSpec("health-check-enabled", "health_check_enabled", "bool", "Probe /v2/health/live periodically (failures count against the circuit breaker)."),
    OptionSpec("health-check-interval", "health_check_interval_s", "duration", "Health probe period (default 30s)."),
    OptionSpec("circuit-breaker-enabled", "circuit_breaker_enabled", "bool", "Enable the CLOSED/OPEN/HALF_OPEN circuit breaker."),
    OptionSpec("circuit-breaker-failure-threshold", "circuit_breaker_failure_threshold", "float", "Failure rate in (0, 1] that opens the breaker, judged after >= 10 requests (default 0.5)."),
    OptionSpec("circuit-breaker-timeout", "circuit_breaker_timeout_s", "duration", "Time OPEN before HALF_OPEN (default 60s)."),
    OptionSpec("circuit-breaker-half-open-requests", "circuit_breaker_half_open_requests", "int", "Successful probes needed to close the breaker (default 3)."),
    # --- ours ---
    OptionSpec("batch-size", "batch_size", "int", "Max rows per request (default: the model's max_batch_size).", ours=True),
    OptionSpec("binary-data", "binary_data", "bool", "Binary tensor extension (default true); false sends JSON.", ours=True),
    OptionSpec("max-concurrent-requests", "max_concurrent_requests", "int", "Requests in flight per client (default 4); also sizes the connection pool.", ours=True),
    OptionSpec("request-parameters", "request_parameters", "map", "Custom request parameters (Triton parameters extension); reserved names rejected.", ours=True),
    OptionSpec("health-check-timeout", "health_check_timeout_s", "duration", "Timeout of one health probe (default 5s).", ours=True),
    OptionSpec("tls-verify", "tls_verify", "bool", "Verify the server's TLS certificate (default true).", ours=True),
    OptionSpec("tls-ca-file", "tls_ca_file", "string", "PEM file of CA certificates to trust for https endpoints.", ours=True),
)

_SPEC_BY_KEY = {s.key: s for s in OPTION_SPECS}
_SPEC_BY_ATTR = {s.attr: s for s in OPTION_SPECS}
SUPPORTED_KEYS: tuple[str, ...] = tuple(sorted(_SPEC_BY_KEY))
REQUIRED_KEYS = ("endpoint", "model-name")


def _bad(key: str, value: Any, accepted: str) -> TritonConfigError:
    shown = "<redacted>" if _SPEC_BY_KEY.get(key, None) and _SPEC_BY_KEY[key].secret else repr(value)
    return TritonConfigError(
        f"Invalid value for option '{key}': {shown}. Accepted: {accepted}.", option=key
    )


def _parse_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise _bad(key, value, "an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise _bad(key, value, "an integer") from None


def _parse_float(value: Any, key: str) -> float:
    if isinstance(value, bool):
        raise _bad(key, value, "a number")
    try:
        return float(str(value).strip()) if not isinstance(value, (int, float)) else float(value)
    except ValueError:
        raise _bad(key, value, "a number") from None


def _parse_raw(value: Any, key: str) -> str:
    # default-value stays text until the output type is known (the UDF parses it);
    # Python values given in a dict are written the way TritonProvider writes them.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, allow_nan=False)
    return str(value)


_PARSERS = {
    "string": lambda v, k: str(v),
    "raw": _parse_raw,
    "int": _parse_int,
    "float": _parse_float,
    "bool": lambda v, k: parse_bool(v, key=k),
    "duration": lambda v, k: parse_duration(v, key=k),
    "map": lambda v, k: parse_map(v, key=k),
}


@dataclass(frozen=True)
class TritonOptions:
    """Validated options of one Triton model.

    Build it from a ``CREATE MODEL ... WITH (...)`` map with :meth:`from_map`, or directly
    with typed keyword arguments (durations in seconds). Construction validates every field.

    Example::

        >>> opts = TritonOptions.from_map({
        ...     "provider": "triton",
        ...     "endpoint": "http://localhost:8000/v2/models",
        ...     "model-name": "text-classification",
        ...     "timeout": "10000",
        ... })
        >>> opts.timeout_s
        10.0
    """

    endpoint: str
    model_name: str
    model_version: str = "latest"
    timeout_s: float = 30.0
    flatten_batch_dim: bool = False
    priority: int | None = None
    sequence_id: str | None = None
    sequence_start: bool = False
    sequence_end: bool = False
    compression: str | None = None
    auth_token: str | None = field(default=None, repr=False)
    custom_headers: dict[str, str] = field(default_factory=dict, repr=False)
    max_retries: int = 0
    retry_initial_backoff_s: float = 0.1
    retry_max_backoff_s: float = 30.0
    default_value: str | None = None
    health_check_enabled: bool = False
    health_check_interval_s: float = 30.0
    circuit_breaker_enabled: bool = False
    circuit_breaker_failure_threshold: float = 0.5
    circuit_breaker_timeout_s: float = 60.0
    circuit_breaker_half_open_requests: int = 3
    # ours
    batch_size: int | None = None
    binary_data: bool = True
    max_concurrent_requests: int = 4
    request_parameters: dict[str, Any] = field(default_factory=dict)
    health_check_timeout_s: float = 5.0
    tls_verify: bool = True
    tls_ca_file: str | None = None

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_map(cls, options: Mapping[str, Any]) -> TritonOptions:
        """Parse the options of a ``CREATE MODEL ... WITH (...)`` clause.

        ``provider`` may be present and must then be ``'triton'``. Unknown keys are rejected
        with the list of supported keys, as Flink does.

        :raises TritonConfigError: naming the key at fault and the accepted values.
        """
        opts = dict(options)
        provider = opts.pop("provider", None)
        if provider is not None and str(provider).strip().lower() != PROVIDER:
            raise TritonConfigError(
                f"Option 'provider' is {str(provider)!r}, not 'triton': these options belong to "
                "another provider and are not validated here.",
                option="provider",
            )
        unknown = sorted(k for k in opts if k not in _SPEC_BY_KEY)
        if unknown:
            raise TritonConfigError(
                "Unsupported options found for 'triton'.\n\n"
                "Unsupported options:\n\n" + "\n".join(unknown) + "\n\n"
                "Supported options:\n\n" + "\n".join(("provider",) + SUPPORTED_KEYS),
                option=unknown[0],
            )
        missing = [k for k in REQUIRED_KEYS if opts.get(k) in (None, "")]
        if missing:
            raise TritonConfigError(
                "One or more required options are missing for 'triton'.\n\n"
                "Missing required options are:\n\n" + "\n".join(missing),
                option=missing[0],
            )
        kwargs: dict[str, Any] = {}
        for key, raw in opts.items():
            if raw is None:
                continue
            spec = _SPEC_BY_KEY[key]
            kwargs[spec.attr] = _PARSERS[spec.kind](raw, key)
        return cls(**kwargs)

    def __post_init__(self) -> None:
        # Normalise (frozen: via object.__setattr__) then validate, so direct construction
        # and from_map() share one set of rules and messages.
        def set_(attr: str, value: Any) -> None:
            object.__setattr__(self, attr, value)

        self.parsed_endpoint  # validates the URL
        if not isinstance(self.model_name, str) or not self.model_name.strip():
            raise _bad("model-name", self.model_name, "a non-empty model name")
        set_("model_name", self.model_name.strip())
        version = "latest" if self.model_version in (None, "") else str(self.model_version).strip()
        if version.lower() == "latest":
            version = "latest"
        elif not version.isdigit():
            raise _bad("model-version", self.model_version, "'latest' or a version number such as '1'")
        set_("model_version", version)
        for attr in ("timeout_s", "health_check_interval_s", "health_check_timeout_s"):
            self._require(attr, getattr(self, attr) > 0, "a duration greater than zero")
        self._require("circuit_breaker_timeout_s", self.circuit_breaker_timeout_s >= 0, "a duration >= 0")
        if self.priority is not None:
            self._require("priority", self.priority >= 0, "an integer >= 0 (0 = the model's default priority)")
        if self.sequence_id is not None:
            sid = str(self.sequence_id).strip()
            set_("sequence_id", sid or None)
        if self.compression is not None:
            comp = str(self.compression).strip().lower()
            if comp in ("", "none"):
                comp = None
            elif comp != "gzip":
                raise _bad("compression", self.compression, "'gzip'")
            set_("compression", comp)
        if self.auth_token is not None:
            token = str(self.auth_token)
            if "\r" in token or "\n" in token:
                raise TritonConfigError(
                    "Invalid value for option 'auth-token': it must not contain line breaks.",
                    option="auth-token",
                )
            set_("auth_token", token.strip() or None)
        set_("custom_headers", self._check_headers(self.custom_headers))
        if self.auth_token and any(h.lower() == "authorization" for h in self.custom_headers):
            raise TritonConfigError(
                "Options 'auth-token' and 'custom-headers' both set an Authorization header: "
                "keep one of them.",
                option="custom-headers",
            )
        self._require("max_retries", self.max_retries >= 0, "an integer >= 0")
        if self.max_retries > 0:
            self._require(
                "retry_initial_backoff_s",
                self.retry_initial_backoff_s > 0,
                "a duration greater than zero when 'max-retries' > 0",
            )
            self._require(
                "retry_max_backoff_s",
                self.retry_max_backoff_s >= self.retry_initial_backoff_s,
                f"a duration >= 'retry-initial-backoff' ({format_duration(self.retry_initial_backoff_s)})",
            )
        self._require(
            "circuit_breaker_failure_threshold",
            0.0 < self.circuit_breaker_failure_threshold <= 1.0,
            "a number in (0.0, 1.0]",
        )
        self._require(
            "circuit_breaker_half_open_requests",
            self.circuit_breaker_half_open_requests > 0,
            "an integer > 0",
        )
        if self.batch_size is not None:
            self._require("batch_size", self.batch_size > 0, "an integer > 0")
        self._require("max_concurrent_requests", self.max_concurrent_requests > 0, "an integer > 0")
        set_("request_parameters", self._check_parameters(self.request_parameters))
        if self.tls_ca_file is not None and not str(self.tls_ca_file).strip():
            set_("tls_ca_file", None)

    def _require(self, attr: str, ok: bool, accepted: str) -> None:
        if not ok:
            spec = _SPEC_BY_ATTR[attr]
            value = getattr(self, attr)
            if spec.kind == "duration" and isinstance(value, (int, float)):
                value = format_duration(value)
            raise _bad(spec.key, value, accepted)

    @staticmethod
    def _check_headers(headers: Any) -> dict[str, str]:
        key = "custom-headers"
        if isinstance(headers, str):
            headers = parse_map(headers, key=key)
        if not isinstance(headers, Mapping):
            raise _bad(key, headers, "a mapping of header names to values")
        result: dict[str, str] = {}
        for name, value in headers.items():
            name = str(name).strip()
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if not _HEADER_NAME.match(name):
                raise TritonConfigError(
                    f"Invalid value for option '{key}': {name!r} is not a valid HTTP header name.",
                    option=key,
                )
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
            result[name] = text
        return result

    @staticmethod
    def _check_parameters(params: Any) -> dict[str, Any]:
        key = "request-parameters"
        if isinstance(params, str):
            params = parse_map(params, key=key)
        if not isinstance(params, Mapping):
            raise _bad(key, params, "a mapping of parameter names to values")
        for name in params:
            if name in RESERVED_PARAMETERS or str(name).startswith("triton_"):
                raise TritonConfigError(
                    f"Invalid value for option '{key}': parameter {name!r} is reserved by Triton "
                    f"(reserved: {', '.join(sorted(RESERVED_PARAMETERS))}, and every 'triton_*'). "
                    "Use the dedicated options ('priority', 'sequence-id', ...) instead.",
                    option=key,
                )
        return dict(params)

    # -- derived views ------------------------------------------------------------------

    @functools.cached_property
    def parsed_endpoint(self) -> Endpoint:
        """The endpoint parsed into base URL and credentials (see :class:`Endpoint`)."""
        return Endpoint.parse(self.endpoint)

    @property
    def safe_endpoint(self) -> str:
        """The endpoint without credentials, for logs and errors."""
        return str(self.parsed_endpoint)

    @property
    def version(self) -> str | None:
        """The version for URLs: ``None`` for latest."""
        return None if self.model_version == "latest" else self.model_version

    def replace(self, **changes: Any) -> TritonOptions:
        """Return a copy with the given fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_map(self, *, include_defaults: bool = False) -> dict[str, str]:
        """The options as ``CREATE MODEL`` strings (Java-side keys); inverse of :meth:`from_map`.

        Secrets are included (this is configuration, not a log line): never print the result.
        """
        out: dict[str, str] = {"provider": PROVIDER}
        for spec in OPTION_SPECS:
            value = getattr(self, spec.attr)
            if value is None or (not include_defaults and value == _DEFAULTS.get(spec.attr)):
                continue
            if spec.kind == "duration":
                out[spec.key] = format_duration(value)
            elif spec.kind == "bool":
                out[spec.key] = "true" if value else "false"
            elif spec.kind == "map":
                out[spec.key] = json.dumps(value, separators=(",", ":"))
            else:
                out[spec.key] = str(value)
        return out

    def __repr__(self) -> str:
        shown = []
        for spec in OPTION_SPECS:
            value = getattr(self, spec.attr)
            if spec.attr == "endpoint":
                value = self.safe_endpoint
            elif spec.secret and value is not None:
                value = "<redacted>"
            elif spec.attr == "custom_headers":
                value = {k: ("<redacted>" if _SECRET_HEADER.search(k) else v) for k, v in value.items()}
            shown.append(f"{spec.attr}={value!r}")
        return f"TritonOptions({', '.join(shown)})"

    __str__ = __repr__


_DEFAULTS: dict[str, Any] = {
    f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    for f in dataclasses.fields(TritonOptions)
    if f.name not in ("endpoint", "model_name")
}
