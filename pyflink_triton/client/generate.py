"""One attempt at Triton's generate extension (``/generate``, ``/generate_stream``): the request,
the answer read as it arrives, and every error made ours. :class:`~.client.TritonClient`
wraps it in the same breaker, concurrency bound and retries as ``infer``.

What ``compression`` means here: nothing. Triton refuses a compressed generate request (400
"Unsupported content-encoding, only 'identity' is supported.") and never compresses a generate
answer, so generate requests travel plain and ask for a plain answer whatever the option says;
'compression' = 'gzip' keeps applying to ``infer``.

The request id travels as ``X-Request-ID`` (and ``traceparent`` with tracing), not as the body's
``"id"``: Triton passes a body ``id`` on to the model as a request parameter too (measured on
2.51), and vLLM's backend builds its sampling parameters from every request parameter, so an
unknown ``id`` there fails the request. A caller who wants Triton to log the id puts ``"id"`` in
``fields`` itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..config import format_size
from ..errors import (
    TritonClientRequestError,
    TritonError,
    TritonModelError,
    TritonProtocolError,
    TritonTimeoutError,
    server_error_for_status,
)
from ..protocol import error_message, jsonio
from ..protocol.body import BodyDecoder
from ..protocol.generate import EventStream, decode_generate_body, event_error
from .transport import Response, Transport

__all__ = ["GenerateAttempt", "Generation", "generate_headers", "route_error"]

#: The routes of the extension, by ``stream``.
ROUTES = {False: "generate", True: "generate_stream"}


@dataclass(frozen=True)
class Generation:
    """The answer of one generate request.

    ``events``: ``/generate``'s one object, or one object per ``data:`` event of
    ``/generate_stream``, in order (none when the model sent no response). ``first_event_s``:
    seconds from sending to the first event (time to first token; for ``/generate``, to the
    whole answer). ``elapsed_s``: seconds from sending to the end of the answer.
    """

    events: tuple[dict[str, Any], ...]
    first_event_s: float
    elapsed_s: float


def generate_headers(stream: bool) -> dict[str, str]:
    """Headers of a generate request, over the client's own (see the module's note on compression)."""
    return {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "Accept-Encoding": "identity",
    }


def route_error(resp: Response, route: str, redact: Callable[[str], str], context: Mapping[str, Any]) -> TritonError:
    """The error of a non-200 answer on a generate route.

    A 404 or 405 that is not Triton's "unknown model" (and an empty 400, which Tritons before
    2.39 answered for routes they lack) means a server without the generate extension.
    """
    message = error_message(_unframed(resp.body), resp.headers.get("Content-Type"), redact=redact)
    missing_route = resp.status in (404, 405) and "unknown model" not in message.lower()
    if missing_route or (resp.status == 400 and not message):
        return TritonClientRequestError(
            f"{route} failed with HTTP {resp.status}{': ' + message if message else ''}: the server does not "
            "serve Triton's generate extension (/generate and /generate_stream, Triton 2.39 or later); "
            "upgrade Triton, or call a model that is not decoupled with option 'inference-api' = 'infer'",
            status=resp.status,
            server_message=message,
            **context,
        )
    return server_error_for_status(resp.status, message, action=route, **context)


def _unframed(body: bytes) -> bytes:
    """An error body without its SSE framing: when the model's first response is an error,
    ``generate_stream`` answers an error status with ``data: {"error": ...}``."""
    if not body.startswith(b"data:"):
        return body
    events = EventStream(len(body) + 2)
    try:
        events.feed(body + b"\n\n")
    except TritonError:
        return body  # shown as it came
    return jsonio.dumps(events.events[0]) if len(events.events) == 1 else body


class GenerateAttempt:
    """The HTTP attempts of one generate call (called once per attempt, one after another): each
    reads its answer afresh under the bounds, timed with ``clock``; it is also the transport's sink.

    :param transport: the client's transport (its session, limits and redaction).
    :param context: ``model``/``version``/``endpoint`` for errors.
    """

    def __init__(
        self,
        transport: Transport,
        url: str,
        stream: bool,
        context: Mapping[str, Any],
        clock: Callable[[], float],
        limit: int,
    ) -> None:
        self._transport = transport
        self._url = url
        self._route = ROUTES[stream]
        self._stream = stream
        self._context = dict(context)
        self._clock = clock
        self._limit = limit
        self._started = 0.0
        self._first: float | None = None
        self._events: EventStream | None = None
        self._body: BodyDecoder | None = None

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> Generation:
        """Send; return the answer's events.

        :raises TritonError: as :meth:`TritonClient.generate` says.
        """
        self._started = self._clock()
        self._first = None
        # A fresh reader per attempt: a retried stream starts from nothing (partial events dropped).
        self._events = EventStream(self._limit) if self._stream else None
        self._body = None if self._stream else BodyDecoder(None, self._limit)
        try:
            resp = await self._transport.post_stream(self._url, body, headers, self, what=self._route)
        except TritonTimeoutError as exc:
            raise TritonTimeoutError(
                f"{exc.message} (option 'timeout' bounds the whole answer, streamed or not)", **self._context
            ) from None
        if resp.status != 200:
            raise route_error(resp, self._route, self._transport.redact, self._context)
        events = self._answer()
        end = self._clock()
        first = self._first if self._first is not None else end
        return Generation(tuple(events), first - self._started, end - self._started)

    # -- the ChunkSink the transport feeds ------------------------------------------------

    def feed(self, piece: bytes) -> None:
        """Take the next piece of a 200 answer; an error event stops the reading."""
        if self._events is None:
            assert self._body is not None
            if not self._body.feed(piece):
                limit = self._limit
                raise self._wrap(
                    f"exceeds the limit of {format_size(limit)} ({limit} bytes) set by option 'max-response-size'"
                )
            return
        try:
            count = self._events.feed(piece)
        except TritonError as exc:
            raise self._wrap(exc.message, type(exc)) from None
        if count:
            if self._first is None:
                self._first = self._clock()
            self._check(self._events.events[-count:], len(self._events.events) - count)

    def finish(self) -> None:
        """The answer ended: a stream must not end inside an event."""
        if self._events is not None:
            try:
                self._events.finish()
            except TritonError as exc:
                raise self._wrap(exc.message, type(exc)) from None

    # -- helpers --------------------------------------------------------------------------

    def _answer(self) -> list[dict[str, Any]]:
        if self._events is not None:
            return self._events.events
        assert self._body is not None
        try:
            answer = decode_generate_body(self._body.result())
        except TritonError as exc:
            raise self._wrap(exc.message, type(exc)) from None
        self._check([answer], 0)
        return [answer]

    def _check(self, events: list[dict[str, Any]], first_index: int) -> None:
        for index, event in enumerate(events, first_index):
            error = event_error(event)
            if error is not None:
                message = self._transport.redact(error)
                where = f"in event {index + 1} of the stream" if self._stream else "in its answer"
                raise TritonModelError(
                    f"{self._route} failed: the model sent an error {where} after HTTP 200: {message}",
                    status=200,
                    server_message=message,
                    **self._context,
                )

    def _wrap(self, message: str, cls: type[TritonError] | None = None) -> TritonError:
        """An error of the answer (by default a malformed one), with the context, redacted (it
        may quote the server)."""
        error_class = cls or TritonProtocolError
        return error_class(self._transport.redact(f"{self._route} response: {message}"), **self._context)
