"""The HTTP transport: the one module of the package that imports aiohttp.

It owns the pooled ``aiohttp.ClientSession`` and is the narrow seam the client talks
through: :meth:`Transport.post` and :meth:`Transport.get` return a :class:`Response` whatever
its status (an error status is the client's business: the server did answer), and
:meth:`Transport.probe` says whether a URL answers 200 in time.

A request that never completed (aiohttp, asyncio timeout or OS errors) becomes one of our
transport errors in one place, :meth:`Transport._translate`, driven by :data:`ERROR_MAP`,
with credentials redacted from the backend's text (:class:`~.redact.Redactor`).

Bodies are read piece by piece and never past a limit: a 200 body up to ``max-response-size``
(checked against ``Content-Length`` before reading, and counted again after decompression,
which is ours, not aiohttp's), any other body up to :data:`ERROR_BODY_MAX`, of which the rest
is left unread. A body we cannot decode is a :class:`TritonProtocolError`, not retried; a body
cut short by the network stays a :class:`TritonConnectionError`, retried.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from typing import NamedTuple, Protocol

import aiohttp

from ..config import TritonOptions, format_size
from ..errors import (
    TritonConfigError,
    TritonConnectionError,
    TritonError,
    TritonProtocolError,
    TritonTimeoutError,
    TritonTransportError,
)
from ..protocol.body import BodyDecoder
from .lean_http import LeanPool
from .redact import Redactor

__all__ = ["ERROR_BODY_MAX", "ERROR_MAP", "ChunkSink", "Response", "Transport", "ssl_context"]

log = logging.getLogger(__name__)

#: Backend exception type -> (our error class, message template); the first match wins.
#: Order matters: aiohttp's timeouts are also ``ClientError``s, and ``TimeoutError`` is an
#: ``OSError``, so timeouts come first.
_CERTIFICATE_HINT = (
    "{what} failed: {name}: {text} (to trust the server's certificate, give the CA "
    "that signed it in option 'tls-ca-file')"
)

ERROR_MAP: tuple[tuple[type[BaseException], type[TritonTransportError], str], ...] = (
    (asyncio.TimeoutError, TritonTimeoutError, "{what} timed out after {timeout_s:g}s"),
    (aiohttp.ClientConnectorCertificateError, TritonConnectionError, _CERTIFICATE_HINT),
    (ssl.SSLCertVerificationError, TritonConnectionError, _CERTIFICATE_HINT),  # the lean client's
    (aiohttp.ClientError, TritonConnectionError, "{what} failed: {name}: {text}"),
    (OSError, TritonConnectionError, "{what} failed: {name}: {text}"),
)
_MAPPED: tuple[type[BaseException], ...] = tuple(backend for backend, _, _ in ERROR_MAP)

#: Why a stream being read stops when the client is closed.
_CLOSED = "the client was closed while the answer was being read"

#: Idle pooled connections are kept this long (seconds) so bursts reuse them.
KEEPALIVE_S = 60.0

#: The most bytes of a non-200 body (or a health probe's) read, decoded; the rest is not read.
#: Triton's error messages are short, and ours keep at most 2,000 characters of them.
ERROR_BODY_MAX = 64 * 1024


class Response(NamedTuple):
    """What the server answered: status, headers (case-insensitive) and the decoded body
    (all of a 200 body; the first :data:`ERROR_BODY_MAX` bytes of any other)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class ChunkSink(Protocol):
    """Takes a 200 body piece by piece as it arrives (:meth:`Transport.post_stream`)."""

    def feed(self, piece: bytes) -> object:
        """Take the next piece; raise a :class:`TritonError` to stop reading."""

    def finish(self) -> None:
        """The body ended; raise a :class:`TritonError` if it is incomplete."""


def ssl_context(options: TritonOptions) -> ssl.SSLContext | bool:
    """The TLS setting for the pool: ``False`` (no verification), ``True`` or a CA context.

    :raises TritonConfigError: ``tls-ca-file`` cannot be loaded.
    """
    if not options.tls_verify:
        return False
    if not options.tls_ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=options.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TritonConfigError(
            f"Option 'tls-ca-file': cannot load {options.tls_ca_file!r}: {exc}",
            option="tls-ca-file",
        ) from None


class Transport:
    """One pooled HTTP session for one client; made by :meth:`open` on the loop that uses it.

    :param options: the model's options (timeouts, pool size, TLS, secrets to redact).
    :param headers: sent with every request (auth, ``Accept-Encoding``, custom headers).
    :param context: ``model``/``version``/``endpoint`` that every error carries.
    """

    def __init__(
        self,
        options: TritonOptions,
        *,
        headers: Mapping[str, str],
        context: Mapping[str, str | None],
    ) -> None:
        self._options = options
        self._headers = dict(headers)
        self._context = dict(context)
        self._timeout = aiohttp.ClientTimeout(total=options.timeout_s)
        self._probe_timeout = aiohttp.ClientTimeout(total=options.health_check_timeout_s)
        #: The client's one redaction function: every text from the server or aiohttp.
        self.redact = Redactor(options)
        self._max_size = options.max_response_size
        self.session: aiohttp.ClientSession | None = None
        #: Inference POSTs go here with 'http-client' = 'httptools' (see .lean_http).
        self._lean: LeanPool | None = None
        #: Answers being streamed (post_stream), ended by close().
        self._streams: set[aiohttp.ClientResponse] = set()

    @property
    def is_open(self) -> bool:
        """Whether the session exists (between :meth:`open` and :meth:`close`)."""
        return self.session is not None

    async def open(self) -> None:
        """Create the pooled session on the running loop; a no-op when already open.

        :raises TritonConfigError: ``tls-ca-file`` cannot be loaded.
        """
        if self.session is not None:
            return
        connector = aiohttp.TCPConnector(
            # Inference requests in flight, plus room for health probes and metadata calls.
            limit=self._options.max_concurrent_requests + 2,
            keepalive_timeout=KEEPALIVE_S,
            ssl=ssl_context(self._options),
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            headers=self._headers,
            # Request bodies are encoded (and gzip-compressed when asked) by us and sent as
            # they are: aiohttp compresses nothing unless told to. Responses are decompressed
            # by us too (_read_body), under the size limit, so the codec gets plain bytes.
            auto_decompress=False,
            timeout=self._timeout,
        )
        if self._options.http_client == "httptools":
            self._lean = LeanPool(
                self._headers,
                ssl_context(self._options),
                keep=self._options.max_concurrent_requests,
                keepalive_s=KEEPALIVE_S,
            )
        if not self._options.tls_verify:
            # open() makes the session once per client: one warning per client.
            log.warning(
                "Option 'tls-verify' is false: the TLS certificate of the Triton server at %s "
                "is not verified, so anyone on the network path can impersonate it and read "
                "the requests and their credentials",
                self._context.get("endpoint"),
            )

    async def close(self) -> None:
        """Close the pool. Idempotent."""
        session, self.session = self.session, None
        lean, self._lean = self._lean, None
        if lean is not None:
            lean.close()
        for resp in list(self._streams):
            # Closing the pool closes the connection but leaves a reader waiting for its next bytes
            # forever (aiohttp drops the protocol's link to the body first): wake it with an error.
            resp.content.set_exception(aiohttp.ClientConnectionError(_CLOSED))
            resp.close()
        if session is not None:
            await session.close()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], *, what: str = "request") -> Response:
        """``POST`` ``body`` with ``headers`` (on top of the transport's own).

        :param what: names the request in errors (``"inference"``).
        :raises TritonTimeoutError: no complete answer within ``timeout``.
        :raises TritonConnectionError: the connection failed or broke.
        """
        if self._lean is not None:
            return await self._lean_post(url, body, headers, what)
        return await self._request("POST", url, self._timeout, what, body, headers)

    async def _lean_post(self, url: str, body: bytes, headers: Mapping[str, str], what: str) -> Response:
        """:meth:`post` through the lean client: the same limits, errors and timeout."""
        assert self._lean is not None

        def reader(status: int, response_headers: Mapping[str, str]) -> _BodyReader:
            return self._reader(what, status == 200, response_headers)

        total = self._timeout.total
        try:
            async with asyncio.timeout(total):
                response = await self._lean.post(url, body, headers, reader)
        except _MAPPED as exc:
            raise self._translate(exc, what, total or 0.0) from None
        sink = response.sink
        assert isinstance(sink, _BodyReader)
        return Response(response.status, response.headers, sink.body())

    async def post_stream(
        self, url: str, body: bytes, headers: Mapping[str, str], sink: ChunkSink, *, what: str
    ) -> Response:
        """``POST`` and hand a 200 body to ``sink`` piece by piece, as the network delivers it
        (the generate extension); any other status comes back with its error body, as :meth:`post`.

        Always aiohttp, whatever 'http-client' says: the lean client (.lean_http) reads whole
        bodies for ``infer`` only, and a generate request's time is the model's, not the client's.
        The session's ``timeout`` is total: it bounds the whole answer, the stream included, so
        a stream that never ends (or trickles forever) is cut by it; an idle timeout would not.

        :return: the response; its body is empty for a 200 (``sink`` has it).
        :raises TritonError: what ``sink`` raised (the connection is then closed, not pooled).
        :raises TritonTimeoutError: the answer did not end within ``timeout``.
        :raises TritonConnectionError: the connection failed or broke, mid-stream included.
        """
        session = self.session
        if session is None:
            raise RuntimeError("the transport is not open")
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status != 200:
                    return Response(resp.status, resp.headers, await self._read_body(resp, what, False))
                encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
                if encoding not in ("", "identity"):
                    # Triton never compresses generate answers, and we ask for none.
                    raise TritonProtocolError(
                        f"{what} response: Content-Encoding {encoding!r} was not asked for", **self._context
                    )
                self._streams.add(resp)
                try:
                    async for piece in resp.content.iter_any():
                        sink.feed(piece)
                finally:
                    self._streams.discard(resp)
                sink.finish()
                return Response(resp.status, resp.headers, b"")
        except TritonError:
            raise  # ours already (some are OSErrors or TimeoutErrors too: not to be mapped again)
        except _MAPPED as exc:
            if self.session is None:  # closed by us, so no attempt can follow: not retryable
                closed = TritonConnectionError(f"{what} failed: {_CLOSED}", **self._context)
                closed.retryable = False
                raise closed from None
            raise self._translate(exc, what, self._timeout.total or 0.0) from None

    async def get(self, url: str, *, what: str = "request") -> Response:
        """``GET`` ``url``; raises like :meth:`post`."""
        return await self._request("GET", url, self._timeout, what)

    async def probe(self, url: str) -> bool | None:
        """``GET`` with ``health-check-timeout``: ``True`` answered 200, ``False`` answered
        with another status, ``None`` no answer (timeout, connection failure)."""
        try:
            response = await self._request("GET", url, self._probe_timeout, "health probe", whole_body=False)
        except TritonTransportError as exc:
            log.debug("Health probe of %s failed: %s", url, exc)
            return None
        return response.status == 200

    async def _request(
        self,
        method: str,
        url: str,
        timeout: aiohttp.ClientTimeout,
        what: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        whole_body: bool = True,
    ) -> Response:
        """One request; ``whole_body``: a 200 body is read whole (else capped like errors)."""
        session = self.session
        if session is None:
            raise RuntimeError("the transport is not open")
        try:
            async with session.request(method, url, data=body, headers=headers, timeout=timeout) as resp:
                # Leaving the block with the body unread closes the connection (not pooled).
                whole = whole_body and resp.status == 200
                return Response(resp.status, resp.headers, await self._read_body(resp, what, whole))
        except _MAPPED as exc:
            raise self._translate(exc, what, timeout.total or 0.0) from None

    async def _read_body(self, resp: aiohttp.ClientResponse, what: str, whole: bool) -> bytes:
        """The decoded body: all of it (``whole``, up to ``max-response-size``, else an error),
        or its first :data:`ERROR_BODY_MAX` bytes.

        :raises TritonProtocolError: ``whole`` and the body is too large or cannot be decoded.
        """
        reader = self._reader(what, whole, resp.headers)
        async for piece in resp.content.iter_any():
            if not reader.feed(piece):
                break
        return reader.body()

    def _reader(self, what: str, whole: bool, headers: Mapping[str, str]) -> _BodyReader:
        """The reader of one body; ``whole``: a 200 body wanted whole.

        :raises TritonProtocolError: ``whole`` and ``Content-Length`` announces too much.
        """
        limit = self._max_size if whole else ERROR_BODY_MAX
        length = headers.get("Content-Length")
        if whole and length is not None and length.isdigit() and int(length) > limit:
            raise self._too_large(what, f"Content-Length {int(length)} announced; not read")
        return _BodyReader(self, what, whole, headers.get("Content-Encoding"), limit)

    def _too_large(self, what: str, detail: str) -> TritonProtocolError:
        limit = self._max_size
        return TritonProtocolError(
            f"{what} response exceeds the limit of {format_size(limit)} ({limit} bytes) set by "
            f"option 'max-response-size' ({detail})",
            **self._context,
        )

    def _translate(self, exc: BaseException, what: str, timeout_s: float) -> TritonTransportError:
        """The one place where backend errors become ours.

        ``from None`` at the raise: the backend's exception is not chained, because its text
        is not redacted and tracebacks are logged; our message keeps its type name and text.
        """
        for backend, ours, template in ERROR_MAP:
            if isinstance(exc, backend):
                name, text = type(exc).__name__, self.redact(str(exc))
                message = template.format(what=what, timeout_s=timeout_s, name=name, text=text)
                return ours(message, **self._context)
        raise TypeError(f"no mapping for {type(exc).__name__}")  # pragma: no cover - _MAPPED


class _BodyReader:
    """One response body, fed piece by piece under its limit (by either HTTP client)."""

    def __init__(self, transport: Transport, what: str, whole: bool, encoding: str | None, limit: int) -> None:
        self._transport = transport
        self._what = what
        self._whole = whole
        self._error: TritonProtocolError | None = None
        self._decoder: BodyDecoder | None = None
        try:
            self._decoder = BodyDecoder(encoding, limit)
        except TritonProtocolError as exc:
            self._error = exc

    def feed(self, piece: bytes) -> bool:
        """Take the next piece; ``False``: stop reading (limit passed, or undecodable)."""
        if self._decoder is None or self._error is not None:
            return False
        try:
            return self._decoder.feed(piece)
        except TritonProtocolError as exc:
            self._error = exc
            return False

    def body(self) -> bytes:
        """The decoded body (an error body's first bytes, or why they cannot be shown).

        :raises TritonProtocolError: a whole body that is too large or cannot be decoded.
        """
        decoder, whole, what = self._decoder, self._whole, self._what
        body = b""
        if self._error is None and decoder is not None and not (whole and decoder.over):
            try:
                body = decoder.result(partial=not whole)
            except TritonProtocolError as exc:
                self._error = exc
        if self._error is not None:
            if not whole:
                # An error answer still has its status; say why its text is missing.
                return f"(the {what} error body cannot be decoded: {self._error.message})".encode()
            raise TritonProtocolError(
                self._transport.redact(f"{what} response: {self._error.message}"),
                **self._transport._context,
            ) from None
        if whole and decoder is not None and decoder.over:
            inflated = decoder.encoding is not None and decoder.read <= decoder.limit
            raise self._transport._too_large(
                what,
                (
                    f"its {decoder.encoding} body inflates to more; decompression stopped"
                    if inflated
                    else "more arrived; reading stopped"
                ),
            )
        return body
