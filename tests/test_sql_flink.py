"""The SQL layer on a real Flink mini-cluster and the real Triton: CREATE MODEL validation, the
model catalog statements, and ML_PREDICT with Flink's semantics and error texts."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from pyflink_triton.errors import TritonConfigError
from pyflink_triton.flink import configure_inference
from pyflink_triton.sql import TritonSql

from .conftest import iris_class

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink


@pytest.fixture(scope="module")
def sql(triton_url: str) -> TritonSql:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    configure_inference(t_env, batch_size=1000, max_latency_ms=200)
    session = TritonSql(t_env)
    ep = triton_url + "/v2/models"
    session.execute_script(f"""
        CREATE TEMPORARY MODEL sentiment INPUT (`input` STRING) OUTPUT (`output` STRING)
        WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'text-classification');
        CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT)
        WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'classifier');
        CREATE TEMPORARY MODEL mio
        INPUT (ids BIGINT, `text` STRING, vec ARRAY<FLOAT>)
        OUTPUT (id_times_two BIGINT, text_upper STRING, text_length INT, vec_sum DOUBLE,
                vec_scaled ARRAY<FLOAT>, is_long BOOLEAN)
        WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'multi-io');
    """)
    reviews = t_env.from_elements(
        [
            (1, "Great film", "This movie was absolutely wonderful, a brilliant cast."),
            (2, "Dull film", "Boring. I fell asleep halfway through. Very disappointing."),
            (3, "Average film", "It was okay, nothing special."),
        ],
        DataTypes.ROW(
            [
                DataTypes.FIELD("id", DataTypes.INT()),
                DataTypes.FIELD("movie", DataTypes.STRING()),
                DataTypes.FIELD("review", DataTypes.STRING()),
            ]
        ),
    )
    t_env.create_temporary_view("reviews", reviews)
    flowers = t_env.from_elements(
        [(1, [5.1, 3.5, 1.4, 0.2], 9), (2, [7.0, 3.2, 4.7, 1.4], 9), (3, [6.3, 3.3, 6.0, 2.5], 9)],
        DataTypes.ROW(
            [
                DataTypes.FIELD("id", DataTypes.INT()),
                DataTypes.FIELD("f", DataTypes.ARRAY(DataTypes.FLOAT())),
                DataTypes.FIELD("class_id", DataTypes.INT()),
            ]
        ),
    )
    t_env.create_temporary_view("flowers", flowers)
    items = t_env.from_elements(
        [(1, "hi", [1.0, 2.0, 3.0], 10), (2, "hello world", [0.5, 0.5, 0.5], 20)],
        DataTypes.ROW(
            [
                DataTypes.FIELD("k", DataTypes.INT()),
                DataTypes.FIELD("s", DataTypes.STRING()),
                DataTypes.FIELD("v", DataTypes.ARRAY(DataTypes.FLOAT())),
                DataTypes.FIELD("is_long", DataTypes.INT()),
            ]
        ),
    )
    t_env.create_temporary_view("items", items)
    return session


def rows(sql: TritonSql, query: str) -> list[tuple[Any, ...]]:
    table = sql.sql_query(query)
    with table.execute().collect() as results:
        return sorted(tuple(r) for r in results)


def names(sql: TritonSql, query: str) -> list[str]:
    return sql.sql_query(query).get_schema().get_field_names()


SENTIMENT = [(1, "Great film", "positive"), (2, "Dull film", "negative"), (3, "Average film", "neutral")]


def test_output_is_input_columns_then_model_outputs(sql: TritonSql) -> None:
    q = "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review))"
    assert names(sql, q) == ["id", "movie", "review", "output"]
    assert [(i, m, o) for i, m, _, o in rows(sql, q)] == SENTIMENT


def test_named_arguments_and_the_table_wrapper(sql: TritonSql) -> None:
    q = (
        "SELECT id, movie, output FROM TABLE(ML_PREDICT(INPUT => TABLE reviews, MODEL => MODEL sentiment, "
        "ARGS => DESCRIPTOR(review), CONFIG => MAP['max-concurrent-operations', '2', 'timeout', '1 min']))"
    )
    assert rows(sql, q) == SENTIMENT


def test_clashing_output_name_gets_a_zero_and_descriptor_maps_by_position(sql: TritonSql) -> None:
    q = "SELECT * FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f))"
    assert names(sql, q) == ["id", "f", "class_id", "class_id0"]
    got = rows(sql, q)
    assert [(r[0], r[2], r[3]) for r in got] == [(r[0], 9, iris_class(r[1])) for r in got]
    assert [r[3] for r in got] == [0, 1, 2]


def test_multi_output_model_in_a_join_and_a_subquery(sql: TritonSql, triton_url: str) -> None:
    before = _inferences(triton_url, "multi-io")
    q = (
        "SELECT p.k, p.id_times_two, p.text_upper, p.text_length, p.vec_sum, p.vec_scaled, p.is_long, p.is_long0, "
        "i.s FROM ML_PREDICT(TABLE items, MODEL mio, DESCRIPTOR(k, s, v)) AS p "
        "JOIN (SELECT k, s FROM items) AS i ON p.k = i.k"
    )
    got = rows(sql, q)
    assert got[0][:5] == (1, 2, "HI", 2, pytest.approx(6.0)) and list(got[0][5]) == [0.5, 1.0, 1.5]
    assert got[0][6:] == (10, False, "hi")  # the input's is_long, then the model's is_long0
    assert got[1][:4] == (2, 4, "HELLO WORLD", 11) and got[1][7] is True
    assert names(sql, "SELECT * FROM ML_PREDICT(TABLE items, MODEL mio, DESCRIPTOR(k, s, v))") == [
        "k",
        "s",
        "v",
        "is_long",
        "id_times_two",
        "text_upper",
        "text_length",
        "vec_sum",
        "vec_scaled",
        "is_long0",
    ]
    # Each row is inferred once, not once per selected output field.
    assert _inferences(triton_url, "multi-io") - before == 2


def _inferences(url: str, model: str) -> int:
    """Rows the model has run (Triton's inference_count)."""
    with urllib.request.urlopen(f"{url}/v2/models/{model}/stats") as resp:
        stats = json.load(resp)
    return int(stats["model_stats"][0]["inference_count"])


def test_view_insert_several_calls_and_one_over_another(sql: TritonSql, triton_url: str) -> None:
    sql.execute_sql(
        "CREATE TEMPORARY VIEW judged AS SELECT id, output AS verdict FROM "
        "ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review))"
    )
    assert rows(sql, "SELECT * FROM judged") == [(1, "positive"), (2, "negative"), (3, "neutral")]
    # One over another, Flink's way (a view) and ours (a query as TABLE argument): the model
    # classifies its own first verdicts. Written by hand, not asked of the client under test: the
    # labels are no sentiment words of the model's lexicon (model_repository/text-classification),
    # so each verdict is itself judged neutral.
    expected = ["neutral", "neutral", "neutral"]
    q = "SELECT id, output FROM ML_PREDICT(TABLE judged, MODEL sentiment, DESCRIPTOR(verdict))"
    assert rows(sql, q) == list(zip([1, 2, 3], expected))
    q = (
        "SELECT id, output FROM ML_PREDICT(TABLE (SELECT id, output AS first_pass FROM "
        "ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review))), MODEL sentiment, DESCRIPTOR(first_pass))"
    )
    assert rows(sql, q) == list(zip([1, 2, 3], expected))
    sql.execute_sql(
        "CREATE TEMPORARY TABLE verdicts (id INT, label STRING, cls BIGINT) WITH ('connector' = 'blackhole')"
    )
    result = sql.execute_sql(
        "INSERT INTO verdicts SELECT r.id, r.output, f.class_id0 FROM "
        "ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review)) AS r JOIN "
        "ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f)) AS f ON r.id = f.id"
    )
    result.wait()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(id, review))",
            r"Number of descriptor columns \(2\) does not match model input size \(1\)",
        ),
        (
            "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(no_col))",
            "Descriptor column 'no_col' not found in table columns. Available columns: id, movie, review",
        ),
        (
            "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(id))",
            "Descriptor column 'id' type INT cannot be assigned to model input type STRING at position 0",
        ),
        (
            "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review), MAP['output-mode', 'RANDOM'])",
            "Could not parse value 'RANDOM' for key 'output-mode'",
        ),
        (
            "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review), MAP['k', 1])",
            r"Invalid argument type at position 3. Data type MAP<STRING, STRING> expected",
        ),
    ],
)
def test_flinks_validation_errors(sql: TritonSql, query: str, message: str) -> None:
    with pytest.raises(TritonConfigError, match=message):
        sql.sql_query(query)


def test_create_model_with_a_bad_option_fails_at_create(sql: TritonSql, triton_url: str) -> None:
    with pytest.raises(TritonConfigError, match="CREATE MODEL bad_model: Invalid value for option 'max-retries'"):
        sql.execute_sql(
            f"CREATE TEMPORARY MODEL bad_model INPUT (a STRING) OUTPUT (b STRING) WITH ("
            f"'provider' = 'triton', 'endpoint' = '{triton_url}', 'model-name' = 'x', 'max-retries' = '-1')"
        )
    with pytest.raises(TritonConfigError, match="(?s)Unsupported options found for 'triton'.*batchsize"):
        sql.execute_sql(
            f"CREATE TEMPORARY MODEL bad_model INPUT (a STRING) OUTPUT (b STRING) WITH ("
            f"'provider' = 'triton', 'endpoint' = '{triton_url}', 'model-name' = 'x', 'batchsize' = '4')"
        )
    with pytest.raises(TritonConfigError, match="INPUT column `a`: .*DECIMAL is not supported"):
        sql.execute_sql(
            f"CREATE TEMPORARY MODEL bad_model INPUT (a DECIMAL(10, 2)) OUTPUT (b STRING) WITH ("
            f"'provider' = 'triton', 'endpoint' = '{triton_url}', 'model-name' = 'x')"
        )
    assert sql.model("bad_model") is None  # nothing was stored


def test_model_statements_and_alter(sql: TritonSql, triton_url: str) -> None:
    sql.execute_sql(
        f"CREATE MODEL IF NOT EXISTS cat_model INPUT (a STRING) OUTPUT (b STRING) WITH ("
        f"'provider' = 'triton', 'endpoint' = '{triton_url}', 'model-name' = 'text-classification')"
    )
    with sql.execute_sql("SHOW MODELS").collect() as r:
        assert ("cat_model",) in [tuple(x) for x in r]
    with sql.execute_sql("DESCRIBE MODEL cat_model").collect() as r:
        assert [tuple(x)[:2] for x in r] == [("a", "STRING"), ("b", "STRING")]
    with sql.execute_sql("SHOW CREATE MODEL cat_model").collect() as r:
        assert "'model-name' = 'text-classification'" in next(iter(r))[0]
    sql.execute_sql("ALTER MODEL cat_model SET ('max-retries' = '2')")
    assert sql.model("cat_model").options["max-retries"] == "2"
    with pytest.raises(TritonConfigError, match="ALTER MODEL cat_model: Invalid value for option 'timeout'"):
        sql.execute_sql("ALTER MODEL cat_model SET ('timeout' = 'soon')")
    assert "timeout" not in sql.model("cat_model").options
    sql.execute_sql("ALTER MODEL cat_model RESET ('max-retries')")
    assert "max-retries" not in sql.model("cat_model").options
    sql.execute_sql("ALTER MODEL cat_model RENAME TO cat_model2")
    assert sql.model("cat_model") is None and sql.model("cat_model2") is not None
    q = "SELECT id, b FROM ML_PREDICT(TABLE reviews, MODEL cat_model2, DESCRIPTOR(review))"
    assert rows(sql, q) == [(1, "positive"), (2, "negative"), (3, "neutral")]
    sql.execute_sql("DROP MODEL cat_model2")
    assert sql.model("cat_model2") is None


def test_other_providers_are_left_to_flink(sql: TritonSql) -> None:
    sql.execute_sql(
        "CREATE TEMPORARY MODEL other INPUT (a STRING) OUTPUT (b STRING) "
        "WITH ('provider' = 'openai', 'endpoint' = 'x', 'whatever' = 'y')"
    )
    q = "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL other, DESCRIPTOR(review))"
    assert sql.rewrite(q) == q
    with pytest.raises(Exception, match="model provider|ModelProviderFactory|openai"):
        sql.sql_query(q).execute()


def test_table_api_predict_with_a_catalog_model_and_a_provider(sql: TritonSql, triton_url: str) -> None:
    from pyflink_triton import TritonProvider
    from pyflink_triton.sql import predict

    reviews = sql.t_env.from_path("reviews")
    result = predict(reviews, "sentiment", ["review"], session=sql)
    assert result.get_schema().get_field_names() == ["id", "movie", "review", "output"]
    with result.execute().collect() as r:
        assert sorted((x[0], x[1], x[3]) for x in r) == SENTIMENT
    flowers = sql.t_env.from_path("flowers")
    result = predict(
        flowers,
        TritonProvider(endpoint=triton_url, model_name="classifier"),
        "f",
        config={"max-concurrent-operations": "2"},
        session=sql,
    )
    assert result.get_schema().get_field_names() == ["id", "f", "class_id", "class_id0"]
    with result.execute().collect() as r:
        assert sorted((x[0], x[3]) for x in r) == [(1, 0), (2, 1), (3, 2)]


def test_async_config_uses_the_async_udf(sql: TritonSql) -> None:
    q = (
        "SELECT id, output FROM ML_PREDICT(TABLE reviews, MODEL sentiment, DESCRIPTOR(review), "
        "MAP['async', 'true', 'max-concurrent-operations', '8'])"
    )
    assert rows(sql, q) == [(i, o) for i, _, o in SENTIMENT]
    assert sql.t_env.get_config().get("table.exec.async-scalar.retry-strategy", "") == "NO_RETRY"


def test_declared_types_are_checked_against_the_server_at_create(sql: TritonSql, triton_url: str) -> None:
    """`INPUT (features FLOAT)` for the classifier's [4] FP32 input once crashed deep inside a job
    with `len() of unsized object`; now CREATE MODEL shows both sides of every mismatch."""
    ep = triton_url + "/v2/models"
    statement = (
        "CREATE TEMPORARY MODEL bad_iris INPUT (features FLOAT) OUTPUT (class_id STRING) "
        f"WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'classifier')"
    )
    with pytest.raises(TritonConfigError) as info:
        sql.execute_sql(statement)
    text = str(info.value)
    assert text.startswith("CREATE MODEL bad_iris: the declared columns do not fit the model's tensors")
    assert "  input features FLOAT  <->  'features' FP32 per-row dims [4] (takes ARRAY<FLOAT>)" in text
    assert "  output class_id STRING  <->  'class_id' INT64" in text
    assert sql.model("bad_iris") is None  # Flink never stored it


def test_an_offline_create_is_checked_when_the_job_opens(sql: TritonSql, triton_url: str) -> None:
    offline = TritonSql(sql.t_env, check_models=False)
    ep = triton_url + "/v2/models"
    offline.execute_sql(
        "CREATE TEMPORARY MODEL unchecked_iris INPUT (features STRING) OUTPUT (class_id BIGINT) "
        f"WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'classifier')"
    )
    with pytest.raises(Exception, match="input features STRING  <->  'features' FP32|declared columns do not fit"):
        rows(offline, "SELECT * FROM ML_PREDICT(TABLE reviews, MODEL unchecked_iris, DESCRIPTOR(review))")


def test_an_unreachable_server_does_not_fail_create(sql: TritonSql, caplog: pytest.LogCaptureFixture) -> None:
    from .conftest import free_port

    sql.execute_sql(
        "CREATE TEMPORARY MODEL far_away INPUT (x STRING) OUTPUT (y STRING) WITH ('provider' = 'triton', "
        f"'endpoint' = 'http://127.0.0.1:{free_port()}', 'model-name' = 'm')"
    )
    assert sql.model("far_away") is not None
    assert any("far_away: the server did not answer" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("is_async", ["false", "true"])
def test_error_mode_column_keeps_failed_rows_visible(sql: TritonSql, fault: Any, is_async: str) -> None:
    """CONFIG 'error-mode' = 'column': every input row comes out once; the rows of the request
    that got a 503 carry NULL outputs and the reason, a row that does not fit the model its own
    reason, the rest their values; the job does not fail."""
    sql.execute_sql(
        f"CREATE TEMPORARY MODEL IF NOT EXISTS flaky_{is_async} INPUT (x ARRAY<FLOAT>) OUTPUT (OUT_x ARRAY<FLOAT>) "
        f"WITH ('provider' = 'triton', 'endpoint' = '{fault.url}', 'model-name' = 'm', 'batch-size' = '3')"
    )
    values = [(i, [float(i), float(i)]) for i in range(9)] + [(9, [9.0, None])]
    table = sql.t_env.from_elements(
        values,
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("x", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    sql.t_env.create_temporary_view(f"flaky_input_{is_async}", table)
    fault.actions = [("status", 503, "overloaded")]
    sent_before = len(fault.infer_requests)
    got = rows(
        sql,
        f"SELECT id, OUT_x, error FROM ML_PREDICT(TABLE flaky_input_{is_async}, "
        f"MODEL flaky_{is_async}, DESCRIPTOR(x), MAP['error-mode', 'column', 'async', '{is_async}'])",
    )
    assert [r[0] for r in got] == list(range(10))
    by_id = {r[0]: (None if r[1] is None else list(r[1]), r[2]) for r in got}
    assert by_id[9][0] is None and by_id[9][1].startswith("TritonSchemaError: Triton model 'm' at ")
    failed = [i for i in range(9) if by_id[i][1] is not None]
    assert len(failed) == fault.infer_requests[sent_before].header_json["inputs"][0]["shape"][0] >= 1
    for i in range(9):
        if i in failed:
            request_id = fault.infer_requests[sent_before].header_json["id"]
            assert by_id[i] == (
                None,
                f"TritonServiceError: Triton model 'm' at {fault.url}: inference "
                f"failed with HTTP 503: overloaded [request {request_id}]",
            )
        else:
            assert by_id[i] == ([float(i)] * 2, None)


def test_error_mode_must_be_fail_or_column(sql: TritonSql) -> None:
    with pytest.raises(TritonConfigError, match="'error-mode' must be one of fail, column, got 'maybe'"):
        sql.sql_query("SELECT * FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f), MAP['error-mode', 'maybe'])")


def test_a_fifth_argument_is_left_to_flink_to_reject(sql: TritonSql) -> None:
    """It was dropped silently and the query ran; Flink rejects the call, in its own words."""
    with pytest.raises(TritonConfigError) as info:
        sql.sql_query("SELECT * FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f), MAP['async', 'false'], 'x')")
    assert str(info.value).startswith("No match found for function signature ML_PREDICT(")
    assert "Supported signatures are:" in str(info.value)


def test_an_updating_input_is_rejected_as_flink_does(sql: TritonSql) -> None:
    """An aggregating view makes updates; Flink's ML_PREDICT consumes inserts only (it ran and
    re-predicted on retractions before)."""
    sql.execute_sql(
        "CREATE TEMPORARY VIEW IF NOT EXISTS last_review AS "
        "SELECT movie, MAX(review) AS review FROM reviews GROUP BY movie"
    )
    with pytest.raises(
        TritonConfigError,
        match=r"^ML_PREDICT doesn't support consuming update and delete "
        r"changes which is produced by node GroupAggregate\(groupBy=\[movie\]",
    ):
        sql.sql_query("SELECT * FROM ML_PREDICT(TABLE last_review, MODEL sentiment, DESCRIPTOR(review))")


def test_ml_predict_over_a_common_table_expression(sql: TritonSql) -> None:
    """`WITH v AS (...) ... ML_PREDICT(TABLE v, ...)` gave "Object 'v' not found"; a WITH table
    that uses an earlier one, with a column list, works too."""
    got = rows(
        sql,
        """
        WITH picked AS (SELECT id, f FROM flowers WHERE id <> 2),
             renamed(k, features) AS (SELECT id, f FROM picked)
        SELECT k, class_id FROM ML_PREDICT(TABLE renamed, MODEL iris, DESCRIPTOR(features))""",
    )
    assert got == [(1, iris_class([5.1, 3.5, 1.4, 0.2])), (3, iris_class([6.3, 3.3, 6.0, 2.5]))]


def test_secrets_stay_out_of_plans_and_function_reprs(sql: TritonSql, triton_url: str) -> None:
    """The token and the endpoint's password travel inside the function, never in its name,
    its repr or the printed plan."""
    token, password = "tok-PLAN-S3CRET", "pw-PLAN-S3CRET"
    ep = triton_url.replace("http://", f"http://bob:{password}@") + "/v2/models"
    sql.execute_sql(
        "CREATE TEMPORARY MODEL IF NOT EXISTS secret_iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT) "
        f"WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'classifier', 'auth-token' = '{token}')"
    )
    table = sql.sql_query("SELECT * FROM ML_PREDICT(TABLE flowers, MODEL secret_iris, DESCRIPTOR(f))")
    plan = table.explain()
    assert "PythonCalc" in plan and token not in plan and password not in plan
    from pyflink_triton.config import TritonOptions
    from pyflink_triton.engine import EngineConfig, InferenceEngine
    from pyflink_triton.flink import TritonAsyncFunction, TritonPandasFunction

    config = EngineConfig.of(TritonOptions.from_map(sql.model("secret_iris").options))  # type: ignore[union-attr]
    for obj in (config.options, InferenceEngine(config), TritonPandasFunction(config), TritonAsyncFunction(config)):
        assert token not in repr(obj) and password not in repr(obj), type(obj).__name__
