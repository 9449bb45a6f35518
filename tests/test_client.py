"""TritonClient against the real Triton server: every datatype, JSON and binary, gzip, URL forms,
versions, errors with Triton's own messages, splitting, sequences, multi-input/multi-output."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pyflink_triton.client.client import TritonClient
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import TritonClientRequestError, TritonSchemaError
from pyflink_triton.server.launcher import TritonServer


def make(url: str, model: str, **options: Any) -> TritonClient:
    return TritonClient(
        TritonOptions.from_map(
            {"endpoint": url, "model-name": model, **{k.replace("_", "-"): str(v) for k, v in options.items()}}
        )
    )


RNG = np.random.default_rng(7)


def sample(datatype: str, rows: int = 5, width: int = 3) -> tuple[np.ndarray, str | None]:
    """An array for an echo-all-types input, and the datatype to pass when dtype can't say it."""
    shape = (rows, width)
    if datatype == "BOOL":
        return RNG.integers(0, 2, shape).astype(bool), None
    if datatype == "BYTES":
        words = ["a", "", "Grüße", "电影", "x" * 40, "b\x00c"]
        return np.array([[words[(i + j) % len(words)] for j in range(width)] for i in range(rows)], dtype=object), None
    if datatype.startswith(("UINT", "INT")):
        info = np.iinfo(datatype.lower())
        arr = RNG.integers(info.min, info.max, shape, dtype=datatype.lower(), endpoint=True)
        arr[0, 0], arr[-1, -1] = info.min, info.max
        return arr, None
    if datatype == "BF16":
        # Values BF16 holds exactly: they must come back unchanged.
        return np.array([[1.0, -2.5, 2.0**100], [0.15625, 65536.0, -0.0]] * 2, dtype=np.float32), "BF16"
    dtype = {"FP16": np.float16, "FP32": np.float32, "FP64": np.float64}[datatype]
    arr = RNG.normal(0, 100, shape).astype(dtype)
    arr[0, :] = [np.inf, -np.inf, np.nan][:width]
    return arr, None


DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "BF16",
    "FP32",
    "FP64",
    "BYTES",
]


@pytest.mark.parametrize("compression", [None, "gzip"])
@pytest.mark.parametrize("binary", ["true", "false"])
@pytest.mark.parametrize("datatype", DATATYPES)
async def test_round_trip_every_datatype(triton_url: str, datatype: str, binary: str, compression: str | None) -> None:
    arr, dt = sample(datatype)
    extra = {"compression": compression} if compression else {}
    async with make(triton_url, "echo-all-types", binary_data=binary, **extra) as c:
        out = await c.infer({f"IN_{datatype}": arr}, datatypes={f"IN_{datatype}": dt} if dt else None)
    got = out[f"OUT_{datatype}"]
    assert got.shape == arr.shape
    if datatype == "BYTES":
        assert got.tolist() == [[s.encode() for s in row] for row in arr.tolist()]
    else:
        np.testing.assert_array_equal(got, arr)
        assert got.dtype == arr.dtype


async def test_all_datatypes_in_one_request(triton_url: str) -> None:
    inputs, dts = {}, {}
    for dt in DATATYPES:
        arr, override = sample(dt, rows=4, width=2 + len(dt) % 3)
        if dt == "BF16":
            arr = arr[:4, :2]
        inputs[f"IN_{dt}"] = arr
        if override:
            dts[f"IN_{dt}"] = override
    async with make(triton_url, "echo-all-types", compression="gzip") as c:
        out = await c.infer(inputs, datatypes=dts)
    assert set(out) == {f"OUT_{dt}" for dt in DATATYPES}
    for dt in DATATYPES:
        if dt != "BYTES":
            np.testing.assert_array_equal(out[f"OUT_{dt}"], inputs[f"IN_{dt}"])


@pytest.mark.parametrize("suffix", ["", "/", "/v2", "/v2/", "/v2/models", "/v2/models/"])
async def test_endpoint_forms(triton_url: str, suffix: str) -> None:
    async with make(triton_url + suffix, "classifier") as c:
        assert await c.server_live() and await c.server_ready() and await c.model_ready()
        assert c.healthy is None and await c.check_health() and c.healthy is True
        out = await c.infer({"features": np.array([[5.1, 3.5, 1.4, 0.2]], np.float32)})
    assert out["class_id"].tolist() == [[0]]


async def test_metadata_and_config(triton_url: str) -> None:
    async with make(triton_url, "classifier") as c:
        meta = await c.model_metadata()
        config = await c.model_config()
        assert await c.max_batch_size() == config["max_batch_size"] > 0
    assert meta["name"] == "classifier"
    assert meta["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["outputs"][0]["name"] == "class_id" and meta["outputs"][0]["datatype"] == "INT64"


async def test_iris_classes(triton_url: str) -> None:
    x = np.array([[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]], np.float32)
    async with make(triton_url, "classifier", model_version="1") as c:
        out = await c.infer({"features": x})
    assert out["class_id"].reshape(-1).tolist() == [0, 1, 2]


async def test_seed_reviews_are_classified(triton_url: str) -> None:
    reviews = [
        "这部电影绝对精彩！演技和故事情节都很棒。",
        "我看到一半就睡着了。非常失望。",
        "还可以，没什么特别的，但也不算糟糕。",
    ]
    async with make(triton_url, "text-classification", model_version="1", timeout="10000") as c:
        out = await c.infer({"INPUT_TEXT": np.array(reviews, dtype=object).reshape(-1, 1)})
    assert [v.decode() for v in out["OUTPUT_TEXT"].reshape(-1)] == ["positive", "negative", "neutral"]


async def test_unknown_model_names_model_status_and_triton_message(triton_url: str) -> None:
    async with make(triton_url, "no-such-model") as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.infer({"x": np.zeros((1, 1), np.float32)}, split=False)
        assert not await c.model_ready()
    err = info.value
    assert err.status in (400, 404)
    assert "no-such-model" in err.server_message  # Triton's own text
    assert str(err).startswith(f"Triton model 'no-such-model' at {triton_url}: inference failed with HTTP {err.status}")


async def test_unknown_version_is_an_error_latest_is_not(triton_url: str) -> None:
    async with make(triton_url, "classifier", model_version="latest") as c:
        await c.infer({"features": np.zeros((1, 4), np.float32)})
    async with make(triton_url, "classifier", model_version="7") as c:
        with pytest.raises(TritonClientRequestError, match="version '7'") as info:
            await c.infer({"features": np.zeros((1, 4), np.float32)}, split=False)
    assert info.value.version == "7"


async def test_tensor_names_keep_their_case(triton_url: str) -> None:
    text = np.array([["great movie"]], dtype=object)
    async with make(triton_url, "text-classification") as c:
        assert (await c.infer({"INPUT_TEXT": text}))["OUTPUT_TEXT"].shape == (1, 1)
        with pytest.raises(TritonClientRequestError, match="input_text") as info:
            await c.infer({"input_text": text})
    assert info.value.status == 400


async def test_wrong_datatype_gets_tritons_message(triton_url: str) -> None:
    async with make(triton_url, "classifier") as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.infer({"features": np.zeros((2, 4), np.float64)})
    assert info.value.status == 400 and "FP64" in info.value.server_message


async def test_large_batches_are_split_and_rejoined_in_order(triton_url: str) -> None:
    x = RNG.normal(5, 2, (2500, 4)).astype(np.float32)
    async with make(triton_url, "classifier") as c:
        whole = (await c.infer({"features": x}))["class_id"]  # 1024 + 1024 + 452
        assert c.stats.requests == 3
        assert c.stats.latency_count == 3 and len(c.stats.drain_latencies()) == 3
        assert c.stats.latency_max_s > 0 and c.stats.in_flight_requests == 0
    async with make(triton_url, "classifier", batch_size="7", max_concurrent_requests="3") as c:
        small = (await c.infer({"features": x[:100]}))["class_id"]
        assert c.stats.requests == 15 and c.stats.rows == 100
    async with make(triton_url, "classifier", batch_size="100") as c:
        one_by_one = np.concatenate([(await c.infer({"features": x[i : i + 1]}))["class_id"] for i in range(100)])
    np.testing.assert_array_equal(small, one_by_one)
    np.testing.assert_array_equal(whole[:100], one_by_one)


async def test_unsplit_batch_over_the_limit_gets_tritons_error(triton_url: str) -> None:
    async with make(triton_url, "classifier") as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.infer({"features": np.zeros((1025, 4), np.float32)}, split=False)
    assert info.value.status == 400


async def test_vector_transform_without_batch_dim(triton_url: str) -> None:
    v = np.array([3.0, 4.0, 0.0], np.float32)
    async with make(triton_url, "vector-transform", flatten_batch_dim="true") as c:
        assert await c.max_batch_size() == 0
        out = await c.infer({"input_vector": v})
    np.testing.assert_allclose(out["output_vector"], 2 * v / np.linalg.norm(v), rtol=1e-6)


async def test_sequence_model_keeps_state_per_sequence(triton_url: str) -> None:
    async with (
        make(triton_url, "sequence-model", sequence_id="1001", sequence_start="true") as a,
        make(triton_url, "sequence-model", sequence_id="conv-b", sequence_start="true") as b,
    ):
        assert await a.max_batch_size() == 1  # the sequence batcher: one row per request
        out_a = (await a.infer({"INPUT": np.array([[1], [2], [3]], np.int64)}))["OUTPUT"]
        out_b = (await b.infer({"INPUT": np.array([[10], [20]], np.int64)}))["OUTPUT"]
        more_a = (await a.infer({"INPUT": np.array([[4]], np.int64)}))["OUTPUT"]
    assert out_a.reshape(-1).tolist() == [1, 3, 6]
    assert out_b.reshape(-1).tolist() == [10, 30]
    assert more_a.reshape(-1).tolist() == [10]  # the sequence went on across infer() calls


async def test_sequence_end_closes_each_call(triton_url: str) -> None:
    async with make(triton_url, "sequence-model", sequence_id="77", sequence_start="true", sequence_end="true") as c:
        first = (await c.infer({"INPUT": np.array([[5], [5]], np.int64)}))["OUTPUT"]
        second = (await c.infer({"INPUT": np.array([[1]], np.int64)}))["OUTPUT"]
    assert first.reshape(-1).tolist() == [5, 10]
    assert second.reshape(-1).tolist() == [1]  # a new sequence


async def test_sequence_model_without_id_is_rejected(triton_url: str) -> None:
    async with make(triton_url, "sequence-model") as c:
        with pytest.raises(TritonClientRequestError) as info:
            await c.infer({"INPUT": np.array([[1]], np.int64)})
    assert info.value.status == 400


async def test_multi_input_multi_output(triton_url: str) -> None:
    ids = np.array([[1], [2], [3]], np.int64)
    text = np.array([["hi"], ["hello world"], ["电影"]], dtype=object)
    vec = np.array([[1, 2, 3], [0.5, 0.5, 0.5], [-1, 0, 1]], np.float32)
    async with make(triton_url, "multi-io", priority="1") as c:
        out = await c.infer({"ids": ids, "text": text, "vec": vec})
        subset = await c.infer({"ids": ids, "text": text, "vec": vec}, outputs=["vec_sum"])
    assert out["id_times_two"].reshape(-1).tolist() == [2, 4, 6]
    assert [t.decode() for t in out["text_upper"].reshape(-1)] == ["HI", "HELLO WORLD", "电影"]
    assert out["text_length"].reshape(-1).tolist() == [2, 11, 2]
    np.testing.assert_allclose(out["vec_sum"].reshape(-1), vec.sum(axis=1))
    np.testing.assert_allclose(out["vec_scaled"], vec * 0.5)
    assert out["is_long"].reshape(-1).tolist() == [False, True, False]
    assert set(subset) == {"vec_sum"}


async def test_inputs_must_share_the_batch_dimension(triton_url: str) -> None:
    async with make(triton_url, "multi-io") as c:
        with pytest.raises(TritonSchemaError, match="share their first"):
            await c.infer({"ids": np.zeros((2, 1), np.int64), "text": np.array([["a"]], dtype=object)})


def test_server_fixture_is_on_loopback(triton_server: TritonServer) -> None:
    assert triton_server.url.startswith("http://127.0.0.1:")
