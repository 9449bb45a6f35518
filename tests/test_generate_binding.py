"""Choosing the endpoint and binding columns for Triton's generate extension (no server: the
model's metadata and config as Triton answers them for model_repository/tiny-llm)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyflink_triton.config import TritonOptions
from pyflink_triton.engine import Column, FlinkType, bind_model
from pyflink_triton.engine.generate import answer_values, request_fields
from pyflink_triton.errors import TritonConfigError, TritonSchemaError

EP = "http://localhost:8000/v2/models"
METADATA: dict[str, Any] = {
    "name": "tiny-llm",
    "inputs": [
        {"name": "text_input", "datatype": "BYTES", "shape": [1]},
        {"name": "stream", "datatype": "BOOL", "shape": [1]},
        {"name": "exclude_input_in_output", "datatype": "BOOL", "shape": [1]},
        {"name": "bad_words", "datatype": "BYTES", "shape": [-1]},
    ],
    "outputs": [{"name": "text_output", "datatype": "BYTES", "shape": [-1]}],
}
CONFIG: dict[str, Any] = {
    "name": "tiny-llm",
    "max_batch_size": 0,
    "model_transaction_policy": {"decoupled": True},
    "input": [
        {"name": "text_input", "data_type": "TYPE_STRING", "dims": [1]},
        {"name": "stream", "data_type": "TYPE_BOOL", "dims": [1], "optional": True},
        {"name": "exclude_input_in_output", "data_type": "TYPE_BOOL", "dims": [1], "optional": True},
        {"name": "bad_words", "data_type": "TYPE_STRING", "dims": [-1], "optional": True},
    ],
    "output": [{"name": "text_output", "data_type": "TYPE_STRING", "dims": [-1]}],
}
# The same model, not decoupled and without bad_words (an array input of a model without a batch
# dimension needs 'flatten-batch-dim' through infer).
PLAIN_CONFIG = {**CONFIG, "model_transaction_policy": {"decoupled": False}, "input": CONFIG["input"][:3]}
PLAIN_METADATA = {**METADATA, "inputs": METADATA["inputs"][:3]}
STRING, INT = FlinkType("STRING"), FlinkType("INT")


def options(**extra: Any) -> TritonOptions:
    return TritonOptions.from_map({"endpoint": EP, "model-name": "tiny-llm", **extra})


def test_auto_streams_a_decoupled_model_and_infers_others() -> None:
    binding = bind_model(METADATA, CONFIG, None, inference_api="auto")
    assert binding.api == "generate-stream" and binding.generates
    # Without columns: the required inputs only (vLLM's optional knobs are left to parameters).
    assert [(s.name, str(s.flink_type)) for s in binding.inputs] == [("text_input", "STRING")]
    assert [(s.name, str(s.flink_type)) for s in binding.outputs] == [("text_output", "STRING")]
    assert bind_model(PLAIN_METADATA, PLAIN_CONFIG, None, inference_api="auto").api == "infer"
    assert bind_model(PLAIN_METADATA, PLAIN_CONFIG, None, inference_api="generate").api == "generate"


def test_infer_on_a_decoupled_model_is_refused_naming_model_endpoint_and_option() -> None:
    with pytest.raises(TritonConfigError) as caught:
        bind_model(METADATA, CONFIG, [Column("text_input", STRING)], inference_api="infer")
    message = str(caught.value)
    assert "decoupled" in message and "infer endpoint" in message and "'inference-api'" in message
    assert caught.value.option == "inference-api" and caught.value.model == "tiny-llm"


def test_a_text_output_is_one_string_through_generate_and_an_array_through_infer() -> None:
    text = [Column("text_output", STRING)]
    binding = bind_model(METADATA, CONFIG, [Column("prompt", STRING)], text, inference_api="generate-stream")
    assert binding.outputs[0].flink_type == STRING
    with pytest.raises(TritonSchemaError, match=r"'text_output' BYTES per-row dims \[-1\] \(takes ARRAY<STRING>\)"):
        bind_model(PLAIN_METADATA, PLAIN_CONFIG, [Column("prompt", STRING)], text, inference_api="infer")


def test_columns_named_like_no_input_are_generation_parameters() -> None:
    columns = [Column("prompt", STRING), Column("max_tokens", INT), Column("stop", STRING)]
    binding = bind_model(METADATA, CONFIG, columns, inference_api="auto")
    assert [(s.name, s.parameter) for s in binding.inputs] == [
        ("text_input", False),
        ("max_tokens", True),
        ("stop", True),
    ]
    # A column named after an optional input binds to it, not to a parameter.
    named = bind_model(METADATA, CONFIG, [Column("text_input", STRING), Column("stream")], inference_api="auto")
    assert [(s.name, s.parameter) for s in named.inputs] == [("text_input", False), ("stream", False)]


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (Column("priority", INT), "reserved by Triton or the client"),
        (Column("id", STRING), "reserved by Triton or the client"),
        (Column("max_tokens", FlinkType.parse("ARRAY<INT>")), "request parameter 'max_tokens'"),
    ],
)
def test_bad_parameter_columns_are_refused(column: Column, message: str) -> None:
    with pytest.raises(TritonSchemaError, match=message):
        bind_model(METADATA, CONFIG, [Column("prompt", STRING), column], inference_api="auto")


def test_a_missing_text_input_is_named() -> None:
    with pytest.raises(TritonSchemaError, match="needs inputs text_input"):
        bind_model(METADATA, CONFIG, [Column("stream", FlinkType("BOOLEAN"))], inference_api="auto")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"inference-api": "grpc"},
            "'inference-api': 'grpc'. Accepted: 'auto', 'infer', 'generate', 'generate-stream'",
        ),
        ({"generate-parameters": '{"max_tokens": 16'}, "'generate-parameters': not valid JSON"),
        ({"generate-parameters": '{"stop": [["a"]]}'}, "'generate-parameters': the JSON must be an object of scalar"),
        ({"generate-parameters": '{"stop": [null]}'}, "'generate-parameters': the JSON must be an object of scalar"),
        ({"generate-parameters": {"stop": [{"a": 1}]}}, "'generate-parameters' (parameter 'stop'): a dict value"),
        ({"generate-parameters": '{"id": "x"}'}, "parameter 'id' is reserved"),
        ({"generate-parameters": '{"priority": 1}'}, "parameter 'priority' is reserved"),
        (
            {"inference-api": "generate", "generate-parameters": '{"stream": true}'},
            "'inference-api' = 'generate-stream'",
        ),
        ({"inference-api": "generate", "sequence-id": "7"}, "'sequence-id' and 'inference-api'"),
    ],
)
def test_options_are_validated_at_create(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(TritonConfigError, match=re.escape(message)):
        options(**extra)


def test_generate_parameters_keep_their_json_types() -> None:
    opts = options(**{"generate-parameters": '{"max_tokens": 16, "temperature": 0.5, "stop": "x", "stream": true}'})
    assert opts.generate_parameters == {"max_tokens": 16, "temperature": 0.5, "stop": "x", "stream": True}
    assert opts.inference_api == "auto"
    assert TritonOptions.from_map(opts.to_map()) == opts  # round-trips through WITH text


def test_request_fields_leave_null_parameters_out_and_answers_concatenate() -> None:
    columns = [Column("prompt", STRING), Column("max_tokens", INT)]
    binding = bind_model(METADATA, CONFIG, columns, inference_api="auto")
    prompts = pd.Series(["a b", "c d"], dtype=object)
    tokens = pd.Series([3.0, np.nan])  # an INT column with a NULL comes as float64
    base = {"max_tokens": 16, "stream": True}
    assert request_fields(binding, [prompts, tokens], 0, base) == {"text_input": "a b", "max_tokens": 3, "stream": True}
    assert request_fields(binding, [prompts, tokens], 1, base) == {
        "text_input": "c d",
        "max_tokens": 16,
        "stream": True,
    }
    events = [{"model_name": "tiny-llm", "text_output": "b"}, {"text_output": " a"}, {"text_output": [" b"]}]
    assert answer_values(events, binding) == ["b a b"]
    with pytest.raises(TritonSchemaError, match="no output 'text_output' \\(got: model_name\\)"):
        answer_values([{"model_name": "tiny-llm"}], binding)


def test_a_list_goes_to_a_model_input_of_its_type() -> None:
    """Triton sends a generate field named like an input as that input's tensor (a scalar or a
    flat list of its datatype), any other as a request parameter, which takes scalars only."""
    opts = options(**{"generate-parameters": '{"bad_words": ["a", "b"], "stream": true, "max_tokens": 4}'})
    assert opts.generate_parameters == {"bad_words": ["a", "b"], "stream": True, "max_tokens": 4}
    assert TritonOptions.from_map(opts.to_map()) == opts  # round-trips through the WITH text
    binding = bind_model(METADATA, CONFIG, None, inference_api="auto", generate_fields=opts.generate_parameters)
    assert binding.generates


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"stop": ["a"]},
            "(parameter 'stop'): a list, which Triton takes only for a model input, and model 'tiny-llm' has no "
            "input 'stop' (its inputs: text_input, stream, exclude_input_in_output, bad_words)",
        ),
        (
            {"bad_words": ["a", 1]},
            "(parameter 'bad_words'): model 'tiny-llm' has an input 'bad_words' of BYTES, which takes strings",
        ),
        ({"bad_words": 1}, "an input 'bad_words' of BYTES, which takes strings"),
        ({"stream": "yes"}, "an input 'stream' of BOOL, which takes booleans"),
    ],
)
def test_a_field_that_does_not_fit_its_input_is_refused_before_any_row(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(TritonConfigError, match=re.escape(message)) as caught:
        bind_model(METADATA, CONFIG, None, inference_api="auto", generate_fields=fields)
    assert caught.value.option == "generate-parameters"
