"""``TritonOptions``: the options of ``CREATE MODEL ... WITH ('provider' = 'triton', ...)``.

Keys, kinds and defaults come from :data:`~.spec.OPTION_SPECS`. Values come in as the
strings of a ``WITH`` clause (or Python values from a dict) and are parsed and validated
once, here: every bad value is reported with the key and what is accepted; secrets
(``auth-token``, passwords in the endpoint, credential-like headers) never appear in
``repr``, ``str`` or error messages.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import TritonConfigError
from .endpoint import Endpoint
from .request_extras import (
    check_generate,
    check_headers,
    check_parameters,
    is_secret_header,
)
from .secrets import ENV_NAME, SECRET_FORMS
from .spec import OPTION_SPECS, PROVIDER, REQUIRED_KEYS, SPEC_BY_ATTR, SPEC_BY_KEY, SUPPORTED_KEYS
from .text import check_no_control
from .values import format_duration, format_value, invalid_value, parse_value

__all__ = ["PRIORITY_MAX", "PRIORITY_MIN", "TritonOptions"]

#: The HTTP libraries inference requests can go through (option 'http-client').
HTTP_CLIENTS = ("aiohttp", "httptools")

# The one priority rule. Flink's docs give 'priority' as 0-255 and PyFlink's TritonProvider
# rejects anything outside [0, 255]; Triton takes any uint (0 = the model's default). The
# intersection is [0, 255]: a model accepted here is accepted by every Flink-side API too.
PRIORITY_MIN = 0
PRIORITY_MAX = 255


def _default(attr: str) -> Any:
    """The dataclass field of ``attr``, its default taken from the option table."""
    spec = SPEC_BY_ATTR[attr]
    if spec.kind == "map":
        return field(default_factory=dict)  # a fresh dict per instance; unset means empty
    return field(default=spec.typed_default)


def _bad(key: str, value: Any, accepted: str) -> TritonConfigError:
    return invalid_value(key, value, accepted, secret=SPEC_BY_KEY[key].secret)


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

    # Field order follows OPTION_SPECS; every default is the table's (see _default).
    endpoint: str
    model_name: str
    model_version: str = _default("model_version")
    timeout_s: float = _default("timeout_s")
    flatten_batch_dim: bool = _default("flatten_batch_dim")
    priority: int | None = _default("priority")
    sequence_id: str | None = _default("sequence_id")
    sequence_start: bool = _default("sequence_start")
    sequence_end: bool = _default("sequence_end")
    compression: str | None = _default("compression")
    auth_token: str | None = _default("auth_token")
    custom_headers: dict[str, str] = _default("custom_headers")
    max_retries: int = _default("max_retries")
    retry_initial_backoff_s: float = _default("retry_initial_backoff_s")
    retry_max_backoff_s: float = _default("retry_max_backoff_s")
    default_value: str | None = _default("default_value")
    health_check_enabled: bool = _default("health_check_enabled")
    health_check_interval_s: float = _default("health_check_interval_s")
    circuit_breaker_enabled: bool = _default("circuit_breaker_enabled")
    circuit_breaker_failure_threshold: float = _default("circuit_breaker_failure_threshold")
    circuit_breaker_timeout_s: float = _default("circuit_breaker_timeout_s")
    circuit_breaker_half_open_requests: int = _default("circuit_breaker_half_open_requests")
    # ours
    batch_size: int | None = _default("batch_size")
    binary_data: bool = _default("binary_data")
    max_concurrent_requests: int = _default("max_concurrent_requests")
    request_parameters: dict[str, Any] = _default("request_parameters")
    health_check_timeout_s: float = _default("health_check_timeout_s")
    tls_verify: bool = _default("tls_verify")
    tls_ca_file: str | None = _default("tls_ca_file")
    max_response_size: int = _default("max_response_size")
    http_client: str = _default("http_client")
    tracing: bool = _default("tracing")
    auth_token_file: str | None = _default("auth_token_file")
    auth_token_env: str | None = _default("auth_token_env")
    tls_client_cert: str | None = _default("tls_client_cert")
    tls_client_key: str | None = _default("tls_client_key")
    tls_client_key_password: str | None = _default("tls_client_key_password")
    tls_client_key_password_file: str | None = _default("tls_client_key_password_file")
    tls_client_key_password_env: str | None = _default("tls_client_key_password_env")
    inference_api: str = _default("inference_api")
    generate_parameters: dict[str, Any] = _default("generate_parameters")

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_map(cls, options: Mapping[str, Any]) -> TritonOptions:
        """Parse the options of a ``CREATE MODEL ... WITH (...)`` clause.

        ``provider`` may be present and must then be ``'triton'``. Unknown keys are rejected
        with the list of supported keys, as Flink does.

        :raises TritonConfigError: naming the key at fault and the accepted values.
        """
        opts = dict(options)
        _check_provider(opts.pop("provider", None))
        _check_keys(opts)
        kwargs: dict[str, Any] = {}
        for key, raw in opts.items():
            if raw is None:
                continue
            spec = SPEC_BY_KEY[key]
            kwargs[spec.attr] = parse_value(spec.kind, raw, key)
        return cls(**kwargs)

    def __post_init__(self) -> None:
        # Normalise then validate, so direct construction and from_map() share one set of
        # rules and messages. The order is the order errors are reported in.
        self.parsed_endpoint  # noqa: B018 - the property validates the URL
        self._check_model()
        self._check_durations()
        self._check_priority()
        self._check_choices()
        self._check_auth_and_headers()
        self._check_retries()
        self._check_breaker()
        self._check_limits()
        self._set("request_parameters", check_parameters(self.request_parameters))
        self._check_tls_files()
        self._check_secret_forms()
        self._check_generate()

    # -- validators (each normalises and checks a few related fields) ---------------------

    def _set(self, attr: str, value: Any) -> None:
        object.__setattr__(self, attr, value)  # frozen: normalising is part of construction

    def _require(self, attr: str, ok: bool, accepted: str) -> None:
        if not ok:
            spec = SPEC_BY_ATTR[attr]
            value = getattr(self, attr)
            if spec.kind == "duration" and isinstance(value, (int, float)):
                value = format_duration(value)
            raise _bad(spec.key, value, accepted)

    def _check_model(self) -> None:
        if not isinstance(self.model_name, str) or not self.model_name.strip():
            raise _bad("model-name", self.model_name, "a non-empty model name")
        self._set("model_name", self.model_name.strip())
        check_no_control(self.model_name, "model-name", accepted="a model name")
        version = "latest" if self.model_version in (None, "") else str(self.model_version).strip()
        if version.lower() == "latest":
            version = "latest"
        elif not (version.isascii() and version.isdigit()):
            raise _bad("model-version", self.model_version, "'latest' or a version number such as '1'")
        self._set("model_version", version)

    def _check_durations(self) -> None:
        for attr in ("timeout_s", "health_check_interval_s", "health_check_timeout_s"):
            self._require(attr, getattr(self, attr) > 0, "a duration greater than zero")
        self._require("circuit_breaker_timeout_s", self.circuit_breaker_timeout_s >= 0, "a duration >= 0")

    def _check_priority(self) -> None:
        if self.priority is not None:
            self._require(
                "priority",
                PRIORITY_MIN <= self.priority <= PRIORITY_MAX,
                f"an integer in [{PRIORITY_MIN}, {PRIORITY_MAX}] (0 = the model's default priority)",
            )

    def _check_choices(self) -> None:
        if self.sequence_id is not None:
            self._set("sequence_id", str(self.sequence_id).strip() or None)
            check_no_control(self.sequence_id or "", "sequence-id", accepted="a sequence id")
        if self.compression is not None:
            comp: str | None = str(self.compression).strip().lower()
            if comp in ("", "none"):
                comp = None
            elif comp != "gzip":
                raise _bad("compression", self.compression, "'gzip'")
            self._set("compression", comp)
        client = str(self.http_client).strip().lower()
        if client not in HTTP_CLIENTS:
            raise _bad("http-client", self.http_client, " or ".join(f"'{c}'" for c in HTTP_CLIENTS))
        self._set("http_client", client)

    def _check_auth_and_headers(self) -> None:
        for attr in ("auth_token", "tls_client_key_password"):
            if getattr(self, attr) is not None:
                secret = str(getattr(self, attr))
                # Anywhere, even at an end: a line break would start a header of its own. Only
                # the position is shown, never the secret.
                check_no_control(secret, SPEC_BY_ATTR[attr].key, accepted="a secret, or ${VAR} naming one")
                self._set(attr, secret.strip() or None)
        self._set("custom_headers", check_headers(self.custom_headers))
        token_forms = (self.auth_token, self.auth_token_file, self.auth_token_env)
        if any(token_forms) and any(h.lower() == "authorization" for h in self.custom_headers):
            raise TritonConfigError(
                "Options 'auth-token' (or its -file/-env form) and 'custom-headers' both set an "
                "Authorization header: keep one of them.",
                option="custom-headers",
            )

    def _check_tls_files(self) -> None:
        # Paths only: the files are read where the client opens (on a TaskManager, where a
        # Secret is mounted), not where the model is defined.
        for attr in (
            "tls_ca_file",
            "tls_client_cert",
            "tls_client_key",
            "auth_token_file",
            "tls_client_key_password_file",
        ):
            value = getattr(self, attr)
            if value is not None and not str(value).strip():
                self._set(attr, None)
            elif value is not None:
                self._set(attr, str(value).strip())
                check_no_control(str(value), SPEC_BY_ATTR[attr].key, accepted="the path of a file")
        if self.tls_client_key and not self.tls_client_cert:
            raise TritonConfigError(
                "Option 'tls-client-key' is set without 'tls-client-cert': give the client certificate's PEM file too.",
                option="tls-client-key",
            )

    def _check_secret_forms(self) -> None:
        for option, (file_key, env_key) in SECRET_FORMS.items():
            env_attr = SPEC_BY_KEY[env_key].attr
            name = getattr(self, env_attr)
            if name is not None:
                name = str(name).strip() or None
                self._set(env_attr, name)
                if name is not None and not ENV_NAME.match(name):
                    raise _bad(
                        env_key, name, "an environment variable name such as 'TRITON_TOKEN' (letters, digits, _)"
                    )
            given = [k for k in (option, file_key, env_key) if getattr(self, SPEC_BY_KEY[k].attr)]
            if len(given) > 1:
                raise TritonConfigError(
                    f"Options {' and '.join(repr(k) for k in given)} each give the {option.replace('-', ' ')}: keep one of them.",
                    option=given[1],
                )
            if given and option == "tls-client-key-password" and not self.tls_client_cert:
                raise TritonConfigError(
                    f"Option '{given[0]}' is set without 'tls-client-cert': the password is for the client key.",
                    option=given[0],
                )

    def _check_retries(self) -> None:
        self._require("max_retries", self.max_retries >= 0, "an integer >= 0")
        if self.max_retries == 0:
            return  # Flink checks the backoffs only when they are used
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

    def _check_breaker(self) -> None:
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

    def _check_limits(self) -> None:
        if self.batch_size is not None:
            self._require("batch_size", self.batch_size > 0, "an integer > 0")
        self._require("max_concurrent_requests", self.max_concurrent_requests > 0, "an integer > 0")
        self._require("max_response_size", self.max_response_size > 0, "a byte size greater than zero, such as '64mb'")

    def _check_generate(self) -> None:
        api, params = check_generate(self.inference_api, self.generate_parameters, self.sequence_id)
        self._set("inference_api", api)
        self._set("generate_parameters", params)

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
            out[spec.key] = format_value(spec.kind, value)
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
                value = {k: ("<redacted>" if is_secret_header(k) else v) for k, v in value.items()}
            shown.append(f"{spec.attr}={value!r}")
        return f"TritonOptions({', '.join(shown)})"

    __str__ = __repr__


def _check_provider(provider: Any) -> None:
    if provider is not None and str(provider).strip().lower() != PROVIDER:
        raise TritonConfigError(
            f"Option 'provider' is {str(provider)!r}, not 'triton': these options belong to "
            "another provider and are not validated here.",
            option="provider",
        )


def _check_keys(opts: Mapping[str, Any]) -> None:
    # Flink's own messages (FactoryUtil), so users see what they know from the Java provider.
    unknown = sorted(str(k) for k in opts if k not in SPEC_BY_KEY)
    if unknown:
        raise TritonConfigError(
            "Unsupported options found for 'triton'.\n\n"
            "Unsupported options:\n\n" + "\n".join(unknown) + "\n\n"
            "Supported options:\n\n" + "\n".join(("provider", *SUPPORTED_KEYS)),
            option=unknown[0],
        )
    missing = [k for k in REQUIRED_KEYS if opts.get(k) in (None, "")]
    if missing:
        raise TritonConfigError(
            "One or more required options are missing for 'triton'.\n\n"
            "Missing required options are:\n\n" + "\n".join(missing),
            option=missing[0],
        )


# What to_map() leaves out unless asked: the values a field has when not given.
_DEFAULTS: dict[str, Any] = {
    s.attr: {} if s.kind == "map" else s.typed_default for s in OPTION_SPECS if s.key not in REQUIRED_KEYS
}
