"""A lean HTTP/1.1 client for inference requests: asyncio's protocol layer and httptools.

Why our own code where aiohttp exists (and still makes every other request): on the 2-core
benchmark machine a bare ``aiohttp`` POST and read of one small inference request costs
about 250 us of CPU, and this path about 100 us, which decides how many small requests a
core can send (``BENCHMARKS.md``, "lean HTTP"). ``httptools`` (llhttp, the parser uvicorn
uses) parses the responses; this module keeps keep-alive connections, writes requests and
hands each response body, piece by piece, to the reader the transport gives it (the size
limits live there, once). Opt-in: ``'http-client' = 'httptools'``.

Not done, on purpose: redirects, proxies, cookies, HTTP/2 and streamed request bodies; none
of them is part of talking to Triton.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict

__all__ = ["BodySink", "LeanPool", "LeanResponse"]

#: The connection closed before the response was complete (retried like aiohttp's
#: ``ClientPayloadError``: the server or the network broke, not the request).
INCOMPLETE = "the server closed the connection before the response was complete"

#: The most bytes a response's status line and headers may take (aiohttp allows 8190 per
#: line); past it the request fails rather than let a server grow our buffers without end.
MAX_HEAD_BYTES = 64 * 1024


class BodySink(Protocol):
    """Takes a response body piece by piece; ``feed`` returns False to stop reading."""

    def feed(self, piece: bytes) -> bool: ...


#: Makes the sink of one response from its status and headers; may raise (e.g. a
#: ``Content-Length`` over the limit), which fails the request with that error.
SinkFactory = Callable[[int, Mapping[str, str]], BodySink]


class LeanResponse(NamedTuple):
    """Status, headers (case-insensitive) and the sink that took the body."""

    status: int
    headers: Mapping[str, str]
    sink: BodySink


class _Target(NamedTuple):
    """What every request to one URL shares, worked out once."""

    host: str
    port: int
    tls: bool
    head: bytes  # request line, Host and the pool's headers


class _Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[LeanResponse] | None = None
        self._make_sink: SinkFactory | None = None
        self._headers: CIMultiDict[str] = CIMultiDict()
        self._sink: BodySink | None = None
        self._status = 0
        self._head_read = 0  # bytes of the response read before its headers ended

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._sink is not None and self._delimited_by_close():
            self._finish(complete=True)  # a body without length or chunks ends with the connection
        elif isinstance(exc, ssl.SSLError):
            self._fail(exc)  # a TLS alert says why: a client certificate missing or refused (mTLS)
        else:
            self._fail(ConnectionResetError(INCOMPLETE))

    def data_received(self, data: bytes) -> None:
        if not self._asking():
            self.close()  # bytes nobody asked for: the connection cannot be trusted with the next request
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed HTTP response: {exc}"))
            return
        if self._asking() and self._sink is None:  # all of it went into the status line and headers
            self._head_read += len(data)
            if self._head_read > MAX_HEAD_BYTES:
                self._fail(ConnectionError(f"the response's headers exceed {MAX_HEAD_BYTES} bytes"))

    # -- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if not self._asking():
            self.close()  # a second response in one read: never taken for the next request's

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        if not self._asking():
            return
        self._status = self._parser.get_status_code()
        assert self._make_sink is not None
        try:
            self._sink = self._make_sink(self._status, self._headers)
        except Exception as exc:
            self._fail(exc)

    def on_body(self, body: bytes) -> None:
        if self._asking() and self._sink is not None and not self._sink.feed(body):
            self._finish(complete=False)  # enough read: the rest stays unread

    def on_message_complete(self) -> None:
        self._finish(complete=self._parser.should_keep_alive())

    # -- requests ---------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes, make_sink: SinkFactory) -> asyncio.Future[LeanResponse]:
        """Write one request; the future gets its response once the body is read."""
        assert self.transport is not None
        self._headers = CIMultiDict()
        self._sink = None
        self._head_read = 0
        self._make_sink = make_sink
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.writelines((head, body))
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _asking(self) -> bool:
        """Whether a request waits for its response (and the connection is still open)."""
        return not self.closed and self._waiter is not None and not self._waiter.done()

    def _delimited_by_close(self) -> bool:
        headers = self._headers
        return "Content-Length" not in headers and "chunked" not in headers.get("Transfer-Encoding", "")

    def _finish(self, *, complete: bool) -> None:
        """Answer the request; ``complete``: the connection may serve the next one."""
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self._sink is not None:
            waiter.set_result(LeanResponse(self._status, self._headers, self._sink))
        if not complete:
            self.close()

    def _fail(self, exc: BaseException) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()


class LeanPool:
    """Keep-alive connections to the hosts of the URLs it is given; no limit on how many
    are open at once (the client bounds requests in flight), at most ``keep`` kept idle.

    :param headers: sent with every request (after the request line and ``Host``).
    :param ssl_context: the TLS setting (``True``: verify with the system's CAs, ``False``:
        do not verify, or a context) for ``https`` URLs.
    :param keepalive_s: how long an idle connection may be reused.
    """

    def __init__(
        self, headers: Mapping[str, str], ssl_context: ssl.SSLContext | bool, *, keep: int, keepalive_s: float
    ) -> None:
        # Some proxies and gateways refuse requests without a User-Agent (aiohttp sends its own).
        named = {k.lower() for k in headers}
        agent = {} if "user-agent" in named else {"User-Agent": "pyflink-triton"}
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in {**agent, **headers}.items())
        self._ssl: ssl.SSLContext | None = None  # made on the first https connection, then shared
        self._verify = ssl_context
        self._keep = keep
        self._keepalive_s = keepalive_s
        self._idle: dict[tuple[str, int, bool], collections.deque[_Connection]] = {}
        self._targets: dict[str, _Target] = {}

    async def post(self, url: str, body: bytes, headers: Mapping[str, str], make_sink: SinkFactory) -> LeanResponse:
        """``POST`` ``body`` to ``url``; the response's body goes into ``make_sink(...)``.

        :raises OSError: connecting, writing or reading failed (the connection is dropped).
        """
        target = self._target(url)
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = b"%s%sContent-Length: %d\r\n\r\n" % (target.head, extra.encode(), len(body))
        conn = await self._acquire(target)
        try:
            response = await conn.send(head, body, make_sink)
        except BaseException:
            conn.close()  # cancelled or failed mid-exchange: its state is unknown
            raise
        self._release(target, conn)
        return response

    def close(self) -> None:
        """Close every idle connection (those in use close when their request ends)."""
        for idle in self._idle.values():
            while idle:
                idle.popleft().close()

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            tls = parts.scheme == "https"
            port = parts.port or (443 if tls else 80)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            netloc = parts.netloc.rpartition("@")[2]  # never credentials in Host
            line = f"POST {path} HTTP/1.1\r\nHost: {netloc}\r\n{self._headers}"
            target = self._targets[url] = _Target(parts.hostname or "", port, tls, line.encode())
        return target

    async def _acquire(self, target: _Target) -> _Connection:
        idle = self._idle.get((target.host, target.port, target.tls))
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be stale
            if not conn.closed and now - conn.idle_since < self._keepalive_s:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection,
            target.host,
            target.port,
            ssl=self._tls() if target.tls else None,
            server_hostname=target.host if target.tls else None,
        )
        return conn

    def _tls(self) -> ssl.SSLContext:
        if self._ssl is None:
            verify = self._verify
            self._ssl = verify if isinstance(verify, ssl.SSLContext) else _context(verify)
        return self._ssl

    def _release(self, target: _Target, conn: _Connection) -> None:
        if conn.closed:
            return
        idle = self._idle.setdefault((target.host, target.port, target.tls), collections.deque())
        if len(idle) >= self._keep:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)


def _context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
