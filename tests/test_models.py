"""Behaviour of every model in model_repository/, through HTTP against the real local Triton server.

Expected values are computed here independently of the models' code.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

MODEL_REPOSITORY = Path(__file__).resolve().parent.parent / "model_repository"

SEED_REVIEWS = {
    "这部电影绝对精彩！演技和故事情节都很棒。": "positive",
    "我看到一半就睡着了。非常失望。": "negative",
    "还可以，没什么特别的，但也不算糟糕。": "neutral",
}
ENGLISH_REVIEWS = {
    "This movie was absolutely wonderful": "positive",
    "Boring, I fell asleep. Very disappointing.": "negative",
    "It was okay, nothing special.": "neutral",
}


@pytest.fixture(scope="module")
def client(triton_url: str) -> Iterator[httpclient.InferenceServerClient]:
    c = httpclient.InferenceServerClient(triton_url.removeprefix("http://"), concurrency=8)
    yield c
    c.close()


def post_infer(url: str, model: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST a JSON inference request; return (status, decoded JSON body)."""
    request = urllib.request.Request(
        f"{url}/v2/models/{model}/infer",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def bytes_input(name: str, texts: list[str]) -> httpclient.InferInput:
    array = np.array([[t.encode("utf-8")] for t in texts], dtype=object)
    tensor = httpclient.InferInput(name, list(array.shape), "BYTES")
    tensor.set_data_from_numpy(array)
    return tensor


def numpy_input(name: str, array: np.ndarray, datatype: str, binary: bool = True) -> httpclient.InferInput:
    tensor = httpclient.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def classify(client: httpclient.InferenceServerClient, texts: list[str]) -> list[str]:
    result = client.infer("text-classification", [bytes_input("INPUT_TEXT", texts)])
    labels = result.as_numpy("OUTPUT_TEXT")
    assert labels.shape == (len(texts), 1)
    return [label.decode() for label in labels[:, 0]]


# -- text-classification ---------------------------------------------------------------------------------


def test_seed_chinese_reviews(client: httpclient.InferenceServerClient) -> None:
    assert classify(client, list(SEED_REVIEWS)) == list(SEED_REVIEWS.values())


def test_english_reviews(client: httpclient.InferenceServerClient) -> None:
    assert classify(client, list(ENGLISH_REVIEWS)) == list(ENGLISH_REVIEWS.values())


def test_text_classification_through_plain_json(triton_url: str) -> None:
    texts = list(SEED_REVIEWS)
    status, body = post_infer(
        triton_url,
        "text-classification",
        {"inputs": [{"name": "INPUT_TEXT", "shape": [3, 1], "datatype": "BYTES", "data": texts}]},
    )
    assert status == 200, body
    (output,) = body["outputs"]
    assert output["name"] == "OUTPUT_TEXT" and output["datatype"] == "BYTES" and output["shape"] == [3, 1]
    assert output["data"] == list(SEED_REVIEWS.values())


def test_text_classification_large_batch_keeps_row_order(client: httpclient.InferenceServerClient) -> None:
    reviews = {**SEED_REVIEWS, **ENGLISH_REVIEWS}
    texts = [list(reviews)[i % len(reviews)] for i in range(1024)]
    assert classify(client, texts) == [reviews[t] for t in texts]


def test_text_classification_rejects_more_than_max_batch_size(triton_url: str) -> None:
    status, body = post_infer(
        triton_url,
        "text-classification",
        {"inputs": [{"name": "INPUT_TEXT", "shape": [1025, 1], "datatype": "BYTES", "data": ["ok"] * 1025}]},
    )
    assert status == 400
    assert "batch" in body["error"]


def _load_model_module(model: str) -> ModuleType:
    name = f"_model_{model.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(name, MODEL_REPOSITORY / model / "1" / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The movie was good.", "positive"),
        ("I didn't like it at all.", "negative"),
        ("The plot was not good", "negative"),
        ("Not bad.", "neutral"),
        ("Terrible acting and a waste of time.", "negative"),
        ("I loved it, a must-see!", "positive"),
        ("It's a film about a dog.", "neutral"),
        ("", "neutral"),
        ("很好看", "positive"),
        ("不好看", "negative"),
        ("这部电影不错", "positive"),
        ("剧情拖沓，太无聊了", "negative"),
        ("一般般吧", "neutral"),
    ],
)
def test_lexicon_rules(text: str, label: str) -> None:
    # The classifier's own function, without the server: negation, intensifiers, hedges.
    assert _load_model_module("text-classification").classify(text) == label


# -- classifier (Iris) -----------------------------------------------------------------------------------


def test_iris_classic_samples(client: httpclient.InferenceServerClient) -> None:
    features = np.array(
        [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]],
        dtype=np.float32,
    )
    result = client.infer("classifier", [numpy_input("features", features, "FP32")])
    class_id = result.as_numpy("class_id")
    assert class_id.dtype == np.int64
    assert class_id.tolist() == [[0], [1], [2]]


def test_iris_matches_an_independent_nearest_scaled_centroid(client: httpclient.InferenceServerClient) -> None:
    # Fisher's Iris: per-species means and standard deviations (setosa, versicolor, virginica).
    means = np.array([[5.006, 3.428, 1.462, 0.246], [5.936, 2.770, 4.260, 1.326], [6.588, 2.974, 5.552, 2.026]])
    stds = np.array([[0.352, 0.379, 0.174, 0.105], [0.516, 0.314, 0.470, 0.198], [0.636, 0.322, 0.552, 0.275]])
    pooled = np.sqrt((stds**2).mean(axis=0))
    rng = np.random.default_rng(7)
    features = (means[rng.integers(0, 3, 500)] + rng.normal(0, 0.4, (500, 4))).astype(np.float32)
    expected = np.argmin((((features[:, None, :] - means[None]) / pooled) ** 2).sum(axis=2), axis=1)
    result = client.infer("classifier", [numpy_input("features", features, "FP32")])
    got = result.as_numpy("class_id")[:, 0]
    # Same rule with independently rounded constants: rows right on a boundary may differ.
    assert (got == expected).mean() > 0.99
    assert set(got.tolist()) == {0, 1, 2}


def test_concurrent_requests_are_batched_and_split_back(client: httpclient.InferenceServerClient) -> None:
    # Many in-flight requests of different sizes: the dynamic batcher hands them to one execute(),
    # which must give every request exactly its own rows back.
    samples = np.array([[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]], dtype=np.float32)
    jobs = []
    for size in range(1, 41):
        order = (np.arange(size) + size) % 3
        job = client.async_infer("classifier", [numpy_input("features", samples[order], "FP32")])
        jobs.append((order, job))
    for order, job in jobs:
        assert job.get_result(timeout=60).as_numpy("class_id")[:, 0].tolist() == order.tolist()


# -- vector-transform ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "vector",
    [[3.0, 4.0], [1.0, -2.0, 2.0, 0.5, 10.0], [1e-3] * 100, [0.0, 0.0, 0.0], [7.0]],
)
def test_vector_transform_scales_to_length_two(client: httpclient.InferenceServerClient, vector: list[float]) -> None:
    x = np.array(vector, dtype=np.float32)
    result = client.infer("vector-transform", [numpy_input("input_vector", x, "FP32")])
    y = result.as_numpy("output_vector")
    norm = np.sqrt(np.sum(x.astype(np.float64) ** 2))
    expected = np.zeros_like(x) if norm == 0 else 2.0 * x.astype(np.float64) / norm
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
    if norm:
        assert np.linalg.norm(y.astype(np.float64)) == pytest.approx(2.0, rel=1e-6)


def test_vector_transform_takes_a_flat_vector_only(triton_url: str) -> None:
    status, body = post_infer(
        triton_url,
        "vector-transform",
        {"inputs": [{"name": "input_vector", "shape": [1, 2], "datatype": "FP32", "data": [3, 4]}]},
    )
    assert status == 400, body
    status, body = post_infer(
        triton_url,
        "vector-transform",
        {"inputs": [{"name": "input_vector", "shape": [2], "datatype": "FP32", "data": [3, 4]}]},
    )
    assert status == 200
    assert body["outputs"][0]["shape"] == [2]
    assert body["outputs"][0]["data"] == pytest.approx([1.2, 1.6])


# -- sequence-model --------------------------------------------------------------------------------------


def _step(url: str, sequence_id: int | str, value: int, *, start: bool = False, end: bool = False) -> tuple[int, Any]:
    """One request of a sequence; returns (200, running sum) or (status, error message)."""
    parameters: dict[str, Any] = {"sequence_id": sequence_id}
    if start:
        parameters["sequence_start"] = True
    if end:
        parameters["sequence_end"] = True
    status, body = post_infer(
        url,
        "sequence-model",
        {
            "parameters": parameters,
            "inputs": [{"name": "INPUT", "shape": [1, 1], "datatype": "INT64", "data": [value]}],
        },
    )
    if status != 200:
        return status, body.get("error")
    (output,) = body["outputs"]
    assert output["name"] == "OUTPUT" and output["datatype"] == "INT64" and output["shape"] == [1, 1]
    return status, output["data"][0]


@pytest.mark.parametrize(("first", "second"), [(7001, 7002), ("seq-a", "seq-b"), (7003, "seq-c")])
def test_interleaved_sequences_keep_separate_running_sums(triton_url: str, first: int | str, second: int | str) -> None:
    a_values, b_values = [5, -2, 10, 1], [100, 200, 300, 400]
    a_sum = b_sum = 0
    for i, (a, b) in enumerate(zip(a_values, b_values)):
        last = i == len(a_values) - 1
        a_sum += a
        b_sum += b
        assert _step(triton_url, first, a, start=i == 0, end=last) == (200, a_sum)
        assert _step(triton_url, second, b, start=i == 0, end=last) == (200, b_sum)
    # Ended: Triton forgets them, so a request without sequence_start is refused...
    status, error = _step(triton_url, first, 1)
    assert status == 400 and "START" in error
    # ...and a new start begins again from zero.
    assert _step(triton_url, first, 3, start=True) == (200, 3)
    assert _step(triton_url, first, 4, end=True) == (200, 7)


def test_sequence_start_resets_the_sum(triton_url: str) -> None:
    assert _step(triton_url, "reset-me", 10, start=True) == (200, 10)
    assert _step(triton_url, "reset-me", 5) == (200, 15)
    assert _step(triton_url, "reset-me", 1, start=True) == (200, 1)
    assert _step(triton_url, "reset-me", 1, end=True) == (200, 2)


def test_integer_and_string_ids_are_different_sequences(triton_url: str) -> None:
    assert _step(triton_url, 7777, 1, start=True) == (200, 1)
    assert _step(triton_url, "7777", 100, start=True) == (200, 100)
    assert _step(triton_url, 7777, 1, end=True) == (200, 2)
    assert _step(triton_url, "7777", 100, end=True) == (200, 200)


def test_single_request_sequence(triton_url: str) -> None:
    assert _step(triton_url, 2**64 - 1, 42, start=True, end=True) == (200, 42)


@pytest.mark.parametrize("parameters", [{}, {"sequence_id": 0}, {"sequence_id": ""}, {"sequence_start": True}])
def test_missing_sequence_id_is_400(triton_url: str, parameters: dict[str, Any]) -> None:
    body: dict[str, Any] = {"inputs": [{"name": "INPUT", "shape": [1, 1], "datatype": "INT64", "data": [1]}]}
    if parameters:
        body["parameters"] = parameters
    status, answer = post_infer(triton_url, "sequence-model", body)
    assert status == 400
    assert "correlation ID" in answer["error"]


def test_first_request_without_start_is_400(triton_url: str) -> None:
    status, error = _step(triton_url, "never-started", 1)
    assert status == 400 and "START" in error


def test_sequence_requests_must_have_batch_size_one(triton_url: str) -> None:
    status, body = post_infer(
        triton_url,
        "sequence-model",
        {
            "parameters": {"sequence_id": "batch-of-two", "sequence_start": True},
            "inputs": [{"name": "INPUT", "shape": [2, 1], "datatype": "INT64", "data": [1, 2]}],
        },
    )
    assert status == 400 and "batch-size 1" in body["error"]


def test_many_concurrent_sequences(triton_url: str) -> None:
    # Sequences interleave inside the server's batches; every one must keep its own total.
    def run(sequence_id: str) -> list[int]:
        outputs = []
        values = [int(sequence_id.rsplit("-", 1)[1]) + k for k in range(5)]
        for k, value in enumerate(values):
            status, total = _step(triton_url, sequence_id, value, start=k == 0, end=k == len(values) - 1)
            assert status == 200, total
            outputs.append(total)
        return outputs

    ids = [f"conc-{n}" for n in range(0, 1600, 100)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, ids))
    for sequence_id, outputs in zip(ids, results):
        base = int(sequence_id.rsplit("-", 1)[1])
        assert outputs == np.cumsum([base + k for k in range(5)]).tolist()


# -- multi-io --------------------------------------------------------------------------------------------


def test_multi_io_values(client: httpclient.InferenceServerClient) -> None:
    ids = np.array([[1], [-7], [2**40], [0]], dtype=np.int64)
    texts = ["hello", "Grüße aus Köln", "中文文本六个字", ""]
    vec = np.array([[1.0, 2.0, 3.0], [-1.5, 0.25, 4.0], [1e6, 1e-6, -1e6], [0.0, 0.0, 0.0]], dtype=np.float32)
    result = client.infer(
        "multi-io",
        [numpy_input("ids", ids, "INT64"), bytes_input("text", texts), numpy_input("vec", vec, "FP32")],
    )
    outputs = {o["name"]: o for o in result.get_response()["outputs"]}
    assert {name: o["datatype"] for name, o in outputs.items()} == {
        "id_times_two": "INT64",
        "text_upper": "BYTES",
        "text_length": "INT32",
        "vec_sum": "FP64",
        "vec_scaled": "FP32",
        "is_long": "BOOL",
    }
    assert result.as_numpy("id_times_two").tolist() == [[2], [-14], [2**41], [0]]
    upper = [t.decode() for t in result.as_numpy("text_upper")[:, 0]]
    assert upper == ["HELLO", "GRÜSSE AUS KÖLN", "中文文本六个字", ""]
    assert result.as_numpy("text_length").tolist() == [[5], [14], [7], [0]]
    expected_sums = [sum(float(v) for v in row) for row in vec]  # float64, left to right
    np.testing.assert_allclose(result.as_numpy("vec_sum")[:, 0], expected_sums, rtol=1e-12, atol=1e-12)
    assert result.as_numpy("vec_sum")[2, 0] == pytest.approx(1e-6, rel=1e-3)
    assert result.as_numpy("vec_sum").dtype == np.float64
    np.testing.assert_array_equal(result.as_numpy("vec_scaled"), vec / 2)
    assert result.as_numpy("is_long").tolist() == [[False], [True], [True], [False]]


def test_multi_io_json_and_output_selection(triton_url: str) -> None:
    status, body = post_infer(
        triton_url,
        "multi-io",
        {
            "inputs": [
                {"name": "ids", "shape": [2, 1], "datatype": "INT64", "data": [3, 4]},
                {"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": ["abcdef", "abc"]},
                {"name": "vec", "shape": [2, 3], "datatype": "FP32", "data": [1, 1, 1, 2, 2, 2]},
            ],
            "outputs": [{"name": "is_long"}, {"name": "vec_sum"}],
        },
    )
    assert status == 200, body
    outputs = {o["name"]: o["data"] for o in body["outputs"]}
    assert outputs == {"is_long": [True, False], "vec_sum": [3.0, 6.0]}


def test_multi_io_missing_input_is_400(triton_url: str) -> None:
    status, body = post_infer(
        triton_url,
        "multi-io",
        {"inputs": [{"name": "ids", "shape": [1, 1], "datatype": "INT64", "data": [3]}]},
    )
    assert status == 400
    assert "input" in body["error"]


def test_multi_io_concurrent_batches_split_back(client: httpclient.InferenceServerClient) -> None:
    jobs = []
    for n in range(1, 25):
        ids = np.arange(n, dtype=np.int64).reshape(-1, 1) + 1000 * n
        texts = ["x" * ((n + k) % 9) for k in range(n)]
        vec = np.full((n, 3), float(n), dtype=np.float32)
        inputs = [
            numpy_input("ids", ids, "INT64"),
            bytes_input("text", texts),
            numpy_input("vec", vec, "FP32"),
        ]
        jobs.append((ids, texts, n, client.async_infer("multi-io", inputs)))
    for ids, texts, n, job in jobs:
        result = job.get_result(timeout=60)
        assert result.as_numpy("id_times_two")[:, 0].tolist() == (ids[:, 0] * 2).tolist()
        assert result.as_numpy("text_length")[:, 0].tolist() == [len(t) for t in texts]
        assert result.as_numpy("vec_sum")[:, 0].tolist() == [3.0 * n] * n


# -- echo-all-types --------------------------------------------------------------------------------------

ECHO_CASES: dict[str, np.ndarray] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 1, 255], [7, 128, 254]], dtype=np.uint8),
    "UINT16": np.array([[0, 1, 65535], [300, 40000, 2]], dtype=np.uint16),
    "UINT32": np.array([[0, 1, 2**32 - 1], [70000, 2**31, 5]], dtype=np.uint32),
    "UINT64": np.array([[0, 1, 2**64 - 1], [2**53 + 1, 2**63, 9]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127], [-1, 1, 42]], dtype=np.int8),
    "INT16": np.array([[-32768, 0, 32767], [-1, 1, 1000]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1], [-1, 1, 123456]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1], [-1, 2**53 + 1, 3]], dtype=np.int64),
    "FP16": np.array([[0.0, -1.5, 65504.0], [6.1e-5, np.inf, -np.inf]], dtype=np.float16),
    # BF16 travels as float32 values that bfloat16 represents exactly (upper 16 bits only).
    "BF16": np.array([[0.0, 1.0, -2.5], [2.0**127, 0.15625, -1024.0]], dtype=np.float32),
    "FP32": np.array([[0.0, -1.25, 3.4028235e38], [1e-45, np.inf, 0.1]], dtype=np.float32),
    "FP64": np.array([[0.0, -1.25, 1.7976931348623157e308], [5e-324, -np.inf, 0.1]], dtype=np.float64),
    "BYTES": np.array([[b"plain", b"", "中文".encode()], [b"\x00nul\x00", b"\xff\xfe", b"x" * 1000]], dtype=object),
}


def _bf16_exact(values: np.ndarray) -> np.ndarray:
    bits = values.astype(np.float32).view(np.uint32)
    assert (bits & 0xFFFF == 0).all(), "test values must be exact in bfloat16"
    return values


@pytest.mark.parametrize("datatype", sorted(ECHO_CASES))
def test_echo_round_trip_binary(client: httpclient.InferenceServerClient, datatype: str) -> None:
    data = ECHO_CASES[datatype]
    if datatype == "BF16":
        _bf16_exact(data)
    result = client.infer(
        "echo-all-types",
        [numpy_input(f"IN_{datatype}", data, datatype)],
        outputs=[httpclient.InferRequestedOutput(f"OUT_{datatype}", binary_data=True)],
    )
    outputs = result.get_response()["outputs"]
    described = [(o["name"], o["datatype"], o["shape"]) for o in outputs]
    assert described == [(f"OUT_{datatype}", datatype, [2, 3])]
    echoed = result.as_numpy(f"OUT_{datatype}")
    if datatype == "BYTES":
        assert echoed.tolist() == data.tolist()
    else:
        assert echoed.dtype == data.dtype
        np.testing.assert_array_equal(echoed, data)


@pytest.mark.parametrize("datatype", sorted(set(ECHO_CASES) - {"FP16", "BF16"}))
def test_echo_round_trip_json(triton_url: str, datatype: str) -> None:
    data = ECHO_CASES[datatype]
    if datatype == "BYTES":
        values: list[Any] = ["plain", "", "中文", 'tab\tquote"', "ünïcode", "x" * 100]
    elif data.dtype.kind == "f":
        values = [v for v in data.reshape(-1).tolist() if np.isfinite(v)][:4]
        values += [0.5] * (6 - len(values))
    else:
        values = data.reshape(-1).tolist()
    status, body = post_infer(
        triton_url,
        "echo-all-types",
        {"inputs": [{"name": f"IN_{datatype}", "shape": [2, 3], "datatype": datatype, "data": values}]},
    )
    assert status == 200, body
    (output,) = body["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == (f"OUT_{datatype}", datatype, [2, 3])
    if datatype in ("BYTES", "BOOL"):
        assert output["data"] == values
    else:
        # JSON numbers are parsed into the tensor's type and printed back from it.
        got = np.array(output["data"], dtype=data.dtype)
        np.testing.assert_array_equal(got, np.array(values, dtype=data.dtype))


def test_echo_returns_exactly_the_outputs_of_the_inputs_sent(client: httpclient.InferenceServerClient) -> None:
    inputs = [
        numpy_input("IN_INT32", ECHO_CASES["INT32"], "INT32"),
        numpy_input("IN_BYTES", ECHO_CASES["BYTES"], "BYTES"),
        numpy_input("IN_FP16", ECHO_CASES["FP16"], "FP16"),
    ]
    result = client.infer("echo-all-types", inputs)
    names = sorted(o["name"] for o in result.get_response()["outputs"])
    assert names == ["OUT_BYTES", "OUT_FP16", "OUT_INT32"]
    np.testing.assert_array_equal(result.as_numpy("OUT_INT32"), ECHO_CASES["INT32"])
    np.testing.assert_array_equal(result.as_numpy("OUT_FP16"), ECHO_CASES["FP16"])
    assert result.as_numpy("OUT_BYTES").tolist() == ECHO_CASES["BYTES"].tolist()


def test_echo_concurrent_requests_with_different_input_sets(client: httpclient.InferenceServerClient) -> None:
    # The dynamic batcher may group requests; each must still get exactly its own tensors back.
    subsets = [["INT32"], ["FP64", "BYTES"], ["BOOL", "UINT64", "INT8"], ["INT32", "FP16"]]
    jobs = []
    for n in range(32):
        chosen = subsets[n % len(subsets)]
        arrays = {t: ECHO_CASES[t][:, : 1 + n % 3] for t in chosen}
        job = client.async_infer("echo-all-types", [numpy_input(f"IN_{t}", a, t) for t, a in arrays.items()])
        jobs.append((arrays, job))
    for arrays, job in jobs:
        result = job.get_result(timeout=60)
        assert sorted(o["name"] for o in result.get_response()["outputs"]) == sorted(f"OUT_{t}" for t in arrays)
        for datatype, array in arrays.items():
            assert result.as_numpy(f"OUT_{datatype}").tolist() == array.tolist()


def test_echo_all_fourteen_types_in_one_request(client: httpclient.InferenceServerClient) -> None:
    inputs = [numpy_input(f"IN_{t}", data, t) for t, data in ECHO_CASES.items()]
    result = client.infer("echo-all-types", inputs)
    assert len(result.get_response()["outputs"]) == 14
    for datatype, data in ECHO_CASES.items():
        echoed = result.as_numpy(f"OUT_{datatype}")
        assert echoed.tolist() == data.tolist(), datatype


def test_echo_variable_row_length_and_nan(client: httpclient.InferenceServerClient) -> None:
    data = np.array([[np.nan, 1.0, -0.0, 2.0, 3.0, 4.0, 5.0]], dtype=np.float64)
    result = client.infer("echo-all-types", [numpy_input("IN_FP64", data, "FP64")])
    echoed = result.as_numpy("OUT_FP64")
    assert echoed.shape == (1, 7)
    assert echoed.tobytes() == data.tobytes()  # bit for bit, NaN and -0.0 included


def test_echo_asking_for_an_output_not_sent_returns_nothing_for_it(triton_url: str) -> None:
    status, body = post_infer(
        triton_url,
        "echo-all-types",
        {
            "inputs": [{"name": "IN_INT8", "shape": [1, 2], "datatype": "INT8", "data": [-1, 2]}],
            "outputs": [{"name": "OUT_FP32"}],
        },
    )
    assert status == 200
    assert body["outputs"] == []


def test_echo_without_any_input_is_400(triton_url: str) -> None:
    status, _ = post_infer(triton_url, "echo-all-types", {"inputs": []})
    assert status == 400


def test_echo_unknown_input_is_400(client: httpclient.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer("echo-all-types", [numpy_input("IN_COMPLEX", np.zeros((1, 1), np.float32), "FP32")])
    assert caught.value.status() == "400"


# -- tiny-llm (decoupled; generate extension) -----------------------------------------------------------


def expected_llm_answer(prompt: str, max_tokens: int = 16, stop: str | None = None, bad: tuple[str, ...] = ()) -> str:
    """tiny-llm's documented rule (config.pbtxt), written out independently of its code."""
    reversed_words = [w for w in reversed(prompt.split()) if w not in bad]
    out: list[str] = []
    while reversed_words and len(out) < max_tokens:
        word = reversed_words[len(out) % len(reversed_words)]
        if word == stop:
            break
        out.append(word)
    return " ".join(out)


def post_generate(url: str, model: str, body: dict[str, Any], stream: bool = False) -> tuple[int, str, bytes]:
    """POST to ``generate`` or ``generate_stream``; return (status, content type, raw body)."""
    route = "generate_stream" if stream else "generate"
    request = urllib.request.Request(f"{url}/v2/models/{model}/{route}", data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    blocks = [b for b in raw.decode().split("\n\n") if b]
    assert all(b.startswith("data: ") for b in blocks), raw
    return [json.loads(b.removeprefix("data: ")) for b in blocks]


PROMPT = "the quick brown fox jumps"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, expected_llm_answer(PROMPT)),
        ({"max_tokens": 3}, "jumps fox brown"),
        ({"parameters": {"max_tokens": 7, "stop": "the"}}, "jumps fox brown quick"),
        ({"max_tokens": 0}, ""),
        ({"max_tokens": 4, "exclude_input_in_output": False}, f"{PROMPT} jumps fox brown quick"),
        ({"max_tokens": 4, "bad_words": ["fox", "quick"]}, "jumps brown the jumps"),
        ({"parameters": {"max_tokens": 3, "bad_words": ["jumps"]}}, "fox brown quick"),
        ({"max_tokens": 3, "bad_words": "jumps"}, "fox brown quick"),
    ],
)
def test_tiny_llm_generate(triton_url: str, fields: dict[str, Any], expected: str) -> None:
    status, content_type, raw = post_generate(triton_url, "tiny-llm", {"text_input": PROMPT, **fields})
    assert (status, content_type) == (200, "application/json"), raw
    assert json.loads(raw) == {"model_name": "tiny-llm", "model_version": "1", "text_output": expected}


def test_tiny_llm_streams_one_word_per_event_that_add_up_to_the_generate_answer(triton_url: str) -> None:
    body = {"text_input": PROMPT, "max_tokens": 7, "stop": "brown", "id": "r-7"}
    status, content_type, raw = post_generate(triton_url, "tiny-llm", {**body, "stream": True}, stream=True)
    assert (status, content_type) == (200, "text/event-stream; charset=utf-8")
    events = sse_events(raw)
    assert [e["text_output"] for e in events] == ["jumps", " fox"]
    assert all(e["id"] == "r-7" for e in events)
    whole = json.loads(post_generate(triton_url, "tiny-llm", body)[2])["text_output"]
    assert "".join(e["text_output"] for e in events) == whole == expected_llm_answer(PROMPT, 7, "brown")


def test_tiny_llm_zero_pieces_is_an_empty_stream(triton_url: str) -> None:
    status, _, raw = post_generate(
        triton_url, "tiny-llm", {"text_input": PROMPT, "max_tokens": 0, "stream": True}, True
    )
    assert (status, raw) == (200, b"")


def test_tiny_llm_error_mid_stream_after_200(triton_url: str) -> None:
    body = {"text_input": PROMPT, "fail_at": 2, "stream": True}
    status, _, raw = post_generate(triton_url, "tiny-llm", body, stream=True)
    assert status == 200
    assert sse_events(raw) == [
        {"model_name": "tiny-llm", "model_version": "1", "text_output": "jumps"},
        {"model_name": "tiny-llm", "model_version": "1", "text_output": " fox"},
        {"error": "tiny-llm: failing at piece 2 as asked (fail_at)"},
    ]


def test_tiny_llm_refuses_a_bad_parameter_and_infer(triton_url: str) -> None:
    status, _, raw = post_generate(triton_url, "tiny-llm", {"text_input": PROMPT, "max_tokens": "many"})
    assert status == 400
    assert json.loads(raw) == {"error": "tiny-llm: parameter 'max_tokens' must be an integer, got 'many'"}
    infer = {"inputs": [{"name": "text_input", "shape": [1], "datatype": "BYTES", "data": [PROMPT]}]}
    status, answer = post_infer(triton_url, "tiny-llm", infer)
    assert status == 501
    assert "decoupled transaction policy" in answer["error"]
