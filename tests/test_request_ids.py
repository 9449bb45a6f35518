"""Request correlation: every inference request carries an id ``<job>-<subtask>-<batch>-<request>``
(the KServe ``id`` Triton echoes and logs, and ``X-Request-ID``), a W3C ``traceparent`` only with
``'tracing' = 'true'``, and every error of a request names its id.

The id reaching Triton is checked on the real server (it echoes the ``id`` it got); headers, which
Triton does not echo, on the recording fault server.
"""

from __future__ import annotations

import logging
import pickle
import re

import numpy as np
import pandas as pd
import pytest
from pyflink.table.udf import FunctionContext

from pyflink_triton.client.client import TritonClient
from pyflink_triton.client.correlation import RequestIds, clean_part, is_traceparent
from pyflink_triton.engine import BlockingEngine, Column, EngineConfig, FlinkType
from pyflink_triton.errors import TritonClientRequestError, TritonServiceError
from pyflink_triton.flink.context import JOB_PARAMETER, request_ids

from .conftest import iris_class, model_options
from .faultserver import FaultServer

FEATURES = np.array(
    [[5.1, 3.5, 1.4, 0.2], [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1], [5.0, 3.4, 1.5, 0.2], [6.3, 3.3, 6.0, 2.5]],
    np.float32,
)


async def test_triton_gets_and_echoes_one_id_per_request(triton_url: str) -> None:
    ids = RequestIds("movie_reviews", 3)
    options = model_options(triton_url, "classifier", batch_size=2)  # 5 rows: 3 requests
    async with TritonClient(options, request_ids=ids) as client:
        first = await client.infer_parts({"features": FEATURES}, tag=ids.batch(7))
        second = await client.infer_parts({"features": FEATURES[:1]}, tag=ids.batch(8))
    # request_id of a successful part is the id in Triton's response: it got it and echoed it.
    assert [p.request_id for p in first] == [f"movie_reviews-3-7-{n}" for n in range(3)]
    assert [p.request_id for p in second] == ["movie_reviews-3-8-0"]
    classes = np.concatenate([p.result()["class_id"] for p in first]).reshape(-1)
    assert classes.tolist() == [iris_class(x) for x in FEATURES.tolist()]


async def test_triton_error_names_the_request_id(triton_url: str) -> None:
    ids = RequestIds("job", 0)
    async with TritonClient(model_options(triton_url, "classifier"), request_ids=ids) as client:
        with pytest.raises(TritonClientRequestError) as info:  # 3 features where the model takes 4
            await client.infer({"features": np.zeros((2, 3), np.float32)}, split=False)
    error = info.value
    assert re.fullmatch(r"job-0-\d+-0", error.request_id or ""), error.request_id
    assert str(error).startswith(f"Triton model 'classifier' at {triton_url}: inference failed with HTTP 400")
    assert str(error).endswith(f" [request {error.request_id}]")
    copy = pickle.loads(pickle.dumps(error))  # PyFlink moves errors between processes
    assert copy.request_id == error.request_id and str(copy) == str(error)


async def test_headers_carry_the_id_and_no_traceparent_by_default(loop_fault: FaultServer) -> None:
    ids = RequestIds("j", 1)
    async with TritonClient(model_options(loop_fault.url, "m", batch_size=2), request_ids=ids) as client:
        await client.infer({"x": np.zeros((3, 2), np.float32)}, tag=ids.batch(4))
        await client.infer({"x": np.zeros((1, 2), np.float32)})  # no tag: the next of ids' own
    sent = [(r.headers.get("X-Request-ID"), (r.header_json or {}).get("id")) for r in loop_fault.infer_requests]
    assert sent == [("j-1-4-0",) * 2, ("j-1-4-1",) * 2, ("j-1-0-0",) * 2]
    assert not any("traceparent" in {k.lower() for k in r.headers} for r in loop_fault.infer_requests)


async def test_tracing_sends_a_traceparent_per_request_with_a_trace_per_batch(loop_fault: FaultServer) -> None:
    options = model_options(loop_fault.url, "m", batch_size=2, tracing="true")
    async with TritonClient(options) as client:  # the ids then default to the options' tracing
        await client.infer({"x": np.zeros((4, 2), np.float32)})
        await client.infer({"x": np.zeros((1, 2), np.float32)})
    parents = [r.headers.get("traceparent", "") for r in loop_fault.infer_requests]
    assert len(parents) == 3 and all(is_traceparent(p) for p in parents), parents
    traces = [p.split("-")[1] for p in parents]
    spans = [p.split("-")[2] for p in parents]
    assert traces[0] == traces[1] != traces[2] and len(set(spans)) == 3
    assert not is_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01")


async def test_retry_log_lines_and_the_final_error_name_the_id(
    loop_fault: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    loop_fault.actions = [("status", 503, "busy")] * 2
    options = model_options(loop_fault.url, "m", max_retries=1, retry_initial_backoff="1ms")
    ids = RequestIds("j", 5)
    with caplog.at_level(logging.WARNING, logger="pyflink_triton"):
        async with TritonClient(options, request_ids=ids) as client:
            with pytest.raises(TritonServiceError) as info:
                await client.infer({"x": np.zeros((1, 2), np.float32)}, tag=ids.batch(2))
    assert info.value.request_id == "j-5-2-0" and str(info.value).endswith("[request j-5-2-0]")
    retries = [r.getMessage() for r in caplog.records if "Retrying" in r.getMessage()]
    assert len(retries) == 1 and "[request j-5-2-0]" in retries[0], retries
    # Both attempts sent the same id: a retry is the same logical request.
    assert [r.headers.get("X-Request-ID") for r in loop_fault.infer_requests] == ["j-5-2-0"] * 2


def test_the_udf_context_gives_job_and_subtask() -> None:
    options = model_options("http://127.0.0.1:1", "m")
    context = FunctionContext(None, {JOB_PARAMETER: "movie reviews:v2"}, index_of_this_subtask=3)
    assert request_ids(context, options).prefix == "movie_reviews_v2-3"
    assert request_ids(FunctionContext(None, {}, index_of_this_subtask=0), options).prefix == "flink-0"
    assert request_ids(context, options.replace(tracing=True)).tracing
    assert clean_part("a" * 50) == "a" * 32 and clean_part("::") == "job"


def test_engine_numbers_its_batches(fault: FaultServer) -> None:
    config = EngineConfig.of(
        model_options(fault.url, "m"), [Column("x")], [Column("OUT_x", FlinkType.parse("ARRAY<FLOAT>"))]
    )
    engine = BlockingEngine(config, RequestIds("job", 2))
    engine.open()
    try:
        for _ in range(2):
            engine.predict([pd.Series([np.zeros(2, np.float32)] * 2)])
    finally:
        engine.close()
    assert [r.headers.get("X-Request-ID") for r in fault.infer_requests] == ["job-2-0-0", "job-2-1-0"]
