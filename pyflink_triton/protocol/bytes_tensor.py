"""BYTES tensors on the wire: per element, row-major, a uint32 LE length then the bytes."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from pyflink_triton.errors import TritonProtocolError, TritonSchemaError

__all__ = [
    "bytes_tensor_buffer",
    "decode_bytes_section",
    "decode_bytes_tensor",
    "element_bytes",
    "encode_bytes_tensor",
]

_U32 = struct.Struct("<I")
_MAX_ELEMENT = 0xFFFFFFFF  # a BYTES length prefix is a uint32


# ------------------------------------------------------------------- encoding


def encode_bytes_tensor(array: npt.NDArray[Any]) -> bytes:
    """Serialize a BYTES tensor: per element, row-major, a uint32 LE length then its bytes.

    Elements may be ``str`` (sent as UTF-8), ``bytes``, ``bytearray`` or ``np.bytes_``.
    Use object arrays for binary data: numpy ``S`` arrays drop trailing NUL bytes.

    :raises TritonSchemaError: for None or other element types, or unencodable strings.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "OUS":
        raise TritonSchemaError(f"BYTES tensor needs str or bytes elements, got {array.dtype}")
    return bytes_tensor_buffer(array, "BYTES").tobytes()


def bytes_tensor_buffer(array: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """Serialize the BYTES tensor ``name`` into a uint8 array (see :func:`encode_bytes_tensor`)."""
    data, lengths = _bytes_elements(array, name)
    return _bytes_layout(data, lengths, name)


def element_bytes(value: Any, index: int, array: npt.NDArray[Any], name: str) -> bytes:
    """Return one element's bytes (``str`` as UTF-8).

    :raises TritonSchemaError: naming the element's position in ``array``, for None,
        other types, or a string that cannot be encoded as UTF-8.
    """
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError as exc:
            problem = f"cannot be encoded as UTF-8 ({exc.reason})"
    elif isinstance(value, (bytes, bytearray)):
        return bytes(value)
    elif isinstance(value, memoryview):
        return value.tobytes()
    elif value is None:
        problem = "is None (nulls cannot be sent)"
    else:
        problem = f"is {type(value).__name__}, expected str or bytes"
    where = tuple(int(i) for i in np.unravel_index(index, array.shape)) if array.ndim else ()
    raise TritonSchemaError(f"BYTES tensor {name!r}: element {where} {problem}")


def _bytes_elements(array: npt.NDArray[Any], name: str) -> tuple[bytes, npt.NDArray[Any]]:
    """Concatenated element bytes, row-major, and each element's byte length."""
    items = array.ravel().tolist()
    if not items:
        return b"", np.zeros(0, np.int64)
    # fast paths: one C-level join instead of a Python call per element
    joined = _join_str(items, name) or _join_bytes(items)
    if joined is not None:
        return joined
    encoded = [element_bytes(value, i, array, name) for i, value in enumerate(items)]
    return b"".join(encoded), _lengths(encoded)


def _lengths(items: list[Any]) -> npt.NDArray[Any]:
    return np.fromiter(map(len, items), np.int64, len(items))


def _join_str(items: list[Any], name: str) -> tuple[bytes, npt.NDArray[Any]] | None:
    """Joined UTF-8 and byte lengths when every element is a ``str``, else None."""
    try:
        joined = "".join(items)
    except TypeError:
        return None
    try:
        data = joined.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise TritonSchemaError(f"BYTES tensor {name!r}: a string cannot be encoded as UTF-8 ({exc.reason})") from None
    lengths = _lengths(items)
    if len(data) != len(joined):
        lengths = _utf8_lengths(joined, lengths)
    return data, lengths


def _join_bytes(items: list[Any]) -> tuple[bytes, npt.NDArray[Any]] | None:
    """Joined bytes and lengths when every element is a bytes-like of bytes, else None."""
    try:
        data = b"".join(items)
    except TypeError:
        return None
    lengths = _lengths(items)
    # a buffer whose len() is not its byte count (array.array, memoryview of ints)
    return (data, lengths) if int(lengths.sum()) == len(data) else None


def _utf8_lengths(joined: str, char_lengths: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """UTF-8 byte length of each element, from code points instead of a per-element encode."""
    code_points = np.frombuffer(joined.encode("utf-32-le"), "<u4")
    width = np.ones(len(code_points) + 1, np.int64)
    width[0] = 0
    width[1:] += code_points >= 0x80
    width[1:] += code_points >= 0x800
    width[1:] += code_points >= 0x10000
    cumulative = np.cumsum(width)
    ends = np.cumsum(char_lengths)
    byte_lengths: npt.NDArray[Any] = cumulative[ends] - cumulative[ends - char_lengths]
    return byte_lengths


def _bytes_layout(data: bytes, lengths: npt.NDArray[Any], name: str) -> npt.NDArray[Any]:
    """Interleave length prefixes and element bytes into one uint8 buffer."""
    count = len(lengths)
    if count == 0:
        return np.zeros(0, np.uint8)
    if int(lengths.max()) > _MAX_ELEMENT:
        raise TritonSchemaError(f"BYTES tensor {name!r}: an element is 4 GiB or larger")
    out = np.empty(4 * count + len(data), np.uint8)
    first = int(lengths[0])
    if (lengths == first).all():
        # fixed width: a 2-D view, no index arrays at all
        rows = out.reshape(count, 4 + first)
        rows[:, :4] = np.frombuffer(_U32.pack(first), np.uint8)
        if first:
            rows[:, 4:] = np.frombuffer(data, np.uint8).reshape(count, first)
        return out
    starts = np.empty(count, np.int64)
    starts[0] = 0
    np.cumsum(lengths[:-1] + 4, out=starts[1:])
    prefix = np.zeros(len(out), np.bool_)
    for k in range(4):
        prefix[starts + k] = True
    out[prefix] = lengths.astype("<u4").view(np.uint8)
    np.logical_not(prefix, out=prefix)
    out[prefix] = np.frombuffer(data, np.uint8)
    return out


# ------------------------------------------------------------------- decoding


def decode_bytes_tensor(buf: bytes | bytearray | memoryview, count: int) -> npt.NDArray[Any]:
    """Decode ``count`` BYTES elements filling ``buf`` exactly into a 1-D object array of bytes.

    :raises TritonProtocolError: when ``buf`` is truncated or has bytes left over.
    """
    if not isinstance(buf, bytes):
        buf = bytes(buf)
    if count < 0:
        raise ValueError("count must be >= 0")
    return decode_bytes_section(buf, 0, len(buf), count, "BYTES")


def decode_bytes_section(buf: bytes, start: int, end: int, count: int, name: str) -> npt.NDArray[Any]:
    """Decode the ``count`` elements of BYTES output ``name`` that fill ``buf[start:end]``.

    :raises TritonProtocolError: when the elements do not fill the section exactly.
    """
    size = end - start
    if count == 0:
        if size:
            raise TritonProtocolError(f"BYTES output {name!r}: {size} bytes for 0 elements")
        return np.empty(0, dtype=object)
    if size < 4 * count:
        raise TritonProtocolError(f"BYTES output {name!r}: {size} bytes cannot hold {count} elements (truncated)")
    out = np.empty(count, dtype=object)  # only now: a shape alone must not allocate terabytes
    if not _fill_fixed_width(out, buf, start, end):
        out[:] = _variable_width(buf, start, end, count, name)
    return out


def _fill_fixed_width(out: npt.NDArray[Any], buf: bytes, start: int, end: int) -> bool:
    """Fill ``out`` when every element has the first one's length; False when they differ."""
    count = len(out)
    (first,) = _U32.unpack_from(buf, start)
    stride = 4 + first
    if end - start != count * stride:
        return False
    # ids and fixed-width codes: check every prefix at once through a strided view,
    # then take the elements in one call
    prefixes: npt.NDArray[np.uint32] = np.ndarray((count,), "<u4", buffer=buf, offset=start, strides=(stride,))
    if not (prefixes == first).all():
        return False
    if first == 0:
        out.fill(b"")
    else:
        # "V" items come back as bytes, NULs included ("S" would strip them)
        out[:] = np.ndarray((count,), f"V{first}", buffer=buf, offset=start + 4, strides=(stride,)).tolist()
    return True


def _variable_width(buf: bytes, start: int, end: int, count: int, name: str) -> list[bytes]:
    values: list[bytes] = []
    append = values.append
    unpack = _U32.unpack_from
    offset = start
    try:
        for _ in range(count):
            (length,) = unpack(buf, offset)
            offset += 4
            stop = offset + length
            append(buf[offset:stop])
            offset = stop
    except struct.error:
        offset = end + 1
    if offset > end:
        raise TritonProtocolError(f"BYTES output {name!r}: element data truncated")
    if offset < end:
        raise TritonProtocolError(f"BYTES output {name!r}: {end - offset} bytes left after {count} elements")
    return values
