"""``TritonProvider``: the Python keyword API for a Triton model, as PyFlink's DataFrame API has it.

Same keyword names, defaults, validation and ``provider_name()`` / ``model_option_key()`` /
``to_options()`` behaviour as ``pyflink.dataframe.ai.providers.TritonProvider``, so code
written for it works with us; :meth:`TritonProvider.to_triton_options` turns it into our
validated :class:`~pyflink_triton.config.TritonOptions`.
"""

from __future__ import annotations

from typing import Any, Literal

from .endpoint import Endpoint
from .options import PRIORITY_MAX, PRIORITY_MIN, TritonOptions
from .spec import OPTION_SPECS, PROVIDER, PROVIDER_KEYWORDS
from .values import TritonDefaultValue, format_default_value

__all__ = ["TritonDefaultValue", "TritonProvider"]

# Keywords whose values never appear in repr (custom_headers, which may carry credentials
# under any name, is shown as '<set>' too).
_HIDDEN_KEYWORDS = {s.keyword for s in OPTION_SPECS if s.secret and s.keyword}


class TritonProvider:
    """Provider for NVIDIA Triton Inference Server (``triton``).

    :param endpoint: full URL of the Triton endpoint, e.g. ``http://localhost:8000/v2/models``.
    :param model_name: model to invoke (Java-side ``model-name``).
    :param model_version: model version; ``"latest"`` (default) lets the server choose.
    :param timeout: HTTP request timeout, e.g. ``"10s"`` or ``"30000ms"``.
    :param flatten_batch_dim: send ``ARRAY<T>`` inputs as ``[N]`` instead of ``[1, N]``.
    :param priority: Triton request priority, in ``[0, 255]``.
    :param sequence_id: sequence id for stateful models.
    :param sequence_start: whether requests start the sequence.
    :param sequence_end: whether requests end the sequence.
    :param compression: ``"gzip"`` to compress request bodies.
    :param auth_token: sent as ``Authorization: Bearer <token>``.
    :param custom_headers: Flink map string ``"X-Trace-Id:abc,X-Other:val"``; no line breaks.
    :param max_retries: retries after the first attempt (network errors, timeouts, 5xx).
    :param retry_initial_backoff: first backoff, e.g. ``"100ms"``.
    :param retry_max_backoff: backoff cap, e.g. ``"30s"``.
    :param default_value: fallback output on failure: text, a number, a bool, or a list, tuple
        or mapping (written as JSON); ``"null"`` gives SQL NULL.
    :param health_check_enabled: probe the server's health periodically.
    :param health_check_interval: health probe period.
    :param circuit_breaker_enabled: enable the circuit breaker.
    :param circuit_breaker_failure_threshold: failure rate in ``(0.0, 1.0]`` that opens it.
    :param circuit_breaker_timeout: time open before probing recovery.
    :param circuit_breaker_half_open_requests: successful probes needed to close it.
    :param extra_options: further options passed through as-is (e.g. our ``batch-size``).

    Example::

        >>> provider = TritonProvider(
        ...     endpoint="http://localhost:8000/v2/models",
        ...     model_name="classifier",
        ...     compression="gzip",
        ... )
        >>> provider.to_options()["model-name"]
        'classifier'
    """

    def __init__(
        self,
        *,
        endpoint: str,
        model_name: str | None = None,
        model_version: str = "latest",
        timeout: str = "30s",
        flatten_batch_dim: bool = False,
        priority: int | None = None,
        sequence_id: str | None = None,
        sequence_start: bool = False,
        sequence_end: bool = False,
        compression: Literal["gzip"] | None = None,
        auth_token: str | None = None,
        custom_headers: str | None = None,
        max_retries: int = 0,
        retry_initial_backoff: str = "100ms",
        retry_max_backoff: str = "30s",
        default_value: TritonDefaultValue | None = None,
        health_check_enabled: bool = False,
        health_check_interval: str = "30s",
        circuit_breaker_enabled: bool = False,
        circuit_breaker_failure_threshold: float = 0.5,
        circuit_breaker_timeout: str = "60s",
        circuit_breaker_half_open_requests: int = 3,
        **extra_options: Any,
    ) -> None:
        _check_like_pyflink(
            endpoint=endpoint,
            compression=compression,
            priority=priority,
            max_retries=max_retries,
            circuit_breaker_failure_threshold=circuit_breaker_failure_threshold,
            circuit_breaker_half_open_requests=circuit_breaker_half_open_requests,
            custom_headers=custom_headers,
        )
        # The values by the table's keyword names, read back from the frame: naming all 22 a
        # third time (after the signature and the table) is how such lists drifted apart.
        arguments = locals()
        given = {keyword: arguments[keyword] for keyword in PROVIDER_KEYWORDS}
        given["default_value"] = format_default_value(default_value)
        # None means "not set": such options are left out of to_options().
        self._params: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        self._extra_options = dict(extra_options)

    def provider_name(self) -> str:
        """Return the provider identifier recognized by Flink's Java runtime."""
        return PROVIDER

    def model_option_key(self) -> str:
        """Return the Java-side option key used for a per-call model name."""
        return "model-name"

    def to_options(self) -> dict[str, str]:
        """Return all configured options as a dict with Java-side key names."""
        options = {PROVIDER_KEYWORDS[k]: _stringify(v) for k, v in self._params.items()}
        options.update({k: _stringify(v) for k, v in self._extra_options.items()})
        return options

    def to_triton_options(self, *, model_name: str | None = None) -> TritonOptions:
        """Validate and convert into :class:`TritonOptions` (``model_name`` overrides).

        :raises TritonConfigError: naming the option at fault.
        """
        options = self.to_options()
        if model_name is not None:
            options[self.model_option_key()] = model_name
        return TritonOptions.from_map(options)

    def __repr__(self) -> str:
        shown = {k: ("<redacted>" if k in _HIDDEN_KEYWORDS else v) for k, v in self._params.items()}
        if "endpoint" in shown:
            try:
                shown["endpoint"] = str(Endpoint.parse(shown["endpoint"]))
            except ValueError:
                shown["endpoint"] = "<invalid endpoint>"
        if "custom_headers" in shown:
            shown["custom_headers"] = "<set>"
        body = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        extra = ", ".join(f"{k}=..." for k in self._extra_options)
        return f"TritonProvider({body}{', ' + extra if extra else ''})"


def _check_like_pyflink(
    *,
    endpoint: Any,
    compression: Any,
    priority: Any,
    max_retries: Any,
    circuit_breaker_failure_threshold: Any,
    circuit_breaker_half_open_requests: Any,
    custom_headers: Any,
) -> None:
    """PyFlink's own early checks of ``TritonProvider.__init__``: same errors, same messages.

    Kept so that code written against PyFlink fails the same way here. The full rules are
    :class:`TritonOptions`'s; everything accepted here that they reject is rejected there
    for another reason (such as a bad duration), never for a contradicting range.
    """
    if not isinstance(endpoint, str):
        raise TypeError(f"endpoint must be a string, got {type(endpoint)}")
    if compression is not None and compression != "gzip":
        raise ValueError(f"compression must be 'gzip' when provided, got {compression!r}.")
    if priority is not None and not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ValueError(f"priority must be in range [{PRIORITY_MIN}, {PRIORITY_MAX}].")
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0.")
    if not 0.0 < circuit_breaker_failure_threshold <= 1.0:
        raise ValueError("circuit_breaker_failure_threshold must be in range (0.0, 1.0].")
    if circuit_breaker_half_open_requests <= 0:
        raise ValueError("circuit_breaker_half_open_requests must be positive.")
    if custom_headers is not None:
        if not isinstance(custom_headers, str):
            raise TypeError(f"custom_headers must be a string, got {type(custom_headers)}")
        if "\n" in custom_headers or "\r" in custom_headers:
            raise ValueError("custom_headers cannot contain line breaks.")


def _stringify(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
