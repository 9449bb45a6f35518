"""Properties of the protocol codec, checked with generated tensors (hypothesis).

* Round trips: every datatype, shapes of 0 to 3 dimensions of sizes 0..5, generated values
  (NaN payloads, infinities, signed zeros, subnormals; arbitrary bytes and unicode for BYTES),
  sometimes big-endian or Fortran-ordered, next to other tensors: encoded in binary and JSON
  mode, plain and gzip, read back the way Triton reads a request (tritonclient's decoders),
  answered the way Triton answers (binary or JSON outputs as the request asked, gzip when the
  request was), decoded: the arrays come back exactly (BF16 rounded to nearest even, checked
  against an exact reference; NaN positions equal; BYTES as ``bytes``).
* ``decode_response`` given a valid body with a mutation (truncated, a flipped, inserted or
  deleted byte, a wrong header length, an edited header field, a corrupt gzip stream) raises
  nothing but :class:`TritonProtocolError`; the mutations that cannot leave a valid body
  (truncation, a wrong header length) always raise it.

Kept fast (a few seconds): few examples each, no deadline. ``PROPERTY_EXAMPLES=2000`` for a
longer search (the round trip runs that many per datatype).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import tritonclient.utils as tritonclient_utils
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pyflink_triton.errors import TritonProtocolError
from pyflink_triton.protocol import (
    BF16,
    BOOL,
    BYTES,
    DATATYPES,
    FP16,
    EncodedRequest,
    InferResponse,
    Tensor,
    decode_response,
    encode_request,
    numpy_dtype,
)

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "0"))


def _settings(default: int) -> settings:
    return settings(
        max_examples=EXAMPLES or default,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- generated tensors -----------------------------------------------------------------------

SHAPES = st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple)
NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=6)
_TEXT = st.text(st.characters(codec="utf-8"), max_size=6)  # any code point UTF-8 can hold
_FLOAT_BITS = {2: "<u2", 4: "<u4", 8: "<u8"}
# BF16 rounding: low halves at and around the tie, on any upper half
_BF16_TIES = st.tuples(st.integers(0, 0xFFFF), st.sampled_from([0, 1, 0x7FFF, 0x8000, 0x8001, 0xFFFF]))


def _float_elements(itemsize: int, bf16: bool) -> st.SearchStrategy[int]:
    """Bit patterns of floats: hypothesis's floats (NaN, infinities, -0.0, subnormals...) and
    raw patterns (NaN payloads, signalling NaNs)."""
    uint = _FLOAT_BITS[itemsize]
    floats = st.floats(width=8 * itemsize).map(lambda x: int(np.array(x, f"<f{itemsize}").view(uint)))
    raw = st.integers(0, 2 ** (8 * itemsize) - 1)
    info = np.finfo(f"<f{itemsize}")
    special = st.sampled_from(
        [
            math.nan,
            -math.nan,
            math.inf,
            -math.inf,
            -0.0,
            float(info.max),
            float(info.smallest_subnormal),
            float(-info.tiny),
        ]
    ).map(lambda x: int(np.array(x, f"<f{itemsize}").view(uint)))
    if bf16:
        return st.one_of(floats, raw, special, _BF16_TIES.map(lambda t: t[0] << 16 | t[1]))
    return st.one_of(floats, raw, special)


@st.composite
def _bytes_array(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    count = math.prod(shape)
    kind = draw(st.sampled_from(["mixed", "text", "fixed"]))
    if kind == "fixed":  # one length for all: the decoder's fixed-width path
        width = draw(st.integers(0, 4))
        values: list[Any] = draw(st.lists(st.binary(min_size=width, max_size=width), min_size=count, max_size=count))
    elif kind == "text":
        values = draw(st.lists(_TEXT, min_size=count, max_size=count))
    else:
        element = st.one_of(st.binary(max_size=8), _TEXT, st.binary(max_size=4).map(bytearray))
        values = draw(st.lists(element, min_size=count, max_size=count))
    array = np.empty(count, dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array.reshape(shape)


@st.composite
def tensor_data(draw: Any, datatype: str) -> np.ndarray:
    """An array of ``datatype`` values, in that datatype's dtype (BF16: float32)."""
    shape = draw(SHAPES)
    if datatype == BYTES:
        return draw(_bytes_array(shape))
    count = math.prod(shape)
    dtype = numpy_dtype(datatype)
    if datatype == BOOL:
        array = np.array(draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype)
    elif dtype.kind == "f":
        elements = _float_elements(dtype.itemsize, datatype == BF16)
        bits = draw(st.lists(elements, min_size=count, max_size=count))
        array = np.array(bits, _FLOAT_BITS[dtype.itemsize]).view(dtype)
    else:
        info = np.iinfo(dtype)
        edges = st.sampled_from([info.min, info.max, 0])
        values = draw(st.lists(st.one_of(st.integers(info.min, info.max), edges), min_size=count, max_size=count))
        array = np.array(values, dtype)
    array = array.reshape(shape)
    layout = draw(st.sampled_from(["c", "c", "fortran", "big-endian"]))
    if layout == "fortran":
        array = np.asfortranarray(array)
    elif layout == "big-endian" and dtype.itemsize > 1:
        array = array.astype(dtype.newbyteorder(">"))
    return array


@st.composite
def tensors(draw: Any, first: str | None = None) -> list[tuple[str, str, np.ndarray]]:
    """One to three (name, datatype, array), the first of datatype ``first`` when given."""
    datatypes = draw(st.lists(st.sampled_from(DATATYPES), min_size=0 if first else 1, max_size=2))
    if first:
        datatypes.insert(0, first)
    names = draw(st.lists(NAMES, min_size=len(datatypes), max_size=len(datatypes), unique=True))
    return [(name, dt, draw(tensor_data(dt))) for name, dt in zip(names, datatypes)]


# -- what the decoder must give back ---------------------------------------------------------


def _f32(bits: int) -> float:
    return float(np.array(bits, "<u4").view("<f4"))


def bf16_round(bits: int) -> int | None:
    """The float32 bits of the bfloat16 nearest to float32 ``bits`` (ties to an even last
    bit), computed exactly with fractions; None for NaN."""
    if bits & 0x7FFFFFFF > 0x7F800000:
        return None
    low = bits & 0xFFFF0000  # toward zero
    if low == bits:
        return bits
    high = low + 0x10000  # away from zero; the pattern after the largest finite one is infinity
    x, below = Fraction(_f32(bits)), Fraction(_f32(low))
    above = Fraction(_f32(high)) if high & 0x7FFFFFFF != 0x7F800000 else Fraction(2) ** 128 * (-1 if bits >> 31 else 1)
    d_low, d_high = abs(x - below), abs(above - x)
    if d_low < d_high or (d_low == d_high and not (low >> 16) & 1):
        return low
    return high


def _utf8(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def assert_same(actual: np.ndarray, datatype: str, sent: np.ndarray, where: str) -> None:
    """``actual`` holds exactly the values of ``sent`` as ``datatype`` carries them."""
    assert actual.shape == sent.shape, (where, actual.shape, sent.shape)
    if datatype == BYTES:
        got = actual.ravel().tolist()
        assert actual.dtype == object, where
        assert all(type(v) is bytes for v in got), (where, got)
        assert got == [_utf8(v) for v in sent.ravel().tolist()], where
        return
    dtype = numpy_dtype(datatype)
    assert actual.dtype == dtype, (where, actual.dtype, datatype)
    if dtype.kind != "f":
        assert np.array_equal(actual, sent), (where, actual, sent)
        return
    uint = _FLOAT_BITS[dtype.itemsize]
    want = np.ascontiguousarray(sent, dtype)
    got_bits = np.ascontiguousarray(actual).view(uint).ravel().tolist()
    if datatype == BF16:
        want_bits = [bf16_round(b) for b in want.view(uint).ravel().tolist()]
    else:
        want_bits = [
            None if math.isnan(v) else b for v, b in zip(want.ravel().tolist(), want.view(uint).ravel().tolist())
        ]
    got_nan = np.isnan(actual).ravel().tolist()
    assert got_nan == [b is None for b in want_bits], (where, "NaN positions", actual, sent)
    # every other value bit for bit (so -0.0 stays -0.0)
    assert [g for g, n in zip(got_bits, got_nan) if not n] == [w for w in want_bits if w is not None], (
        where,
        actual,
        sent,
    )


def json_can_carry(datatype: str, array: np.ndarray) -> bool:
    """Whether a JSON request may hold the tensor as ``data`` (else it goes binary alone)."""
    if datatype in (FP16, BF16):
        return False
    if datatype == BYTES:
        try:
            for value in array.ravel().tolist():
                _utf8(value).decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
    return array.dtype.kind != "f" or bool(np.isfinite(array).all())


# -- a server that answers like Triton -------------------------------------------------------


def parse_request_like_triton(req: EncodedRequest) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The request's JSON header and its inputs, read with tritonclient's decoders."""
    body = req.body
    encoding = req.headers.get("Content-Encoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    length = int(req.headers.get("Inference-Header-Content-Length", len(body)))
    header, tail = json.loads(body[:length]), body[length:]
    to_np = tritonclient_utils.triton_to_np_dtype
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for entry in header["inputs"]:
        datatype, shape = entry["datatype"], entry["shape"]
        size = entry.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = entry["data"]
            if datatype == BYTES:
                array = np.empty(len(data), object)
                array[:] = [s.encode("utf-8") for s in data]
            else:
                array = np.array(data, dtype=to_np(datatype))
        else:
            raw = tail[offset : offset + size]
            offset += size
            if datatype == BYTES:
                array = tritonclient_utils.deserialize_bytes_tensor(raw) if size else np.empty(0, object)
            elif datatype == BF16:
                array = np.array(tritonclient_utils.deserialize_bf16_tensor(raw), np.float32)
            else:
                array = np.frombuffer(raw, dtype=to_np(datatype))
        arrays[entry["name"]] = array.reshape(shape)
    assert offset == len(tail), "binary data left over in the request"
    return header, arrays


def response_body(
    outputs: list[tuple[str, str, np.ndarray, bool]], request_id: str | None = None
) -> tuple[dict[str, Any], bytes]:
    """Triton's response header and binary tail for (name, datatype, array, binary) outputs;
    JSON floats may be NaN/Infinity literals, as Triton writes them."""
    entries, chunks = [], []
    for name, datatype, array, binary in outputs:
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            if datatype == BYTES:
                raw = tritonclient_utils.serialize_byte_tensor(array)
                raw = raw.item() if raw.size else b""
            elif datatype == BF16:
                raw = tritonclient_utils.serialize_bf16_tensor(np.ascontiguousarray(array, np.float32))
                raw = raw.item() if raw.size else b""
            else:
                raw = np.ascontiguousarray(array, numpy_dtype(datatype)).tobytes()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        elif datatype == BYTES:
            entry["data"] = [_utf8(v).decode("utf-8") for v in array.ravel().tolist()]
        else:
            entry["data"] = array.ravel().tolist()
        entries.append(entry)
    header: dict[str, Any] = {"model_name": "echo", "model_version": "1", "outputs": entries}
    if request_id is not None:
        header["id"] = request_id
    return header, b"".join(chunks)


def answer_like_triton(
    header: dict[str, Any], arrays: dict[str, np.ndarray], compression: str | None
) -> tuple[bytes, str | None, str | None]:
    """An identity model's response: (body, Inference-Header-Content-Length, Content-Encoding).

    Outputs are binary where the request asked (``binary_data_output``, or an output's
    ``binary_data``), JSON elsewhere, except what JSON cannot carry (FP16, BF16, BYTES that
    are not UTF-8), which goes binary as a server may send it.
    """
    everything_binary = bool(header.get("parameters", {}).get("binary_data_output"))
    asked = {o["name"]: o.get("parameters", {}).get("binary_data", False) for o in header.get("outputs", [])}
    outputs = []
    for entry in header["inputs"]:
        name, datatype = entry["name"], entry["datatype"]
        array = arrays[name]
        binary = (
            everything_binary
            or asked.get(name, False)
            or datatype in (FP16, BF16)
            or (datatype == BYTES and not json_can_carry(BYTES, array))
        )
        outputs.append((name, datatype, array, binary))
    head, tail = response_body(outputs, header.get("id"))
    head_bytes = json.dumps(head).encode()
    body = head_bytes + tail
    length = str(len(head_bytes)) if tail else None
    if compression == "gzip":
        return gzip.compress(body, mtime=0), length, "gzip"
    return body, length, None


# -- round trips -----------------------------------------------------------------------------

MODES = [(binary, compression) for binary in (True, False) for compression in (None, "gzip")]


@pytest.mark.parametrize("datatype", DATATYPES)
@_settings(25)
@given(data=st.data())
def test_every_datatype_round_trips_exactly(datatype: str, data: st.DataObject) -> None:
    case = data.draw(tensors(first=datatype), label="tensors")
    request_id = data.draw(st.one_of(st.none(), _TEXT), label="request_id")
    names = [name for name, _, _ in case]
    # all outputs (binary_data_output in binary mode), or each by name, some binary in JSON mode
    named = data.draw(st.booleans(), label="named outputs")
    binary_outputs = data.draw(st.sets(st.sampled_from(names)), label="binary_outputs")
    inputs = [Tensor.from_array(name, array, dt) for name, dt, array in case]

    for binary, compression in MODES:
        mode = f"binary={binary} compression={compression}"
        req = encode_request(
            inputs,
            binary=binary,
            compression=compression,
            request_id=request_id,
            outputs=names if named else None,
            binary_outputs=() if binary else binary_outputs,
        )
        header, received = parse_request_like_triton(req)
        assert header.get("id") == (request_id or None), mode
        for (name, dt, array), entry in zip(case, header["inputs"]):
            assert (entry["name"], entry["datatype"], entry["shape"]) == (name, dt, list(array.shape))
            # JSON mode sends what JSON can hold as data, the rest as binary; binary mode all binary
            assert ("data" in entry) == (not binary and json_can_carry(dt, array)), (mode, name)
            assert_same(received[name], dt, array, f"request {mode} {name!r}")

        body, length, encoding = answer_like_triton(header, received, compression)
        result = decode_response(body, header_length=length, content_encoding=encoding)
        assert isinstance(result, InferResponse)
        assert list(result.outputs) == names, mode
        assert result.datatypes == {name: dt for name, dt, _ in case}, mode
        assert result.id == (request_id or None), mode
        assert (result.model_name, result.model_version) == ("echo", "1")
        for name, dt, array in case:
            assert_same(result.outputs[name], dt, array, f"response {mode} {name!r}")


# -- mutated responses -----------------------------------------------------------------------


@st.composite
def valid_responses(draw: Any) -> tuple[dict[str, Any], bytes]:
    """(header, binary tail) of a response holding generated outputs, each binary or JSON."""
    outputs = []
    for name, dt, array in draw(tensors()):
        # JSON cannot hold bytes that are not UTF-8 (FP16 and BF16 as JSON: the decoder reads them)
        binary = draw(st.booleans()) or (dt == BYTES and not json_can_carry(BYTES, array))
        outputs.append((name, dt, array, binary))
    return response_body(outputs, draw(st.one_of(st.none(), _TEXT)))


def _deep(opening: str, closing: str, depth: int, inner: str = "") -> str:
    return opening * depth + inner + closing * depth


# JSON texts to put in a header field: anything JSON holds, and what breaks naive decoders
_RAW_JSON = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    ).map(json.dumps),
    st.sampled_from(
        [_deep("[", "]", n) for n in (100, 900, 990, 1000, 1023, 1024, 1025, 5000)]
        + [_deep('{"a":', "}", n, "1") for n in (900, 1000, 1024)]
        + [
            json.dumps(s)
            for s in (
                [1] * 33,
                [1] * 65,
                [0, 2**62, 2**62],
                [0, 2**63 - 1, 2**63 - 1],
                [0, 2**64 - 1],
                [10**13],
                [2**40, 2**40],
                [-1],
                [True],
                [1.0],
                [],
            )
        ]
        + [
            "-1",
            "1e400",
            "NaN",
            "-Infinity",
            "18446744073709551616",
            "-9223372036854775809",
            '"\\ud800"',
            '"' + "x" * 5000 + '"',
            '["\\udfff"]',
            "0.5",
            "[null]",
            "{}",
            '""',
        ]
    ),
)
_NEW_KEYS = [
    "error",
    "outputs",
    "id",
    "model_name",
    "parameters",
    "binary_data_size",
    "data",
    "shape",
    "datatype",
    "name",
]
_PLACEHOLDER = "\x00mutation\x00"


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree: existing values, and new keys of every object."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
        found += [(*prefix, key) for key in _NEW_KEYS if key not in node]
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _at(header: dict[str, Any], *path: Any) -> int:
    """The index ``mutate`` takes to edit the value at ``path`` (for explicit examples)."""
    return _paths(header).index(path)


def _edited_header(header: dict[str, Any], path_index: int, raw: str) -> bytes:
    """The header with the value at a path (chosen by index) replaced by the JSON text ``raw``."""
    paths = _paths(header)
    path = paths[path_index % len(paths)]
    if not path:
        return raw.encode()
    edited = json.loads(json.dumps(header))
    parent = edited
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = _PLACEHOLDER
    text = json.dumps(edited)
    return text.replace(json.dumps(_PLACEHOLDER), raw, 1).encode()


MUTATIONS = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 8)),
    st.tuples(st.just("length"), st.integers(-20, 20).filter(bool)),
    st.tuples(
        st.just("length text"), st.sampled_from(["abc", "-1", " 7 ", "1.5", "0x10", "1e3", "", "٣", "9" * 50, "\x00"])
    ),
    st.tuples(st.just("edit"), st.integers(0, 10**6), _RAW_JSON),
    st.tuples(st.just("gzip truncate"), st.integers(0, 10**6)),
    st.tuples(st.just("gzip flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("encoding"), st.sampled_from(["gzip", "deflate", "x-gzip", "br", "identity, gzip"])),
)


@contextmanager
def plain_recursion_limit(free: int = 900) -> Iterator[None]:
    """The stack of a plain process: about ``free`` frames left under the recursion limit
    (1000 by default). Hypothesis raises the limit while a test runs, which would hide a
    RecursionError that a real caller meets."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + free)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def mutate(
    header: dict[str, Any], tail: bytes, mutation: tuple[Any, ...]
) -> tuple[bytes, int | str | None, str | None, bool]:
    """(body, header length, content encoding, whether decoding must fail) after ``mutation``."""
    head = json.dumps(header).encode()
    body = head + tail
    length: int | None = len(head) if tail else None
    kind, *args = mutation
    if kind == "truncate":
        return body[: args[0] % len(body)], length, None, True
    if kind == "flip":
        i = args[0] % len(body)
        return body[:i] + bytes([body[i] ^ args[1]]) + body[i + 1 :], length, None, False
    if kind == "insert":
        i = args[0] % (len(body) + 1)
        return body[:i] + args[1] + body[i:], length, None, False
    if kind == "delete":
        i = args[0] % len(body)
        return body[:i] + body[i + args[1] :], length, None, False
    if kind == "length":
        return body, len(head) + args[0], None, True
    if kind == "length text":
        return body, args[0], None, False
    if kind == "edit":
        new_head = _edited_header(header, args[0], args[1])
        return new_head + tail, len(new_head) if tail else None, None, False
    if kind.startswith("gzip"):
        packed = gzip.compress(body, mtime=0)
        i = args[0] % len(packed)
        if kind == "gzip truncate":
            return packed[:i], length, "gzip", True
        return packed[:i] + bytes([packed[i] ^ args[1]]) + packed[i + 1 :], length, "gzip", False
    if kind == "encoding":
        return body, length, args[0], args[0] != "identity"  # a plain body is no gzip or deflate
    raise AssertionError(kind)


_ONE_INT = {"model_name": "m", "outputs": [{"name": "a", "datatype": "INT32", "shape": [1], "data": [7]}]}
_EMPTY_FP32 = {"outputs": [{"name": "e", "datatype": "FP32", "shape": [0], "parameters": {"binary_data_size": 0}}]}
_ONE_BYTES = {"outputs": [{"name": "s", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 5}}]}


@_settings(400)
@given(valid_responses(), MUTATIONS)
@example((_ONE_INT, b""), ("edit", _at(_ONE_INT, "outputs", 0, "shape"), json.dumps([1] * 65)))
@example((_ONE_INT, b""), ("edit", _at(_ONE_INT, "outputs", 0, "shape"), json.dumps([0, 2**62, 2**62])))
@example((_EMPTY_FP32, b""), ("edit", _at(_EMPTY_FP32, "outputs", 0, "shape"), json.dumps([0, 2**62, 2**62])))
@example(
    (_ONE_BYTES, b"\x01\x00\x00\x00x"), ("edit", _at(_ONE_BYTES, "outputs", 0, "shape"), json.dumps([10**13]))
)  # 73 TiB of object pointers
@example((_ONE_INT, b""), ("edit", _at(_ONE_INT, "model_name"), _deep("[", "]", 1000)))
@example((_ONE_INT, b""), ("edit", _at(_ONE_INT, "error"), _deep("[", "]", 1000)))
@example((_ONE_INT, b""), ("edit", _at(_ONE_INT, "outputs", 0), _deep("[", "]", 1000)))
def test_mutated_responses_raise_only_protocol_errors(
    response: tuple[dict[str, Any], bytes], mutation: tuple[Any, ...]
) -> None:
    header, tail = response
    head = json.dumps(header).encode()
    assert isinstance(decode_response(head + tail, header_length=len(head) if tail else None), InferResponse)

    body, length, encoding, must_fail = mutate(header, tail, mutation)
    try:
        with plain_recursion_limit():
            result = decode_response(body, header_length=length, content_encoding=encoding)
    except TritonProtocolError as exc:
        assert str(exc)
        return
    # any other exception fails the test; an answer must be consistent with itself
    assert not must_fail, f"{mutation[0]} was decoded: {result}"
    assert isinstance(result, InferResponse)
    assert set(result.datatypes) == set(result.outputs)
    for name, array in result.outputs.items():
        assert array.dtype == numpy_dtype(result.datatypes[name]), name
        if array.dtype == object:
            assert all(type(v) is bytes for v in array.ravel().tolist()), name
