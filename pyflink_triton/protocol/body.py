"""Response bodies read piece by piece under a size limit, decompressed as they come.

The transport feeds :class:`BodyDecoder` the body's pieces as the network delivers them; the
decoder inflates ``gzip``/``deflate`` with a bounded output per step, so neither a long body
nor a small compressed one that inflates to gigabytes (a "gzip bomb") can grow the process past
``limit`` bytes. Pure: no I/O.
"""

from __future__ import annotations

import zlib

from pyflink_triton.errors import TritonProtocolError

__all__ = ["BodyDecoder", "decompress"]

#: Gzip members one body may hold (each ends a stream; more is not a real server's answer).
MAX_GZIP_MEMBERS = 64


class BodyDecoder:
    """Collect a body of at most ``limit`` decoded bytes (and at most ``limit`` bytes read).

    :param content_encoding: the response's ``Content-Encoding``; ``None``/``identity``: plain.
    :param limit: the most bytes :meth:`feed` accepts, read or decoded.
    :raises TritonProtocolError: an encoding we do not read (we only ever ask for gzip).
    """

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        encoding = (content_encoding or "").strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise TritonProtocolError(f"unsupported response Content-Encoding {content_encoding!r}")
        self.encoding = encoding if encoding not in ("", "identity") else None
        self.limit = limit
        self.read = 0  # bytes received, before decoding
        self.size = 0  # bytes decoded
        self.over = False  # the limit was passed; nothing more is accepted
        self._parts: list[bytes] = []
        self._pending = b""  # deflate: bytes held until the framing is known
        self._inflater: zlib._Decompress | None = None
        self._members = 0

    def feed(self, data: bytes) -> bool:
        """Take the next piece of the body; ``False`` once the limit is passed (then stop).

        :raises TritonProtocolError: the compressed data is corrupt.
        """
        if self.over:
            return False
        self.read += len(data)
        if self.encoding is None:
            self._keep(data)
        elif self.read > self.limit:
            self.over = True  # compressed bodies count too, even when they inflate to nothing
        else:
            self._inflate(data)
        return not self.over

    def result(self, *, partial: bool = False) -> bytes:
        """The decoded body; ``partial``: what arrived so far (at most ``limit`` bytes).

        :raises TritonProtocolError: the compressed stream ended early (unless ``partial``).
        """
        if (
            self.encoding is not None
            and not partial
            and not self.over
            and (self._inflater is None or not self._inflater.eof)
        ):
            raise TritonProtocolError(f"cannot decompress {self.encoding} response: the stream is truncated")
        body = b"".join(self._parts)
        return body[: self.limit] if len(body) > self.limit else body

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        if self.size + len(data) > self.limit:
            data, self.over = data[: self.limit - self.size + 1], True
        self.size += len(data)
        self._parts.append(data)

    def _inflate(self, data: bytes) -> None:
        try:
            while data and not self.over:
                inflater = self._inflater
                if inflater is None:
                    data = self._start(data)
                elif inflater.eof:
                    data = self._next_member(data)
                else:
                    # At most one byte past the limit: enough to know it was passed.
                    self._keep(inflater.decompress(data, self.limit - self.size + 1))
                    data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        except zlib.error as exc:
            raise TritonProtocolError(f"cannot decompress {self.encoding} response: {exc}") from None

    def _start(self, data: bytes) -> bytes:
        """Make the inflater for the first bytes; returns the bytes still to inflate."""
        if self.encoding == "deflate":
            # 'deflate' should be zlib-wrapped (RFC 9110), but some servers send raw deflate:
            # the two header bytes tell them apart.
            data, self._pending = self._pending + data, b""
            if len(data) < 2:
                self._pending = data
                return b""
            zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._inflater = zlib.decompressobj(15 if zlib_header else -15)
        else:
            self._members += 1
            self._inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip, or zlib framing
        return data

    def _next_member(self, data: bytes) -> bytes:
        """After the end of a stream: another gzip member, or an error."""
        if self.encoding == "deflate" or self._members >= MAX_GZIP_MEMBERS:
            raise TritonProtocolError(f"cannot decompress {self.encoding} response: data after the end of the stream")
        self._inflater = None
        return data


def decompress(body: bytes, content_encoding: str | None, limit: int | None = None) -> bytes:
    """Decode a whole body (see :class:`BodyDecoder`); ``limit`` ``None``: no limit.

    :raises TritonProtocolError: corrupt or unsupported encoding, or larger than ``limit``.
    """
    cap = max(len(body), 1) * 1032 + 1024 if limit is None else limit  # deflate's ratio bound
    decoder = BodyDecoder(content_encoding, cap)
    if not decoder.feed(body):
        raise TritonProtocolError(f"response larger than {cap} bytes once decompressed")
    return decoder.result()
