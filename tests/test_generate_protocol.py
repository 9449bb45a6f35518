"""The generate extension's wire format (protocol/generate.py): request bodies, answers, and
server-sent events read piece by piece under their bounds. Pure: no server, no loop."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyflink_triton.errors import TritonConnectionError, TritonProtocolError, TritonSchemaError
from pyflink_triton.protocol.generate import (
    MAX_EVENT_BYTES,
    EventStream,
    decode_generate_body,
    encode_generate,
    event_error,
)

LIMIT = 1 << 20


def sse(*objects: dict[str, Any]) -> bytes:
    """Events as Triton writes them: ``data: `` + compact JSON + a blank line."""
    return b"".join(b"data: " + json.dumps(o, separators=(",", ":")).encode() + b"\n\n" for o in objects)


def read(*pieces: bytes, limit: int = LIMIT, line_limit: int = MAX_EVENT_BYTES) -> list[dict[str, Any]]:
    stream = EventStream(limit, line_limit)
    for piece in pieces:
        stream.feed(piece)
    stream.finish()
    return stream.events


EVENTS = [{"model_name": "m", "text_output": t} for t in ("Hello", " wörld", " 电影", "", ' "q"\n')]


def test_events_in_one_piece_in_order() -> None:
    assert read(sse(*EVENTS)) == EVENTS


def test_feed_counts_the_events_each_piece_completes() -> None:
    stream = EventStream(LIMIT)
    whole = sse(*EVENTS[:3])
    first = whole.index(b"\n\n") + 1  # ends between the two newlines of event 1
    assert [stream.feed(whole[:first]), stream.feed(whole[first:])] == [0, 3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_into_pieces_reads_the_same_events(cuts: list[int]) -> None:
    whole = sse(*EVENTS)
    bounds = sorted({min(c, len(whole)) for c in cuts})
    pieces = [whole[a:b] for a, b in zip([0, *bounds], [*bounds, len(whole)], strict=True)]
    assert read(*pieces) == EVENTS


def test_byte_by_byte() -> None:
    whole = sse(*EVENTS)
    assert read(*(whole[i : i + 1] for i in range(len(whole)))) == EVENTS


def test_crlf_comments_other_fields_and_multi_line_data() -> None:
    text = (
        b": a comment, e.g. a proxy's keep-alive\r\n\r\n"
        b'event: message\r\nid: 7\r\nretry: 100\r\ndata: {"a":\r\ndata:1}\r\n\r\n'
        b"\n\n"  # blank lines without data dispatch nothing
        b'data:{"b":2}\n\n'  # no space after the colon
    )
    assert read(text) == [{"a": 1}, {"b": 2}]


def test_an_empty_stream_has_no_events() -> None:
    assert read(b"") == []
    assert read(b"\n\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"data: {not json}\n\n", "event 1 is not JSON: '{not json}'"),
        (b'data: "text"\n\n', "event 1 is not a JSON object: '\"text\"'"),
        (b"data: \n\n", "event 1 is not JSON: ''"),
        (b"HTTP/1.1 502 Bad Gateway\n\n", "line 'HTTP/1.1 502 Bad Gateway' of event 1 is not a server-sent event"),
        (sse({"a": 1}) + b"datum: {}\n\n", "line 'datum: {}' of event 2 is not a server-sent event"),
    ],
)
def test_malformed_events(text: bytes, message: str) -> None:
    with pytest.raises(TritonProtocolError) as info:
        read(text)
    assert info.value.message == message


def test_a_long_malformed_line_is_quoted_short() -> None:
    with pytest.raises(TritonProtocolError) as info:
        read(b"data: " + b"z" * 5000 + b"\n\n")
    assert info.value.message == f"event 1 is not JSON: '{'z' * 200}...'"


@pytest.mark.parametrize(
    "pieces",
    [
        [b"data: " + b"x" * 100],  # no newline yet, in one piece
        [b"data: ", *[b"x" * 10] * 10],  # no newline yet, in small pieces
        [b"data: " + b"x" * 100 + b"\n"],  # one long line, complete
        [b"data: " + b"x" * 60 + b"\ndata: " + b"x" * 60 + b"\n"],  # one event of long data lines
    ],
)
def test_a_line_or_event_past_the_line_limit_is_an_error(pieces: list[bytes]) -> None:
    stream = EventStream(LIMIT, line_limit=100)
    with pytest.raises(TritonProtocolError) as info:
        for piece in pieces:
            stream.feed(piece)
    assert info.value.message == (
        "a line of event 1 is longer than 100 (100 bytes; one event holds one response of the model); reading stopped"
    )


def test_the_line_limit_is_at_most_the_stream_limit() -> None:
    assert EventStream(1000).line_limit == 1000
    assert EventStream(1 << 30).line_limit == MAX_EVENT_BYTES


def test_the_whole_stream_is_bounded() -> None:
    one = sse({"text_output": "tick"})
    stream = EventStream(10 * len(one))
    for _ in range(10):
        stream.feed(one)
    with pytest.raises(TritonProtocolError) as info:
        stream.feed(b"d")
    assert info.value.message == (
        f"exceeds the limit of {10 * len(one)} ({10 * len(one)} bytes) set by option 'max-response-size' "
        "(10 events read; reading stopped)"
    )


@pytest.mark.parametrize("tail", [b'data: {"text_output": "x"}', b'data: {"text_output": "x"}\n', b"dat"])
def test_a_stream_ending_inside_an_event_is_a_retryable_cut(tail: bytes) -> None:
    stream = EventStream(LIMIT)
    stream.feed(sse({"a": 1}) + tail)
    with pytest.raises(TritonConnectionError) as info:
        stream.finish()
    assert info.value.retryable
    assert info.value.message == (
        "the event stream ended in the middle of an event (1 complete events before it): the answer is incomplete"
    )


def test_encode_generate_is_one_flat_json_object() -> None:
    fields = {"text_input": "hi", "max_tokens": np.int64(8), "parameters": {"temperature": 0.5}, "stream": True}
    assert json.loads(encode_generate(fields)) == {
        "text_input": "hi",
        "max_tokens": 8,
        "parameters": {"temperature": 0.5},
        "stream": True,
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["text_input"], "generate fields must be a mapping with string keys (a JSON object)"),
        ({1: "x"}, "generate fields must be a mapping with string keys (a JSON object)"),
        ({"x": object()}, "generate fields cannot be sent as JSON: Type is not JSON serializable: object"),
    ],
)
def test_encode_generate_refuses_what_is_not_a_json_object(fields: Any, message: str) -> None:
    with pytest.raises(TritonSchemaError) as info:
        encode_generate(fields)
    assert info.value.message == message


def test_decode_generate_body() -> None:
    assert decode_generate_body(b'{"text_output":"a b","model_version":"1"}') == {
        "text_output": "a b",
        "model_version": "1",
    }
    with pytest.raises(TritonProtocolError, match="the answer is not a JSON object: '\\[\\]'"):
        decode_generate_body(b"[]")
    with pytest.raises(TritonProtocolError, match="the answer is not JSON: '<html>'"):
        decode_generate_body(b"<html>")


def test_event_error() -> None:
    assert event_error({"text_output": "x"}) is None
    assert event_error({"error": "boom"}) == "boom"
    assert event_error({"error": {"code": 3}}) == '{"code":3}'
    assert event_error({"error": ""}) == ""  # an empty error is still an error
