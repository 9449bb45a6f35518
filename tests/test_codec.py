"""Tests of the KServe v2 protocol layer: tensors, requests, responses (pure: no server).

Besides round trips, our output is cross-checked against NVIDIA's own
``tritonclient`` in both directions: its request builder must produce the same
JSON header and byte-identical binary sections, its response parser must read
bodies we build, and its BYTES (de)serializers must agree with ours.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from typing import Any

import numpy as np
import pytest
import tritonclient.http as tritonclient_http
import tritonclient.utils as tritonclient_utils

from pyflink_triton.errors import TritonProtocolError, TritonSchemaError
from pyflink_triton.protocol import (
    BF16,
    BYTES,
    DATATYPES,
    FP16,
    EncodedRequest,
    Tensor,
    config_datatype_to_triton,
    decode_bytes_tensor,
    decode_response,
    element_size,
    encode_bytes_tensor,
    encode_request,
    error_message,
    jsonio,
    numpy_dtype,
    triton_datatype,
)
from pyflink_triton.protocol.body import MAX_GZIP_MEMBERS, BodyDecoder

SHAPES = [(5, 1), (4, 3), (7,), (0, 3), (2, 3, 4)]
NUMERIC = [dt for dt in DATATYPES if dt != BYTES]


# ------------------------------------------------------------------ helpers


def bf16_exact(values: np.ndarray) -> np.ndarray:
    """float32 values whose low 16 bits are zero, so BF16 holds them exactly."""
    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4") & np.uint32(0xFFFF0000)
    return bits.view("<f4")


def sample(datatype: str, shape: tuple[int, ...], seed: int = 0, utf8_only: bool = False) -> np.ndarray:
    """Random data of a datatype: full integer ranges, signed floats, mixed str/bytes."""
    rng = np.random.default_rng(seed)
    if datatype == "BOOL":
        return rng.random(shape) > 0.5
    if datatype == BYTES:
        count = int(np.prod(shape))
        choices: list[Any] = ["", "a", "héllo", "日本語", "emoji 😀", b"", b"\x00raw\x00", "x" * 50]
        if not utf8_only:
            choices.append(b"\xff\xfe\x00bin")
        picks = [choices[i] for i in rng.integers(0, len(choices), count)]
        out = np.empty(count, dtype=object)
        out[:] = picks
        return out.reshape(shape)
    dtype = numpy_dtype(datatype)
    if datatype == BF16:
        return bf16_exact(rng.standard_normal(shape).astype(np.float32) * 100)
    if dtype.kind == "f":
        return (rng.standard_normal(shape) * 1000).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)


def expected(datatype: str, array: np.ndarray) -> np.ndarray:
    """What decoding must give back: BYTES elements as bytes."""
    if datatype != BYTES:
        return array
    out = np.empty(array.size, dtype=object)
    out[:] = [v.encode() if isinstance(v, str) else bytes(v) for v in array.ravel().tolist()]
    return out.reshape(array.shape)


def assert_same(actual: np.ndarray, wanted: np.ndarray, datatype: str) -> None:
    assert actual.shape == wanted.shape
    if datatype == BYTES:
        assert actual.dtype == object
        assert actual.ravel().tolist() == wanted.ravel().tolist()
        assert all(type(v) is bytes for v in actual.ravel().tolist())
    else:
        assert actual.dtype == numpy_dtype(datatype)
        np.testing.assert_array_equal(actual, wanted)


def split_request(req: EncodedRequest) -> tuple[dict[str, Any], bytes]:
    """Decompress a request as Triton does and split it into parsed header and binary tail."""
    body = req.body
    encoding = req.headers.get("Content-Encoding")
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    length = int(req.headers.get("Inference-Header-Content-Length", len(body)))
    return json.loads(body[:length]), body[length:]


def parse_request_like_triton(req: EncodedRequest) -> dict[str, np.ndarray]:
    """Read our request with tritonclient's own decoders, the way the server reads it."""
    header, tail = split_request(req)
    deserialize_bytes = tritonclient_utils.deserialize_bytes_tensor
    to_np = tritonclient_utils.triton_to_np_dtype
    out: dict[str, np.ndarray] = {}
    offset = 0
    for entry in header["inputs"]:
        datatype, shape = entry["datatype"], entry["shape"]
        size = entry.get("parameters", {}).get("binary_data_size")
        if size is None:
            data = entry["data"]
            array = np.array(
                [s.encode() for s in data] if datatype == BYTES else data,
                dtype=object if datatype == BYTES else to_np(datatype),
            )
        else:
            raw = tail[offset : offset + size]
            offset += size
            if datatype == BYTES:
                array = deserialize_bytes(raw) if size else np.empty(0, object)
            elif datatype == BF16:
                array = np.array(tritonclient_utils.deserialize_bf16_tensor(raw), np.float32)
            else:
                array = np.frombuffer(raw, dtype=to_np(datatype))
        out[entry["name"]] = array.reshape(shape)
    assert offset == len(tail)
    return out


def request_to_response(req: EncodedRequest) -> tuple[bytes, int | None]:
    """Turn a request into the response an identity model would send (binary tail kept as is)."""
    header, tail = split_request(req)
    response = {"model_name": "echo", "model_version": "1", "outputs": header["inputs"]}
    if "id" in header:
        response["id"] = header["id"]
    head = json.dumps(response).encode()
    return head + tail, (len(head) if tail or "Inference-Header-Content-Length" in req.headers else None)


def make_response(
    outputs: list[tuple[str, str, np.ndarray, bool]],
    *,
    model: str = "m",
    request_id: str | None = None,
) -> tuple[bytes, int | None]:
    """Build a response body in Triton's layout, with tritonclient's serializers.

    Each output is (name, datatype, array, binary). Returns the body and the
    Inference-Header-Content-Length (None for a pure JSON body).
    """
    entries = []
    chunks = []
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
            entry["data"] = [v.decode() if isinstance(v, bytes) else v for v in array.ravel().tolist()]
        else:
            entry["data"] = array.ravel().tolist()
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model, "model_version": "1", "outputs": entries}
    if request_id is not None:
        response["id"] = request_id
    head = json.dumps(response).encode()
    return head + b"".join(chunks), (len(head) if chunks else None)


# --------------------------------------------------------------- datatypes


def test_numpy_dtype_and_inverse() -> None:
    for datatype in DATATYPES:
        dtype = numpy_dtype(datatype)
        assert dtype.byteorder in ("<", "|", "=")
        if datatype == BF16:
            assert dtype == np.float32
            assert triton_datatype(dtype) == "FP32"  # BF16 is only chosen explicitly
        else:
            assert triton_datatype(dtype) == datatype
        assert numpy_dtype(datatype) == np.dtype(tritonclient_utils.triton_to_np_dtype(datatype))


def test_triton_datatype_special_cases() -> None:
    assert triton_datatype(np.dtype("U5")) == BYTES
    assert triton_datatype(np.dtype("S5")) == BYTES
    assert triton_datatype(np.dtype(object)) == BYTES
    assert triton_datatype(np.dtype(">f4")) == "FP32"
    assert triton_datatype(np.bool_) == "BOOL"
    for bad in (np.complex64, "datetime64[ns]", "timedelta64[s]", np.dtype([("a", "i4")])):
        with pytest.raises(TritonSchemaError, match="Triton datatype"):
            triton_datatype(bad)
    with pytest.raises(TritonSchemaError):
        numpy_dtype("FLOAT32")
    with pytest.raises(TritonSchemaError):
        numpy_dtype("fp32")


def test_config_datatype_to_triton() -> None:
    assert config_datatype_to_triton("TYPE_FP32") == "FP32"
    assert config_datatype_to_triton("TYPE_STRING") == BYTES
    assert config_datatype_to_triton("TYPE_BOOL") == "BOOL"
    assert config_datatype_to_triton("TYPE_BF16") == BF16
    assert config_datatype_to_triton("TYPE_UINT64") == "UINT64"
    assert config_datatype_to_triton("INT8") == "INT8"
    for bad in ("TYPE_INVALID", "TYPE_FLOAT", "STRING"):
        with pytest.raises(TritonSchemaError):
            config_datatype_to_triton(bad)


def test_element_size() -> None:
    assert element_size(BYTES) is None
    assert element_size(BF16) == 2
    assert element_size("BOOL") == 1
    assert element_size("FP64") == 8
    assert element_size("UINT16") == 2
    with pytest.raises(TritonSchemaError):
        element_size("X")


# ------------------------------------------------------------------ tensors


def test_from_array_infers_and_converts() -> None:
    t = Tensor.from_array("a", np.zeros((2, 3), np.float32))
    assert (t.datatype, t.shape) == ("FP32", (2, 3))
    assert Tensor.from_array("a", [1, 2, 3]).datatype == "INT64"
    assert Tensor.from_array("a", [1.5]).datatype == "FP64"
    half = Tensor.from_array("a", np.array([1.5, 2.25], np.float32), "FP16")
    assert half.data.dtype == np.float16
    assert Tensor.from_array("a", [1, 2], "INT8").data.dtype == np.int8
    assert Tensor.from_array("a", [0, 1], "BOOL").data.tolist() == [False, True]
    assert Tensor.from_array("a", np.array([3.0, -4.0]), "INT32").data.tolist() == [3, -4]
    assert Tensor.from_array("a", np.array([1, 2], object), "FP32").data.dtype == np.float32
    big = Tensor.from_array("a", np.arange(3, dtype=">i4"))
    assert big.data.dtype == np.dtype("<i4") and big.data.tolist() == [0, 1, 2]
    bf = Tensor.from_array("a", np.array([1.0, 2.0]), BF16)
    assert bf.data.dtype == np.float32


def test_from_array_bytes_keeps_elements() -> None:
    t = Tensor.from_array("s", ["a", "bc"])
    assert t.datatype == BYTES and t.data.dtype == object
    nul = Tensor.from_array("s", [b"a\x00", b"\x00"])
    assert nul.data.tolist() == [b"a\x00", b"\x00"]  # an "S" array would strip the NULs
    assert Tensor.from_array("s", np.array(["x", "y"]), BYTES).datatype == BYTES


@pytest.mark.parametrize(
    ("data", "datatype"),
    [
        (["1.5", "2"], "FP32"),
        (np.array(["1"], object), "INT32"),
        ([300], "UINT8"),
        ([-1], "UINT32"),
        ([1.5], "INT32"),
        ([float("nan")], "INT64"),
        ([2], "BOOL"),
        (np.array([1.0, None], object), "FP32"),
        (np.array([1 + 2j]), "FP32"),
        ([1, 2], BYTES),
        ([1], "FLOAT"),
    ],
)
def test_from_array_refuses_lossy_conversion(data: Any, datatype: str) -> None:
    with pytest.raises(TritonSchemaError):
        Tensor.from_array("t", data, datatype)


def test_tensor_validation() -> None:
    with pytest.raises(TritonSchemaError):
        Tensor("", "FP32", np.zeros(1, np.float32))
    with pytest.raises(TritonSchemaError):
        Tensor("x", "FP128", np.zeros(1, np.float32))
    with pytest.raises(TritonSchemaError):
        Tensor("x", "FP32", [1.0])  # type: ignore[arg-type]
    with pytest.raises(TritonSchemaError):
        Tensor.from_array("x", np.array([1 + 1j]))
    with pytest.raises(TritonSchemaError):
        Tensor.from_array("x", [[1, 2], [3]])


# --------------------------------------------------------------- round trip


@pytest.mark.parametrize("datatype", DATATYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_round_trip(datatype: str, shape: tuple[int, ...], binary: bool) -> None:
    array = sample(datatype, shape, seed=len(shape))
    tensor = Tensor.from_array("In_Put", array, datatype)
    req = encode_request([tensor], binary=binary, request_id="r-1")
    body, length = request_to_response(req)
    response = decode_response(body, header_length=length)
    assert list(response.outputs) == ["In_Put"]
    assert_same(response.outputs["In_Put"], expected(datatype, array), datatype)
    assert (response.model_name, response.model_version, response.id) == ("echo", "1", "r-1")


@pytest.mark.parametrize("compression", [None, "gzip", "deflate"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_round_trip_all_types_together(compression: str | None, binary: bool) -> None:
    arrays = {f"T_{dt}": (dt, sample(dt, (6, 2), seed=i)) for i, dt in enumerate(DATATYPES)}
    tensors = [Tensor.from_array(name, array, dt) for name, (dt, array) in arrays.items()]
    req = encode_request(tensors, binary=binary, compression=compression)
    if compression:
        assert req.headers["Content-Encoding"] == compression
    body, length = request_to_response(req)
    response = decode_response(body, header_length=length)
    assert list(response.outputs) == list(arrays)
    for name, (dt, array) in arrays.items():
        assert_same(response.outputs[name], expected(dt, array), dt)
    # the same body, compressed the way a server would, decodes the same
    for encoding, packed in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        again = decode_response(packed, header_length=length, content_encoding=encoding)
        for name, (dt, array) in arrays.items():
            assert_same(again.outputs[name], expected(dt, array), dt)


def test_non_contiguous_and_big_endian_inputs() -> None:
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    for array in (base.T, base[:, ::2], base.astype(">f4")):
        req = encode_request([Tensor("x", "FP32", array)])
        got = parse_request_like_triton(req)["x"]
        np.testing.assert_array_equal(got, array)
    strided = np.array(["a", "bb", "ccc", "dddd"], dtype=object).reshape(2, 2).T
    got = parse_request_like_triton(encode_request([Tensor("s", BYTES, strided)]))["s"]
    assert got.tolist() == [[b"a", b"ccc"], [b"bb", b"dddd"]]


def test_numeric_outputs_are_zero_copy_read_only() -> None:
    body, length = make_response([("y", "FP32", np.arange(4, dtype=np.float32), True)])
    out = decode_response(body, header_length=length).outputs["y"]
    assert not out.flags.writeable
    assert out.base is not None  # a view, not a copy
    out.copy()[0] = 1  # a copy is writable


# --------------------------------------------------------------- request


def test_binary_request_layout() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    req = encode_request([Tensor.from_array("X", x)], parameters={"priority": 2})
    header, tail = split_request(req)
    assert req.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Length" not in req.headers
    assert int(req.headers["Inference-Header-Content-Length"]) == len(req.body) - x.nbytes
    assert header == {
        "parameters": {"binary_data_output": True, "priority": 2},
        "inputs": [{"name": "X", "shape": [2, 3], "datatype": "FP32", "parameters": {"binary_data_size": 24}}],
    }
    assert tail == x.tobytes()
    assert b" " not in req.body[: int(req.headers["Inference-Header-Content-Length"])]


def test_requested_outputs_and_parameters() -> None:
    t = Tensor.from_array("x", [1])
    header, _ = split_request(encode_request([t], outputs=["Out_A", "out_b"], request_id="7"))
    assert header["id"] == "7"
    assert "parameters" not in header
    assert header["outputs"] == [
        {"name": "Out_A", "parameters": {"binary_data": True}},
        {"name": "out_b", "parameters": {"binary_data": True}},
    ]
    header, _ = split_request(encode_request([t], outputs=["y"], binary=False))
    assert header["outputs"] == [{"name": "y", "parameters": {"binary_data": False}}]
    header, _ = split_request(encode_request([t], binary=False, parameters={"sequence_id": 3}))
    assert header["parameters"] == {"sequence_id": 3}
    assert "outputs" not in header
    header, _ = split_request(encode_request([t], parameters={"binary_data_output": False, "k": np.int64(3)}))
    assert header["parameters"] == {"binary_data_output": False, "k": 3}  # the caller wins
    with pytest.raises(TritonSchemaError):
        encode_request([t], outputs=["y", "y"])
    with pytest.raises(TritonSchemaError):
        encode_request([t, t])
    with pytest.raises(TritonSchemaError):
        encode_request([t], parameters={"bad": object()})


def test_json_request_is_pure_json() -> None:
    req = encode_request(
        [Tensor.from_array("a", [[1, 2]], "INT32"), Tensor.from_array("s", ["é", b"b"])],
        binary=False,
    )
    assert req.headers == {"Content-Type": "application/json"}
    body = json.loads(req.body)
    assert body["inputs"][0]["data"] == [1, 2]
    assert body["inputs"][1]["data"] == ["é", "b"]
    assert "é".encode() in req.body  # UTF-8, not \u escapes


def test_json_mode_falls_back_to_binary_per_tensor() -> None:
    tensors = [
        Tensor.from_array("half", np.ones(2, np.float16)),
        Tensor.from_array("bf", np.ones(2, np.float32), BF16),
        Tensor.from_array("raw", np.array([b"\xff\x00", b"ok"], dtype=object)),
        Tensor.from_array("nan", np.array([1.0, np.nan], np.float32)),
        Tensor.from_array("plain", np.array([1.0, 2.0], np.float32)),
        Tensor.from_array("text", ["ok"]),
    ]
    req = encode_request(tensors, binary=False)
    header, _tail = split_request(req)
    assert req.headers["Content-Type"] == "application/octet-stream"
    kinds = {e["name"]: ("data" if "data" in e else "binary") for e in header["inputs"]}
    assert kinds == {
        "half": "binary",
        "bf": "binary",
        "raw": "binary",
        "nan": "binary",
        "plain": "data",
        "text": "data",
    }
    parsed = parse_request_like_triton(req)
    assert parsed["raw"].tolist() == [b"\xff\x00", b"ok"]
    assert np.isnan(parsed["nan"][1])
    body, length = request_to_response(req)
    out = decode_response(body, header_length=length).outputs
    assert out["half"].dtype == np.float16 and out["bf"].tolist() == [1.0, 1.0]


def test_header_length_counts_uncompressed_header() -> None:
    x = np.zeros(1000, np.float32)
    plain = encode_request([Tensor.from_array("x", x)])
    for compression in ("gzip", "deflate", "GZIP"):
        req = encode_request([Tensor.from_array("x", x)], compression=compression, compression_level=6)
        assert req.headers["Inference-Header-Content-Length"] == plain.headers["Inference-Header-Content-Length"]
        assert req.headers["Content-Encoding"] == compression.lower()
        assert len(req.body) < len(plain.body)
        unpacked = gzip.decompress(req.body) if compression.lower() == "gzip" else zlib.decompress(req.body)
        assert unpacked == plain.body
    # equal requests give equal bodies (no timestamp in the gzip header)
    assert (
        encode_request([Tensor.from_array("x", x)], compression="gzip").body
        == encode_request([Tensor.from_array("x", x)], compression="gzip").body
    )


@pytest.mark.parametrize("bad", ["br", "zstd", "", "identity"])
def test_unsupported_compression(bad: str) -> None:
    with pytest.raises(ValueError, match="compression"):
        encode_request([Tensor.from_array("x", [1])], compression=bad)
    with pytest.raises(ValueError):
        encode_request([Tensor.from_array("x", [1])], compression="gzip", compression_level=12)


def test_bytes_input_errors() -> None:
    with pytest.raises(TritonSchemaError, match="'names'.*None"):
        encode_request([Tensor("names", BYTES, np.array(["a", None], dtype=object))])
    with pytest.raises(TritonSchemaError, match=r"'names'.*\(1, 0\).*None"):
        encode_request([Tensor("names", BYTES, np.array([["a"], [None]], dtype=object))], binary=False)
    with pytest.raises(TritonSchemaError, match="int"):
        encode_request([Tensor("names", BYTES, np.array(["a", 3], dtype=object))])
    with pytest.raises(TritonSchemaError, match="UTF-8"):
        encode_request([Tensor("names", BYTES, np.array(["\udc80"], dtype=object))])
    with pytest.raises(TritonSchemaError, match="UTF-8"):
        encode_request([Tensor("names", BYTES, np.array(["ok", "\udc80"], dtype=object))], binary=False)
    with pytest.raises(TritonSchemaError):
        encode_bytes_tensor(np.array([1, 2]))


# -------------------------------------------------- cross-checks: requests


def tritonclient_request(
    tensors: list[Tensor], binary: bool, outputs: list[str] | None
) -> tuple[dict[str, Any], bytes]:
    http = tritonclient_http
    tc_inputs = []
    for t in tensors:
        tc_input = http.InferInput(t.name, list(t.shape), t.datatype)
        # tritonclient cannot send BF16 as JSON; we send FP16 as binary too
        tc_input.set_data_from_numpy(t.data, binary_data=binary or t.datatype in (FP16, BF16))
        tc_inputs.append(tc_input)
    tc_outputs = [http.InferRequestedOutput(n, binary_data=binary) for n in outputs] if outputs else None
    body, json_size = http.InferenceServerClient.generate_request_body(tc_inputs, outputs=tc_outputs, request_id="tc")
    if json_size is None:
        json_size = len(body)
    header = json.loads(body[:json_size])
    header.pop("id")
    return header, body[json_size:]


@pytest.mark.parametrize("datatype", DATATYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_request_matches_tritonclient(datatype: str, shape: tuple[int, ...], binary: bool) -> None:
    array = sample(datatype, shape, seed=3, utf8_only=True)
    tensors = [Tensor.from_array("Input_0", array, datatype), Tensor.from_array("aux", [[1, 2]], "INT32")]
    outputs = None if binary else ["Out", "out_2"]
    ours = encode_request(tensors, binary=binary, outputs=outputs)
    our_header, our_tail = split_request(ours)
    tc_header, tc_tail = tritonclient_request(tensors, binary, outputs)
    assert our_header == tc_header
    assert our_tail == tc_tail
    if our_tail:
        assert int(ours.headers["Inference-Header-Content-Length"]) == len(ours.body) - len(our_tail)


def test_request_with_outputs_matches_tritonclient() -> None:
    tensors = [Tensor.from_array("x", np.ones((3, 2), np.float64))]
    ours = split_request(encode_request(tensors, outputs=["probs", "Labels"]))
    assert ours == tritonclient_request(tensors, True, ["probs", "Labels"])


def test_tritonclient_reads_our_request() -> None:
    arrays = {dt: sample(dt, (3, 2), seed=9) for dt in DATATYPES}
    req = encode_request([Tensor.from_array(dt.lower(), a, dt) for dt, a in arrays.items()])
    parsed = parse_request_like_triton(req)
    for dt, array in arrays.items():
        got = parsed[dt.lower()]
        if dt == BYTES:
            assert got.tolist() == expected(dt, array).tolist()
        else:
            np.testing.assert_array_equal(got, array)


# ------------------------------------------------- cross-checks: responses


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("encoding", [None, "gzip", "deflate"])
def test_response_matches_tritonclient(binary: bool, encoding: str | None) -> None:
    specs = []
    for i, dt in enumerate(DATATYPES):
        for j, shape in enumerate(SHAPES):
            if not binary and dt in (FP16, BF16):
                continue  # Triton never sends these as JSON
            array = sample(dt, shape, seed=10 * i + j, utf8_only=not binary)
            specs.append((f"{dt}_{j}", dt, array, binary))
    body, length = make_response(specs, request_id="abc")
    if encoding == "gzip":
        body = gzip.compress(body)
    elif encoding == "deflate":
        body = zlib.compress(body)
    ours = decode_response(body, header_length=length, content_encoding=encoding)
    theirs = tritonclient_http.InferResult.from_response_body(body, header_length=length, content_encoding=encoding)
    assert ours.id == "abc" and ours.model_name == "m"
    assert list(ours.outputs) == [s[0] for s in specs]
    for name, dt, array, _ in specs:
        got = ours.outputs[name]
        assert_same(got, expected(dt, array), dt)
        tc = theirs.as_numpy(name)
        assert tc.shape == got.shape
        if got.size == 0:
            continue  # tritonclient returns float64 for every empty binary output
        if dt == BYTES:
            assert [v if isinstance(v, bytes) else v.encode() for v in tc.ravel().tolist()] == got.ravel().tolist()
        else:
            assert tc.dtype == got.dtype
            np.testing.assert_array_equal(tc, got)


def test_mixed_binary_and_json_outputs() -> None:
    specs = [
        ("a", "FP32", np.arange(4, dtype=np.float32).reshape(2, 2), True),
        ("b", "INT64", np.array([[1], [2]]), False),
        ("c", BYTES, np.array(["x", "yy"], dtype=object), True),
        ("d", BYTES, np.array(["é", ""], dtype=object), False),
        ("e", "BOOL", np.array([True, False]), True),
    ]
    body, length = make_response(specs)
    out = decode_response(body, header_length=length).outputs
    assert out["a"].tolist() == [[0, 1], [2, 3]]
    assert out["b"].dtype == np.int64 and out["b"].shape == (2, 1)
    assert out["c"].tolist() == [b"x", b"yy"]
    assert out["d"].tolist() == ["é".encode(), b""]
    assert out["e"].dtype == np.bool_


def test_pure_json_response_without_header_length() -> None:
    body = json.dumps(
        {
            "model_name": "m",
            "model_version": "2",
            "parameters": {"sequence_id": 4},
            "outputs": [{"name": "OUT", "datatype": "FP64", "shape": [2], "data": [0.5, 1e300]}],
        }
    ).encode()
    r = decode_response(body)
    assert r.outputs["OUT"].tolist() == [0.5, 1e300]
    assert (r.model_version, r.id, r.parameters) == ("2", None, {"sequence_id": 4})


def test_json_response_with_nan_and_infinity_literals() -> None:
    # orjson refuses these literals; the header must still decode, with and without a binary tail
    head = (
        b'{"model_name":"m","parameters":{"score":NaN},"outputs":['
        b'{"name":"f","datatype":"FP32","shape":[4],"data":[NaN,Infinity,-Infinity,1.5]},'
        b'{"name":"d","datatype":"FP64","shape":[1],"data":[-Infinity]},'
        b'{"name":"b","datatype":"INT8","shape":[2],"parameters":{"binary_data_size":2}}]}'
    )
    r = decode_response(head + b"\x01\xff", header_length=len(head))
    f = r.outputs["f"]
    assert f.dtype == np.float32 and np.isnan(f[0]) and f[1:].tolist() == [np.inf, -np.inf, 1.5]
    assert r.outputs["d"].tolist() == [-np.inf]
    assert r.outputs["b"].tolist() == [1, -1]
    assert np.isnan(r.parameters["score"])
    with pytest.raises(TritonProtocolError, match="not valid JSON"):
        decode_response(b'{"outputs": [NaN')


def test_jsonio() -> None:
    out = jsonio.dumps({"n": np.float32(1.5), "a": np.arange(3, dtype=np.int16), "é": "ü", "x": float("nan")})
    assert out == '{"n":1.5,"a":[0,1,2],"é":"ü","x":null}'.encode()  # compact UTF-8; NaN has no JSON
    with pytest.raises(TypeError):
        jsonio.dumps({"bad": object()})
    values = jsonio.loads(b"[NaN, Infinity, -Infinity, 1]")
    assert np.isnan(values[0]) and values[1:] == [float("inf"), float("-inf"), 1]
    assert jsonio.loads(b'{"k": [1, "\xc3\xa9"]}') == {"k": [1, "é"]}
    with pytest.raises(ValueError):
        jsonio.loads(b"{broken")


def test_bf16_response_and_rounding() -> None:
    bits = np.array([0x3F80, 0xBF80, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x8000], "<u2")
    _body, _length = make_response([])
    header = {
        "model_name": "m",
        "outputs": [{"name": "b", "datatype": BF16, "shape": [7], "parameters": {"binary_data_size": 14}}],
    }
    head = json.dumps(header).encode()
    out = decode_response(head + bits.tobytes(), header_length=len(head)).outputs["b"]
    assert out.dtype == np.float32
    assert out[:4].tolist() == [1.0, -1.0, float("inf"), float("-inf")]
    assert np.isnan(out[4])
    assert out[5] == np.float32(2.0**-133) and np.signbit(out[6])
    assert (out.view("<u4") >> 16).astype("<u2").tolist() == bits.tolist()


def reference_bf16(value: float) -> int:
    """Round-to-nearest-even of the upper 16 bits, one value at a time."""
    (u,) = struct.unpack("<I", struct.pack("<f", value))
    if (u & 0x7FFFFFFF) > 0x7F800000:
        return (u >> 16) | 0x40
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def test_bf16_encoding_rounds_to_nearest_even() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate(
        [
            rng.standard_normal(2000).astype(np.float32),
            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3.4028235e38, 1e-45], np.float32),
            # exact ties: even stays, odd rounds up
            np.array([0x3F808000, 0x3F818000, 0x3F807FFF, 0x7F800001, 0xFF800001], "<u4").view("<f4"),
        ]
    )
    req = encode_request([Tensor("b", BF16, values)])
    _, tail = split_request(req)
    got = np.frombuffer(tail, "<u2")
    assert got.tolist() == [reference_bf16(float(v)) for v in values]
    assert got[-4:].tolist() == [0x3F82, 0x3F80, 0x7FC0, 0xFFC0]  # tie up, below tie, NaNs kept
    assert got[2005] == 0x7F80  # float32 max rounds to infinity
    # BF16-exact values encode like tritonclient (which truncates)
    exact = bf16_exact(values[:2000])
    tc = tritonclient_utils.serialize_bf16_tensor(exact).item()
    assert split_request(encode_request([Tensor("b", BF16, exact)]))[1] == tc


# ------------------------------------------------------ BYTES cross-checks


def random_strings(kind: str, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    alphabets = {"ascii": "abcdefghijklmnopqrstuvwxyz0123456789 ", "utf8": "aé日€😀\u0000z"}
    out = np.empty(count, dtype=object)
    values: list[Any] = []
    for _ in range(count):
        length = int(rng.integers(0, 30))
        if kind == "binary":
            values.append(rng.integers(0, 256, length, dtype=np.uint8).tobytes())
        elif kind == "empty":
            values.append("")
        elif kind == "fixed":
            values.append(rng.integers(0, 256, 7, dtype=np.uint8).tobytes())
        elif kind == "mixed":
            values.append("é" * length if length % 2 else bytes(length))
        else:
            alphabet = alphabets[kind]
            values.append("".join(alphabet[i] for i in rng.integers(0, len(alphabet), length)))
    out[:] = values
    return out


@pytest.mark.parametrize("kind", ["ascii", "utf8", "binary", "empty", "fixed", "mixed"])
@pytest.mark.parametrize("count", [1, 2, 257])
def test_bytes_tensor_matches_tritonclient(kind: str, count: int) -> None:
    array = random_strings(kind, count, seed=count)
    ours = encode_bytes_tensor(array)
    theirs = tritonclient_utils.serialize_byte_tensor(array).item()
    assert ours == theirs
    decoded = decode_bytes_tensor(ours, count)
    assert decoded.dtype == object and decoded.shape == (count,)
    assert decoded.tolist() == tritonclient_utils.deserialize_bytes_tensor(theirs).tolist()
    assert decode_bytes_tensor(memoryview(ours), count).tolist() == decoded.tolist()
    assert decode_bytes_tensor(bytearray(ours), count).tolist() == decoded.tolist()


def test_bytes_tensor_shapes_and_numpy_string_arrays() -> None:
    grid = np.array([["a", "bb"], ["", "dddd"]], dtype=object)
    assert encode_bytes_tensor(grid) == tritonclient_utils.serialize_byte_tensor(grid).item()
    assert encode_bytes_tensor(np.array(["x", "yé"])) == b"\x01\x00\x00\x00x\x03\x00\x00\x00y\xc3\xa9"
    assert encode_bytes_tensor(np.array([b"ab", b"c"])) == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"
    assert encode_bytes_tensor(np.empty((0, 3), dtype=object)) == b""
    assert decode_bytes_tensor(b"", 0).shape == (0,)
    mixed = np.array(["é", b"\x00", bytearray(b"z"), np.bytes_(b"q"), np.str_("w")], dtype=object)
    assert decode_bytes_tensor(encode_bytes_tensor(mixed), 5).tolist() == [
        "é".encode(),
        b"\x00",
        b"z",
        b"q",
        b"w",
    ]


@pytest.mark.parametrize(
    ("buf", "count"),
    [
        (b"\x05\x00\x00\x00abc", 1),  # element cut short
        (b"\x01\x00\x00", 1),  # prefix cut short
        (b"\x01\x00\x00\x00a", 2),  # second element missing
        (b"\x01\x00\x00\x00ab", 1),  # one byte left over
        (b"\x01\x00\x00\x00a\x01\x00\x00\x00b", 1),  # one element left over
        (b"\x00\x00\x00\x00", 0),
        (b"\xff\xff\xff\xff" + b"x" * 10, 1),
    ],
)
def test_decode_bytes_tensor_errors(buf: bytes, count: int) -> None:
    with pytest.raises(TritonProtocolError):
        decode_bytes_tensor(buf, count)


# ------------------------------------------------------ response errors


def binary_response(outputs: list[dict[str, Any]], tail: bytes) -> tuple[bytes, int]:
    head = json.dumps({"model_name": "m", "model_version": "1", "outputs": outputs}).encode()
    return head + tail, len(head)


def fp32_output(count: int, size: int | None = None) -> dict[str, Any]:
    return {
        "name": "y",
        "datatype": "FP32",
        "shape": [count],
        "parameters": {"binary_data_size": 4 * count if size is None else size},
    }


@pytest.mark.parametrize(
    ("case", "match"),
    [
        (lambda: binary_response([fp32_output(4)], b"\x00" * 12), "truncated"),
        (lambda: binary_response([fp32_output(4)], b"\x00" * 17), "left"),
        (lambda: binary_response([fp32_output(4, size=12)], b"\x00" * 12), "does not match"),
        (lambda: binary_response([{**fp32_output(1), "datatype": "FP8"}], b"\x00" * 4), "datatype"),
        (lambda: binary_response([{**fp32_output(1), "shape": [-1]}], b"\x00" * 4), "shape"),
        (lambda: binary_response([{**fp32_output(1), "shape": "1"}], b"\x00" * 4), "shape"),
        (lambda: binary_response([{"datatype": "FP32", "shape": [1], "data": [1]}], b""), "name"),
        (lambda: binary_response([{"name": "y", "datatype": "FP32", "shape": [1]}], b""), "neither"),
        (
            lambda: binary_response([{"name": "y", "datatype": "FP32", "shape": [3], "data": [1, 2]}], b""),
            "2 data elements",
        ),
        (
            lambda: binary_response([{"name": "y", "datatype": "INT32", "shape": [1], "data": ["x"]}], b""),
            "does not match",
        ),
        (
            lambda: binary_response([{"name": "y", "datatype": BYTES, "shape": [1], "data": [1]}], b""),
            "does not match",
        ),
        (lambda: binary_response([fp32_output(1), fp32_output(1)], b"\x00" * 8), "twice"),
        (
            lambda: binary_response(
                [{"name": "s", "datatype": BYTES, "shape": [2], "parameters": {"binary_data_size": 9}}],
                b"\x01\x00\x00\x00a\x05\x00\x00\x00",
            ),
            "truncated",
        ),
        (
            lambda: binary_response(
                [{"name": "s", "datatype": BYTES, "shape": [1], "parameters": {"binary_data_size": 6}}],
                b"\x01\x00\x00\x00ab",
            ),
            "left after",
        ),
        (lambda: binary_response([fp32_output(1, size=-4)], b""), "binary_data_size"),
        (lambda: (b'{"model_name": "m", "outputs": [', None), "not valid JSON"),
        (lambda: (b"[1, 2]", None), "not a JSON object"),
        (lambda: (b'{"model_name": "m"}', None), "no outputs"),
        (lambda: (b'{"error": "model exploded"}', None), "model exploded"),
        (lambda: (b'{"outputs": []}\xff', 15), "left"),
        (lambda: (b'{"outputs": []}', 99), "header length"),
    ],
)
def test_decode_response_errors(case: Any, match: str) -> None:
    body, length = case()
    with pytest.raises(TritonProtocolError, match=match):
        decode_response(body, header_length=length)


def test_decode_response_missing_binary_section() -> None:
    body, _ = binary_response([fp32_output(2)], b"")
    with pytest.raises(TritonProtocolError, match="truncated"):
        decode_response(body)  # header length forgotten: the binary data is "missing"


def test_decode_response_error_messages_stay_short() -> None:
    junk = b"not json " * 10_000
    with pytest.raises(TritonProtocolError) as info:
        decode_response(junk)
    assert len(str(info.value)) < 400


def test_decode_response_bad_compression() -> None:
    with pytest.raises(TritonProtocolError, match="decompress"):
        decode_response(b"plain text", content_encoding="gzip")
    with pytest.raises(TritonProtocolError, match="Content-Encoding"):
        decode_response(b"{}", content_encoding="br")
    body, length = make_response([("y", "INT8", np.arange(3, dtype=np.int8), True)])
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    packed = raw_deflate.compress(body) + raw_deflate.flush()
    out = decode_response(packed, header_length=length, content_encoding="deflate").outputs["y"]
    assert out.tolist() == [0, 1, 2]


def test_empty_outputs_and_zero_size_binary() -> None:
    body, length = make_response(
        [("e", "FP32", np.zeros((0, 4), np.float32), True), ("s", BYTES, np.empty((0,), object), True)]
    )
    out = decode_response(body, header_length=length).outputs
    assert out["e"].shape == (0, 4) and out["e"].dtype == np.float32
    assert out["s"].shape == (0,) and out["s"].dtype == object
    assert decode_response(b'{"model_name":"m","outputs":[]}').outputs == {}


# ---------------------------------------------------------- error_message


def test_error_message() -> None:
    assert error_message(b'{"error":"unknown model: \'x\'"}', "application/json") == "unknown model: 'x'"
    assert error_message(b'  {"error": "no content type"}', None) == "no content type"
    assert error_message(b"", "text/plain") == ""
    long = error_message(b"<html>" + b"x" * 5000 + b"</html>", "text/html")
    assert long.startswith("<html>xxx") and 400 <= len(long) <= 510
    assert error_message(b'{"other": 1}', "application/json") == '{"other": 1}'
    assert error_message(b"\xff\xfe oops", None).endswith("oops")
    assert error_message(b'{"error": broken', "application/json") == '{"error": broken'


# ------------------------------------------------- JSON data that numpy would change


def json_output(datatype: str, data: list[Any], shape: list[int] | None = None) -> bytes:
    entry = {"name": "y", "datatype": datatype, "shape": shape or [len(data)], "data": data}
    return json.dumps({"model_name": "m", "outputs": [entry]}).encode()


@pytest.mark.parametrize(
    ("datatype", "data", "bad"),
    [
        ("INT64", [1, 2.5, 3], "2.5"),  # numpy would truncate to 2
        ("INT32", [-0.5], "-0.5"),
        ("UINT8", [1, 300], "300"),  # numpy would wrap to 44
        ("UINT8", [-1], "-1"),
        ("INT8", [128], "128"),
        ("INT64", [2**63], str(2**63)),
        ("UINT32", [1e10], "10000000000.0"),
        ("INT32", ["12"], "'12'"),  # numpy would read the string as 12
        ("INT16", [True], "True"),
        ("INT64", [1, None], "None"),
        ("BOOL", [2], "2"),  # numpy would make it True
        ("BOOL", ["false"], "'false'"),  # ... and this too
        ("FP32", [1.0, 1e300], "1e+300"),  # numpy would make it infinite
        ("FP16", [[1.0], [70000.0]], "70000.0"),
    ],
)
def test_json_integer_and_bool_outputs_are_exact_or_refused(datatype: str, data: list[Any], bad: str) -> None:
    with pytest.raises(TritonProtocolError, match=rf"output 'y': data does not match {datatype}: ") as info:
        decode_response(json_output(datatype, data))
    assert f": {bad} is not" in str(info.value)


@pytest.mark.parametrize(
    ("datatype", "data", "expected"),
    [
        ("INT64", [1, -2, 3.0], [1, -2, 3]),  # an integral float is that integer
        ("UINT64", [2**64 - 1, 5, 0], [2**64 - 1, 5, 0]),  # numpy alone would round these to float64
        ("UINT64", [2**63 + 1, 1.0], [2**63 + 1, 1]),
        ("INT8", [-128, 127], [-128, 127]),
        ("BOOL", [True, False, 1, 0], [True, False, True, False]),
        ("INT32", [], []),
    ],
)
def test_json_integer_and_bool_outputs_that_are_exact(datatype: str, data: list[Any], expected: list[Any]) -> None:
    out = decode_response(json_output(datatype, data)).outputs["y"]
    assert out.dtype == numpy_dtype(datatype) and out.tolist() == expected


def test_json_integer_outputs_keep_nested_shapes() -> None:
    out = decode_response(json_output("UINT64", [[2**64 - 1, 1], [2.0, 3]], [2, 2])).outputs["y"]
    assert out.tolist() == [[2**64 - 1, 1], [2, 3]] and out.dtype == np.uint64


def test_response_datatypes_are_reported() -> None:
    body, length = make_response([("a", BF16, np.ones(2, np.float32), True), ("b", "INT8", np.ones(2, np.int8), False)])
    assert decode_response(body, header_length=length).datatypes == {"a": BF16, "b": "INT8"}


def test_deeply_nested_header_is_a_protocol_error() -> None:
    with pytest.raises(TritonProtocolError, match="not valid JSON"):
        decode_response(b"[" * 100_000)
    assert error_message(b"[" * 100_000, "application/json").startswith("[[[")


def test_error_message_redacts_before_shortening() -> None:
    secret = "tok-S3CRET-value"
    text = ("x" * 495 + secret).encode()
    message = error_message(text, "text/plain", redact=lambda t: t.replace(secret, "<redacted>"))
    assert "tok-" not in message and message.endswith("...")


# ---------------------------------------------------------- bodies under a limit


def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed without holding them in memory."""
    packer, zeros = zlib.compressobj(9, zlib.DEFLATED, 31), bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(size >> 20)]
    return b"".join(parts) + packer.compress(bytes(size & ((1 << 20) - 1))) + packer.flush()


def test_body_decoder_passes_a_body_of_exactly_the_limit() -> None:
    data = bytes(range(256)) * 40
    for encoding, wire in ((None, data), ("gzip", gzip.compress(data)), ("deflate", zlib.compress(data))):
        decoder = BodyDecoder(encoding, len(data))
        for i in range(0, len(wire), 7):
            assert decoder.feed(wire[i : i + 7])
        assert decoder.result() == data
        over = BodyDecoder(encoding, len(data) - 1)
        assert not over.feed(wire) and over.over
        assert over.result(partial=True) == data[:-1]


def test_body_decoder_bounds_a_gzip_bomb_while_inflating() -> None:
    bomb = gzip_bomb(256 * 1024 * 1024)  # 256 MiB of zeros in about 256 KiB
    decoder = BodyDecoder("gzip", 1024 * 1024)
    fed = 0
    for i in range(0, len(bomb), 65536):
        fed += 1
        if not decoder.feed(bomb[i : i + 65536]):
            break
    assert decoder.over and fed == 1 and decoder.size == 1024 * 1024 + 1


def test_body_decoder_counts_compressed_bytes_too() -> None:
    empty_members = gzip.compress(b"") * 10  # inflates to nothing, still bytes read
    decoder = BodyDecoder("gzip", 50)
    assert not decoder.feed(empty_members) and decoder.over


@pytest.mark.parametrize(
    ("encoding", "wire", "match"),
    [
        ("gzip", b"not gzip at all", "incorrect header check"),
        ("gzip", gzip.compress(b"{}" * 100)[:-9], "truncated"),
        ("gzip", gzip.compress(b"{}") + b"trailing junk", "incorrect header check"),
        ("gzip", gzip.compress(b"{}") * (MAX_GZIP_MEMBERS + 1), "after the end of the stream"),
        ("deflate", zlib.compress(b"{}") + b"x", "after the end of the stream"),
        ("deflate", b"x", "truncated"),
        ("br", b"", "unsupported response Content-Encoding 'br'"),
    ],
)
def test_body_decoder_refuses_what_it_cannot_decode(encoding: str, wire: bytes, match: str) -> None:
    with pytest.raises(TritonProtocolError, match=match):
        decoder = BodyDecoder(encoding, 1 << 20)
        decoder.feed(wire)
        decoder.result()


def test_body_decoder_reads_concatenated_gzip_members() -> None:
    decoder = BodyDecoder("x-gzip", 100)
    assert decoder.feed(gzip.compress(b'{"a":') + gzip.compress(b"1}"))
    assert decoder.result() == b'{"a":1}'


def test_gzip_bomb_helper() -> None:
    assert gzip.decompress(gzip_bomb(3 << 20 | 5)) == bytes(3 << 20 | 5)
