"""TritonClient.generate against the real Triton server and its tiny-llm model (a decoupled,
vLLM-like model; rules in model_repository/tiny-llm/config.pbtxt). Faults a real server cannot
produce are in test_generate_faults.py."""

from __future__ import annotations

from typing import Any

import pytest

from pyflink_triton.client.client import TritonClient
from pyflink_triton.config import TritonOptions
from pyflink_triton.errors import TritonClientRequestError, TritonConnectionError, TritonModelError

from .test_models import expected_llm_answer

PROMPT = "to be or not to be that is the question"


def make(url: str, model: str = "tiny-llm", **options: Any) -> TritonClient:
    return TritonClient(
        TritonOptions.from_map(
            {"endpoint": url, "model-name": model, **{k.replace("_", "-"): str(v) for k, v in options.items()}}
        )
    )


def texts(events: tuple[dict[str, Any], ...]) -> list[str]:
    return [e["text_output"] for e in events]


@pytest.mark.parametrize(
    ("fields", "max_tokens", "stop"),
    [
        ({}, 16, None),
        ({"max_tokens": 5}, 5, None),
        ({"parameters": {"max_tokens": 12, "stop": "not"}}, 12, "not"),
        ({"max_tokens": 9, "stop": "question"}, 9, "question"),
    ],
)
async def test_generate_and_generate_stream_agree(
    triton_url: str, fields: dict[str, Any], max_tokens: int, stop: str | None
) -> None:
    expected = expected_llm_answer(PROMPT, max_tokens, stop)
    async with make(triton_url) as client:
        whole = await client.generate({"text_input": PROMPT, **fields})
        streamed = await client.generate({"text_input": PROMPT, "stream": True, **fields}, stream=True)
    assert [(e["model_name"], e["model_version"]) for e in whole.events] == [("tiny-llm", "1")]
    assert texts(whole.events) == [expected]
    # One event per word, in order: the first word, then " word" deltas.
    words = expected.split()
    assert texts(streamed.events) == [w if i == 0 else " " + w for i, w in enumerate(words)]
    assert "".join(texts(streamed.events)) == texts(whole.events)[0]
    for answer in (whole, streamed):
        assert 0 < answer.first_event_s <= answer.elapsed_s


async def test_time_to_first_token_comes_before_the_end_of_the_stream(triton_url: str) -> None:
    fields = {"text_input": "a b c d", "stream": True, "max_tokens": 4, "delay_ms": 60}
    async with make(triton_url) as client:
        answer = await client.generate(fields, stream=True)
    assert texts(answer.events) == ["d", " c", " b", " a"]
    # Three more 60 ms pauses come after the first piece: at least 180 ms between first and last.
    assert answer.elapsed_s - answer.first_event_s >= 0.17


async def test_a_stream_with_no_pieces_has_no_events(triton_url: str) -> None:
    async with make(triton_url) as client:
        answer = await client.generate({"text_input": PROMPT, "stream": True, "max_tokens": 0}, stream=True)
    assert answer.events == ()


async def test_decoupled_reads_the_transaction_policy(triton_url: str) -> None:
    async with make(triton_url) as llm, make(triton_url, "classifier") as classifier:
        assert await llm.decoupled() is True
        assert await classifier.decoupled() is False
        # A model that is not decoupled answers on /generate too (one response).
        answer = await classifier.generate({"features": [5.0, 3.4, 1.5, 0.2]})
    assert answer.events == ({"class_id": 0, "model_name": "classifier", "model_version": "1"},)


async def test_an_error_mid_stream_is_a_model_error_not_retried(triton_url: str) -> None:
    fields = {"text_input": PROMPT, "stream": True, "fail_at": 2}
    async with make(triton_url, max_retries=3) as client:
        with pytest.raises(TritonModelError) as info:
            await client.generate(fields, stream=True, request_id="mid-1")
        assert client.stats.requests == 1 and client.stats.retries == 0
    err = info.value
    assert (err.status, err.server_message) == (200, "tiny-llm: failing at piece 2 as asked (fail_at)")
    assert str(err) == (
        f"Triton model 'tiny-llm' at {triton_url}: generate_stream failed: the model sent an error in event 3 "
        "of the stream after HTTP 200: tiny-llm: failing at piece 2 as asked (fail_at) [request mid-1]"
    )


async def test_several_responses_on_generate_is_a_model_error(triton_url: str) -> None:
    async with make(triton_url) as client:
        with pytest.raises(TritonModelError, match="in its answer after HTTP 200: generate expects model to produce"):
            await client.generate({"text_input": PROMPT, "stream": True})


async def test_a_bad_parameter_is_a_request_error_naming_it(triton_url: str) -> None:
    async with make(triton_url, max_retries=3) as client:
        with pytest.raises(TritonClientRequestError) as info:
            await client.generate({"text_input": PROMPT, "max_tokens": "many"}, stream=True)
        assert client.stats.requests == 1
    assert info.value.status == 400
    assert "generate_stream failed with HTTP 400: tiny-llm: parameter 'max_tokens' must be an integer" in str(
        info.value
    )


async def test_unknown_model_is_not_mistaken_for_a_missing_extension(triton_url: str) -> None:
    async with make(triton_url, "no-such-llm") as client:
        with pytest.raises(TritonClientRequestError) as info:
            await client.generate({"text_input": "hi"})
    assert info.value.status == 404
    assert "generate failed with HTTP 404: Request for unknown model: 'no-such-llm' is not found" in str(info.value)
    assert "generate extension" not in str(info.value)


async def test_infer_on_a_decoupled_model_says_to_use_generate(triton_url: str) -> None:
    import numpy as np

    async with make(triton_url, max_retries=3) as client:
        with pytest.raises(TritonClientRequestError) as info:
            await client.infer({"text_input": np.array(["hi"], dtype=object)}, split=False)
        assert client.stats.requests == 1  # not retried
    assert info.value.status == 501
    assert str(info.value).startswith(
        f"Triton model 'tiny-llm' at {triton_url}: inference failed with HTTP 501: HTTP end point doesn't "
        "support models with decoupled transaction policy: the model is decoupled (e.g. an LLM), which Triton "
        "serves only through its generate extension; use option 'inference-api' = 'generate'"
    )


async def test_closing_mid_stream_cancels_and_the_server_serves_on(triton_url: str) -> None:
    import asyncio

    client = await make(triton_url, max_retries=2).open()
    fields = {"text_input": PROMPT, "stream": True, "max_tokens": 50, "delay_ms": 20}
    task = asyncio.create_task(client.generate(fields, stream=True))
    for _ in range(500):  # until the answer is being read
        if client.stats.in_flight_requests and client._transport._streams:
            break
        await asyncio.sleep(0.01)
    await client.close()
    with pytest.raises(TritonConnectionError, match="the client was closed while the answer was being read"):
        await asyncio.wait_for(task, 5)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    async with make(triton_url) as again:  # Triton cancelled the request and serves the next one
        answer = await again.generate({"text_input": "a b", "max_tokens": 2})
    assert texts(answer.events) == ["b a"]
