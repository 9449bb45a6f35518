"""The exception tree of pyflink-triton.

::

    TritonError                         root of everything we raise
    ├── TritonConfigError (ValueError)  a bad option, argument or declared type
    ├── TritonSchemaError (ValueError)  data that does not fit the model (names, dtypes, shapes)
    ├── TritonProtocolError             a response we cannot decode (malformed body)
    ├── TritonCircuitOpenError          the circuit breaker refused the request
    ├── TritonLaunchError (RuntimeError) the local Triton server could not be started
    ├── TritonTransportError            the request never completed (retryable)
    │   ├── TritonConnectionError (ConnectionError)
    │   └── TritonTimeoutError (TimeoutError)
    └── TritonServerError               the server answered with an error status
        ├── TritonClientRequestError    4xx: our request is wrong, never retried
        ├── TritonServiceError          5xx: the server failed, retryable
        └── TritonModelError            an error inside a 200 answer (generate): never retried

Every error carries the model, version and endpoint it concerns (credentials
stripped) and pickles, because PyFlink moves exceptions between processes:
constructors take the message positionally and the context as keyword
arguments with defaults, so ``cls(*args)`` + ``__dict__`` restore them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TritonCircuitOpenError",
    "TritonClientRequestError",
    "TritonConfigError",
    "TritonConnectionError",
    "TritonError",
    "TritonLaunchError",
    "TritonModelError",
    "TritonProtocolError",
    "TritonSchemaError",
    "TritonServerError",
    "TritonServiceError",
    "TritonTimeoutError",
    "TritonTransportError",
    "server_error_for_status",
]


class TritonError(Exception):
    """Root of every error raised by pyflink-triton.

    :param message: what went wrong, in words.
    :param model: model name the error concerns, if any.
    :param version: model version ('' or None for the latest).
    :param endpoint: server URL, already stripped of credentials.
    :param request_id: the id of the inference request that failed (``X-Request-ID``, and
        the ``id`` Triton logs), when one was sent.
    """

    #: retried by the client's retry policy
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        model: str | None = None,
        version: str | None = None,
        endpoint: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.model = model
        self.version = version
        self.endpoint = endpoint
        self.request_id = request_id

    def __str__(self) -> str:
        context = describe_target(self.model, self.version, self.endpoint)
        text = f"{context}: {self.message}" if context else self.message
        # Last, so that the message reads the same with or without one; grep the id in Triton's log.
        return f"{text} [request {self.request_id}]" if self.request_id else text

    def __reduce__(self) -> tuple[Any, ...]:
        # args holds only the message; the context travels in __dict__.
        return (self.__class__, (self.message,), self.__dict__)


def describe_target(model: str | None, version: str | None, endpoint: str | None) -> str:
    """Return "model 'm' version '1' at http://h:8000" (parts that are known)."""
    parts = []
    if model:
        parts.append(f"model '{model}'")
        if version and version != "latest":
            parts.append(f"version '{version}'")
    if endpoint:
        parts.append(f"at {endpoint}")
    return "Triton " + " ".join(parts) if parts else ""


class TritonConfigError(TritonError, ValueError):
    """An option, argument or declared type is invalid.

    :param option: the option key at fault (e.g. ``'max-retries'``), if one.
    """

    def __init__(self, message: str, *, option: str | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.option = option


class TritonSchemaError(TritonError, ValueError):
    """Data does not fit the model: tensor names, datatypes, shapes or row counts."""


class TritonProtocolError(TritonError):
    """The server's answer could not be decoded (malformed JSON, truncated binary data)."""


class TritonCircuitOpenError(TritonError):
    """The circuit breaker is open (or half-open and out of probes): the request was not sent."""


class TritonLaunchError(TritonError, RuntimeError):
    """The local Triton server could not be started (or found).

    :param log_tail: the last lines of the server log, also part of the message.
    """

    def __init__(self, message: str, *, log_tail: str = "", **context: Any) -> None:
        super().__init__(message, **context)
        self.log_tail = log_tail


class TritonTransportError(TritonError):
    """The request never completed: connection failure, reset, or timeout. Retryable."""

    retryable = True


class TritonConnectionError(TritonTransportError, ConnectionError):
    """The connection could not be made or broke during the request."""


class TritonTimeoutError(TritonTransportError, TimeoutError):
    """The request (or a health probe) took longer than its timeout."""


class TritonServerError(TritonError):
    """The server answered with an error status.

    :param status: the HTTP status code.
    :param server_message: Triton's own ``{"error": ...}`` text (or the raw body, shortened).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        server_message: str = "",
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.status = status
        self.server_message = server_message


class TritonClientRequestError(TritonServerError):
    """4xx: the server rejected the request itself; retrying cannot help."""


class TritonServiceError(TritonServerError):
    """5xx: the server failed or is overloaded; retryable."""

    retryable = True


class TritonModelError(TritonServerError):
    """The model failed inside an answer whose status was 200 already: an ``{"error": ...}``
    event of ``generate_stream`` (after the first response) or in a ``/generate`` body.
    Not retried: the model failed on this request, as a 4xx says of a request."""


def server_error_for_status(
    status: int, server_message: str, *, action: str = "request", **context: Any
) -> TritonServerError:
    """Build the right :class:`TritonServerError` subclass for an HTTP error status."""
    cls = TritonServiceError if status >= 500 else TritonClientRequestError
    text = f"{action} failed with HTTP {status}"
    if server_message:
        text += f": {server_message}"
    return cls(text, status=status, server_message=server_message, **context)
