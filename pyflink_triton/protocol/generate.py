"""Triton's generate extension on the wire: request bodies, ``/generate`` answers and the
server-sent events of ``/generate_stream``, with no I/O.

A generate request is one flat JSON object: input names and request parameters as top-level keys
(and/or a ``"parameters"`` object); Triton turns each key that names an input into a tensor and
every other key into a request parameter. ``/generate`` answers one JSON object;
``/generate_stream`` answers ``data: {...}`` events, one per response of the model, each
followed by a blank line. An ``{"error": ...}`` object may come in a 200 answer (``/generate``
with zero or several responses, a model failing after its first response): it is an error,
never an empty answer (:func:`event_error`).

:class:`EventStream` reads the events as the network delivers the bytes (one read may hold
half an event or several), under two bounds: the whole stream may not pass ``limit`` bytes
(option ``max-response-size``), and no line may pass ``line_limit`` bytes (one event holds one
response of the model), so a server that never ends a line cannot grow the process.
Our own reader rather than an SSE library (``aiohttp-sse-client``, ``httpx-sse``): those read
from their HTTP client's response object and bound neither a line nor the stream; this one is
fed bytes, so it stays free of I/O, and the bounds are ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyflink_triton.config import format_size
from pyflink_triton.errors import TritonConnectionError, TritonProtocolError, TritonSchemaError

from . import jsonio

__all__ = ["MAX_EVENT_BYTES", "EventStream", "decode_generate_body", "encode_generate", "event_error"]

#: The longest line (one event) of a stream read, unless ``max-response-size`` is smaller. One
#: event is one response of the model: a token or a few for an LLM that streams, its whole answer
#: for one that does not; 8 MiB holds about two million tokens of text.
MAX_EVENT_BYTES = 8 * 1024 * 1024

#: Characters of a malformed line quoted in an error.
_QUOTED = 200

#: SSE fields a server or a proxy may send besides ``data`` (Triton sends none); ignored.
_IGNORED_FIELDS = frozenset({b"event", b"id", b"retry"})


def encode_generate(fields: Mapping[str, Any]) -> bytes:
    """The body of a generate request: ``fields`` as one compact JSON object.

    :raises TritonSchemaError: ``fields`` is not a mapping with string keys, or holds a value
        JSON cannot carry.
    """
    if not isinstance(fields, Mapping) or not all(isinstance(k, str) for k in fields):
        raise TritonSchemaError("generate fields must be a mapping with string keys (a JSON object)")
    try:
        return jsonio.dumps(dict(fields))
    except TypeError as exc:
        raise TritonSchemaError(f"generate fields cannot be sent as JSON: {exc}") from None


def decode_generate_body(body: bytes) -> dict[str, Any]:
    """The one JSON object of a ``/generate`` answer.

    :raises TritonProtocolError: the body is not a JSON object.
    """
    return _json_object(body, "the answer")


def event_error(event: Mapping[str, Any]) -> str | None:
    """The text of the ``error`` field of an answer or event; ``None`` when it has none."""
    if "error" not in event:
        return None
    error = event["error"]
    return error if isinstance(error, str) else jsonio.dumps(error).decode("utf-8", "replace")


class EventStream:
    """The events of one ``/generate_stream`` answer, fed piece by piece.

    :param limit: the most bytes the whole stream may hold (``max-response-size``).
    :param line_limit: the most bytes of one line (default :data:`MAX_EVENT_BYTES`, at most
        ``limit``).
    """

    def __init__(self, limit: int, line_limit: int = MAX_EVENT_BYTES) -> None:
        self.limit = limit
        self.line_limit = min(line_limit, limit)
        self.size = 0  # bytes fed
        #: The events read so far, in order: one JSON object each.
        self.events: list[dict[str, Any]] = []
        self._pending: list[bytes] = []  # the start of a line whose end has not arrived
        self._pending_size = 0
        self._data: list[bytes] = []  # the data lines of the event being read
        self._data_size = 0

    def feed(self, piece: bytes) -> int:
        """Read the next bytes; return how many events they completed.

        :raises TritonProtocolError: the stream passes ``limit``, a line passes
            ``line_limit``, or an event is malformed.
        """
        self.size += len(piece)
        if self.size > self.limit:
            raise TritonProtocolError(
                f"exceeds the limit of {format_size(self.limit)} ({self.limit} bytes) set by option "
                f"'max-response-size' ({len(self.events)} events read; reading stopped)"
            )
        before = len(self.events)
        start = 0
        while (end := piece.find(b"\n", start)) >= 0:
            line = piece[start:end]
            if self._pending:
                # Joined once, when the line ends: a long line fed in small pieces costs no copies.
                line, self._pending, self._pending_size = b"".join([*self._pending, line]), [], 0
            self._line(line)
            start = end + 1
        if start < len(piece):
            self._pending.append(piece[start:])
            self._pending_size += len(piece) - start
            if self._pending_size > self.line_limit:
                raise self._too_long()
        return len(self.events) - before

    def finish(self) -> None:
        """The stream ended: check that it did not end inside an event.

        :raises TritonConnectionError: bytes after the last complete event (a stream cut short;
            retryable, like a body cut short by the network).
        """
        if b"".join(self._pending).strip() or self._data:
            raise TritonConnectionError(
                f"the event stream ended in the middle of an event ({len(self.events)} complete events "
                "before it): the answer is incomplete"
            )

    def _line(self, line: bytes) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > self.line_limit:
            raise self._too_long()
        if not line:
            self._dispatch()
            return
        name, colon, value = line.partition(b":")
        if name == b"data" and colon:
            value = value[1:] if value.startswith(b" ") else value
            self._data_size += len(value) + 1
            if self._data_size > self.line_limit:
                raise self._too_long()
            self._data.append(value)
        elif not (line.startswith(b":") or (colon and name in _IGNORED_FIELDS)):
            # Comments and the other SSE fields are allowed; anything else is not an event stream.
            raise TritonProtocolError(f"line {_quote(line)} of event {len(self.events) + 1} is not a server-sent event")

    def _dispatch(self) -> None:
        if not self._data:
            return  # a blank line after a comment, or a second blank line
        payload = b"\n".join(self._data)
        self._data, self._data_size = [], 0
        self.events.append(_json_object(payload, f"event {len(self.events) + 1}"))

    def _too_long(self) -> TritonProtocolError:
        return TritonProtocolError(
            f"a line of event {len(self.events) + 1} is longer than {format_size(self.line_limit)} "
            f"({self.line_limit} bytes; one event holds one response of the model); reading stopped"
        )


def _json_object(payload: bytes, what: str) -> dict[str, Any]:
    try:
        value = jsonio.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise TritonProtocolError(f"{what} is not JSON: {_quote(payload)}") from None
    if not isinstance(value, dict):
        raise TritonProtocolError(f"{what} is not a JSON object: {_quote(payload)}")
    return value


def _quote(data: bytes) -> str:
    text = data[: _QUOTED * 4].decode("utf-8", "replace")
    return repr(text if len(text) <= _QUOTED else text[:_QUOTED] + "...")
