"""The option table: every ``CREATE MODEL`` option of ``'provider' = 'triton'``, once.

Each :class:`OptionSpec` row ties the ``WITH`` key to the :class:`TritonOptions` attribute,
value kind, default (``WITH`` text), ``TritonProvider`` keyword and flags; tests check both
classes' signatures against it. Flink's 22 keys keep their names, types and defaults; the rows
this project adds are in :mod:`.spec_ours`, the row's type in :mod:`.option_spec`.
"""

from __future__ import annotations

from .option_spec import OptionSpec
from .spec_ours import OUR_OPTIONS

__all__ = [
    "OPTION_SPECS",
    "PROVIDER",
    "PROVIDER_KEYWORDS",
    "REQUIRED_KEYS",
    "SPEC_BY_ATTR",
    "SPEC_BY_KEY",
    "SUPPORTED_KEYS",
    "OptionSpec",
]

#: The value of ``'provider'`` these options belong to.
PROVIDER = "triton"


OPTION_SPECS: tuple[OptionSpec, ...] = (
    # --- Flink's Java provider (same keys, types and defaults) ---
    OptionSpec(
        "endpoint",
        "endpoint",
        "string",
        None,
        "endpoint",
        example="http://triton:8000/v2/models",
        description="Triton HTTP URL, e.g. http://localhost:8000/v2/models (required).",
    ),
    OptionSpec(
        "model-name",
        "model_name",
        "string",
        None,
        "model_name",
        example="text-classification",
        description="Model name on the server (required).",
    ),
    OptionSpec(
        "model-version",
        "model_version",
        "string",
        "latest",
        "model_version",
        example="1",
        description="Model version: digits, or 'latest' for the server's choice.",
    ),
    OptionSpec(
        "timeout",
        "timeout_s",
        "duration",
        "30s",
        "timeout",
        example="10s",
        description="HTTP request timeout; a bare number means milliseconds. Total: for the generate extension, "
        "the whole answer (a stream included) must arrive within it.",
    ),
    OptionSpec(
        "flatten-batch-dim",
        "flatten_batch_dim",
        "bool",
        "false",
        "flatten_batch_dim",
        example="true",
        description="Send array inputs as [N] instead of [1, N] (models without a batch dim).",
    ),
    OptionSpec(
        "priority",
        "priority",
        "int",
        None,
        "priority",
        example="1",
        description="Request priority (parameters.priority), 0 to 255; 0 = model default, lower = higher.",
    ),
    OptionSpec(
        "sequence-id",
        "sequence_id",
        "string",
        None,
        "sequence_id",
        example="42",
        description="Sequence id for stateful models (uint64 digits or a string).",
    ),
    OptionSpec(
        "sequence-start",
        "sequence_start",
        "bool",
        "false",
        "sequence_start",
        example="true",
        description="Mark requests as the start of the sequence.",
    ),
    OptionSpec(
        "sequence-end",
        "sequence_end",
        "bool",
        "false",
        "sequence_end",
        example="true",
        description="Mark requests as the end of the sequence.",
    ),
    OptionSpec(
        "compression",
        "compression",
        "string",
        None,
        "compression",
        example="gzip",
        description="Request body compression: 'gzip' (responses are then asked gzip too). Inference only: "
        "Triton refuses compressed generate requests and never compresses generate answers.",
    ),
    OptionSpec(
        "auth-token",
        "auth_token",
        "string",
        None,
        "auth_token",
        secret=True,
        example="${TRITON_TOKEN}",
        description="Sent as 'Authorization: Bearer <token>'; ${VAR} in it is read from the "
        "TaskManager's environment when the function opens, and stays a reference in the catalog.",
    ),
    OptionSpec(
        "custom-headers",
        "custom_headers",
        "map",
        None,
        "custom_headers",
        example="X-Tenant:a,X-Env:prod",
        description="Extra HTTP headers: 'X-A:1,X-B:2' or a JSON object.",
    ),
    OptionSpec(
        "max-retries",
        "max_retries",
        "int",
        "0",
        "max_retries",
        example="3",
        description="Retries after the first attempt, on network errors, timeouts and 5xx only.",
    ),
    OptionSpec(
        "retry-initial-backoff",
        "retry_initial_backoff_s",
        "duration",
        "100ms",
        "retry_initial_backoff",
        example="200ms",
        description="First backoff; doubles each retry, with equal jitter.",
    ),
    OptionSpec(
        "retry-max-backoff",
        "retry_max_backoff_s",
        "duration",
        "30s",
        "retry_max_backoff",
        example="5s",
        description="Backoff cap; at least 'retry-initial-backoff' when retrying.",
    ),
    OptionSpec(
        "default-value",
        "default_value",
        "raw",
        None,
        "default_value",
        example="null",
        description="Fallback output when inference fails; 'null' = SQL NULL; parsed for the output type.",
    ),
    OptionSpec(
        "health-check-enabled",
        "health_check_enabled",
        "bool",
        "false",
        "health_check_enabled",
        example="true",
        description="Probe /v2/health/live periodically (failures count against the circuit breaker).",
    ),
    OptionSpec(
        "health-check-interval",
        "health_check_interval_s",
        "duration",
        "30s",
        "health_check_interval",
        example="10s",
        description="Health probe period.",
    ),
    OptionSpec(
        "circuit-breaker-enabled",
        "circuit_breaker_enabled",
        "bool",
        "false",
        "circuit_breaker_enabled",
        example="true",
        description="Enable the CLOSED/OPEN/HALF_OPEN circuit breaker.",
    ),
    OptionSpec(
        "circuit-breaker-failure-threshold",
        "circuit_breaker_failure_threshold",
        "float",
        "0.5",
        "circuit_breaker_failure_threshold",
        example="0.3",
        description="Failure rate in (0, 1] that opens the breaker, judged after >= 10 requests.",
    ),
    OptionSpec(
        "circuit-breaker-timeout",
        "circuit_breaker_timeout_s",
        "duration",
        "60s",
        "circuit_breaker_timeout",
        example="30s",
        description="Time OPEN before HALF_OPEN.",
    ),
    OptionSpec(
        "circuit-breaker-half-open-requests",
        "circuit_breaker_half_open_requests",
        "int",
        "3",
        "circuit_breaker_half_open_requests",
        example="5",
        description="Successful probes needed to close the breaker.",
    ),
    *OUR_OPTIONS,  # this project's additions (config/spec_ours.py)
)

SPEC_BY_KEY: dict[str, OptionSpec] = {s.key: s for s in OPTION_SPECS}
SPEC_BY_ATTR: dict[str, OptionSpec] = {s.attr: s for s in OPTION_SPECS}
SUPPORTED_KEYS: tuple[str, ...] = tuple(sorted(SPEC_BY_KEY))
#: Options without which a model cannot be called (Flink's Java provider requires both).
REQUIRED_KEYS: tuple[str, ...] = ("endpoint", "model-name")
#: ``TritonProvider`` keyword -> ``WITH`` key (PyFlink's ``_OPTION_MAP``).
PROVIDER_KEYWORDS: dict[str, str] = {s.keyword: s.key for s in OPTION_SPECS if s.keyword}
