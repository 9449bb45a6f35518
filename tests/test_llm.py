"""LLMs on Triton through ML_PREDICT: model_repository/tiny-llm (decoupled, served through
Triton's generate extension) in both UDF modes, the example script, CREATE MODEL's checks and
the metrics of generated answers.

Expected answers follow tiny-llm's documented rule (its config.pbtxt), written again here: the
prompt's words in reverse order, repeated, ``max_tokens`` words, cut before the stop word.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.expressions import col

from pyflink_triton.config import TritonOptions
from pyflink_triton.engine import Column, EngineConfig, FlinkType
from pyflink_triton.errors import TritonConfigError
from pyflink_triton.flink import configure_inference
from pyflink_triton.flink.pandas_udf import TritonPandasFunction
from pyflink_triton.flink.versions import flink_features
from pyflink_triton.sql import TritonSql, predict

from .test_cli import run_cli, table_rows
from .test_udf_metrics import Context


def expected(prompt: str, max_tokens: int, stop: str | None = None) -> str:
    """tiny-llm's answer, from its documented rule."""
    words = prompt.split()[::-1]
    answer: list[str] = []
    for i in range(max_tokens if words else 0):
        if words[i % len(words)] == stop:
            break
        answer.append(words[i % len(words)])
    return " ".join(answer)


@pytest.mark.flink
def test_llm_generate_example_prints_the_models_answers(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/llm_generate.sql", env=endpoint)
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_rows(result.stdout) == [
        ["1", "the quick brown fox", "<NULL>", expected("the quick brown fox", 6, "END")],
        ["2", "to be or not", "3", expected("to be or not", 3, "END")],
        ["3", "sing a song END of sixpence", "10", expected("sing a song END of sixpence", 10, "END")],
    ]


PROMPTS = [  # id, prompt, max_tokens, fail_at
    (1, "the quick brown fox", None, None),
    (2, "to be or not", 3, None),
    (3, None, 2, None),  # a NULL prompt: not sent, NULL answer
    (4, "fail on the second piece", 5, 1),  # streamed: an error event after a piece
    (5, "sing a song END of sixpence", 10, None),
]


@pytest.fixture(scope="module")
def sql(triton_url: str) -> TritonSql:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    configure_inference(t_env, batch_size=1000, max_latency_ms=200)
    session = TritonSql(t_env)
    ep = triton_url + "/v2/models"
    for name, api, stream in (("llm_stream", "auto", ', "stream": true'), ("llm_one", "generate", "")):
        session.execute_sql(
            f"CREATE TEMPORARY MODEL {name} INPUT (prompt STRING, max_tokens INT, fail_at INT) "
            f"OUTPUT (text_output STRING) WITH ('provider' = 'triton', 'endpoint' = '{ep}', "
            f"'model-name' = 'tiny-llm', 'inference-api' = '{api}', 'default-value' = 'n/a', "
            f"""'generate-parameters' = '{{"max_tokens": 4, "stop": "END"{stream}}}')"""
        )
    table = t_env.from_elements(
        PROMPTS,
        DataTypes.ROW(
            [
                DataTypes.FIELD("id", DataTypes.INT()),
                DataTypes.FIELD("prompt", DataTypes.STRING()),
                DataTypes.FIELD("max_tokens", DataTypes.INT()),
                DataTypes.FIELD("fail_at", DataTypes.INT()),
            ]
        ),
    )
    t_env.create_temporary_view("prompts", table)
    return session


MODES = ["false", "true"] if flink_features().async_scalar else ["false"]


@pytest.mark.flink
@pytest.mark.parametrize("is_async", MODES)
def test_ml_predict_generates_in_both_modes(sql: TritonSql, is_async: str) -> None:
    """Both endpoints in one job: NULL rows stay NULL, per-row max_tokens (NULL: the model's
    4), the stop word, and a row whose stream fails mid-way takes the default value and shows
    its error, while the same row through /generate (one piece) succeeds."""
    config = f"MAP['error-mode', 'column', 'async', '{is_async}']"
    query = " UNION ALL ".join(
        f"SELECT '{name}' AS model, id, text_output, error FROM ML_PREDICT(TABLE prompts, MODEL {name}, "
        f"DESCRIPTOR(prompt, max_tokens, fail_at), {config})"
        for name in ("llm_stream", "llm_one")
    )
    with sql.sql_query(query).execute().collect() as results:
        got = {(r[0], r[1]): (r[2], r[3]) for r in results}
    assert len(got) == 2 * len(PROMPTS)
    for model in ("llm_stream", "llm_one"):
        for id_, prompt, max_tokens, fail_at in PROMPTS:
            answer, error = got[(model, id_)]
            if prompt is None:
                assert (answer, error) == (None, None)
            elif fail_at is not None and model == "llm_stream":
                assert answer == "n/a", answer
                assert error.startswith("Triton") and "tiny-llm" in error and "failing at piece 1" in error, error
            else:
                assert (answer, error) == (expected(prompt, max_tokens or 4, "END"), None)


@pytest.mark.flink
def test_create_model_reads_text_columns_and_refuses_infer_for_a_decoupled_model(
    sql: TritonSql, triton_url: str
) -> None:
    ep = triton_url + "/v2/models"
    sql.execute_sql(
        f"CREATE TEMPORARY MODEL llm_schema WITH ('provider' = 'triton', 'endpoint' = '{ep}', "
        "'model-name' = 'tiny-llm')"
    )
    info = sql.model("llm_schema")
    assert info is not None
    assert [(n, t.upper()) for n, t in info.inputs] == [("text_input", "STRING")]
    assert [(n, t.upper()) for n, t in info.outputs] == [("text_output", "STRING")]
    with pytest.raises(TritonConfigError) as caught:
        sql.execute_sql(
            "CREATE TEMPORARY MODEL llm_infer INPUT (prompt STRING) OUTPUT (text_output STRING) "
            f"WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'tiny-llm', 'inference-api' = 'infer')"
        )
    message = str(caught.value)
    assert "CREATE MODEL llm_infer" in message and "tiny-llm" in message and triton_url in message
    assert "decoupled" in message and "infer endpoint" in message and "'inference-api'" in message
    assert sql.model("llm_infer") is None
    with pytest.raises(TritonConfigError) as caught:  # a list goes to a model input, and there is none
        sql.execute_sql(
            f"CREATE TEMPORARY MODEL llm_words WITH ('provider' = 'triton', 'endpoint' = '{ep}', "
            """'model-name' = 'tiny-llm', 'generate-parameters' = '{"stop_words": ["x"]}')"""
        )
    message = str(caught.value)
    assert "CREATE MODEL llm_words" in message and triton_url in message, message
    assert (
        "'generate-parameters' (parameter 'stop_words'): a list, which Triton takes only for a model input" in message
    )
    assert "(its inputs: text_input, stream, exclude_input_in_output, bad_words)" in message
    assert sql.model("llm_words") is None


def test_generated_answers_are_counted_in_the_metrics(triton_url: str) -> None:
    opts = TritonOptions.from_map(
        {
            "endpoint": triton_url,
            "model-name": "tiny-llm",
            "generate-parameters": '{"stream": true, "max_tokens": 5}',
        }
    )
    fn = TritonPandasFunction(EngineConfig.of(opts, [Column("prompt", FlinkType("STRING"))]))
    ctx = Context()
    fn.open(ctx)
    try:
        out = fn.eval(pd.Series(["a b c", None, "d e"], dtype=object))
    finally:
        fn.close()
    assert out.tolist() == [expected("a b c", 5), None, expected("d e", 5)]
    group: Any = ctx.group.children["triton"]
    assert group.counters["answers"] == 2 and group.counters["pieces"] == 10
    assert group.counters["rows"] == 3 and group.counters["nullRows"] == 1
    assert len(group.distributions["timeToFirstTokenMs"]) == 2
    assert len(group.distributions["piecesPerSecond"]) == 2


def test_a_list_in_generate_parameters_is_sent_as_the_model_input_of_its_name(triton_url: str) -> None:
    """TensorRT-LLM takes stop and bad words as list inputs (``bad_words`` STRING [-1]): a list
    in 'generate-parameters' is sent as that input, and tiny-llm leaves those words out."""
    options = {"endpoint": triton_url, "model-name": "tiny-llm"}
    opts = TritonOptions.from_map({**options, "generate-parameters": '{"bad_words": ["b", "e"], "max_tokens": 4}'})
    fn = TritonPandasFunction(EngineConfig.of(opts, [Column("prompt", FlinkType("STRING"))]))
    fn.open(Context())
    try:
        out = fn.eval(pd.Series(["a b c", "d e"], dtype=object))
    finally:
        fn.close()
    assert out.tolist() == ["c a c a", "d d d d"]  # without b and e: "c a", then "d", repeated


@pytest.mark.flink
def test_table_api_predict_with_a_provider_reads_the_text_columns_from_the_server(
    sql: TritonSql, triton_url: str
) -> None:
    model = {"endpoint": triton_url, "model-name": "tiny-llm", "generate-parameters": '{"max_tokens": 3}'}
    table = sql.t_env.from_path("prompts").select(col("id"), col("prompt"))
    with predict(table, model, ["prompt"], session=sql).execute().collect() as results:
        got = sorted((r[0], r[2]) for r in results)
    assert got == [(i, None if p is None else expected(p, 3)) for i, p, _, _ in PROMPTS]
