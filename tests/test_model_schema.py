"""A triton model created without INPUT/OUTPUT gets them from the server at CREATE (issue 20,
item 4): DESCRIBE MODEL, SHOW CREATE MODEL and ML_PREDICT work at once, on a real Flink
mini-cluster and the real Triton; a server that does not answer is a clear error."""

from __future__ import annotations

from typing import Any

import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from pyflink_triton.errors import TritonConfigError
from pyflink_triton.flink import configure_inference
from pyflink_triton.sql import TritonSql

from .conftest import free_port, iris_class

# Starts a JVM (PyFlink's TableEnvironment): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

FLOWERS = {1: [5.1, 3.5, 1.4, 0.2], 2: [7.0, 3.2, 4.7, 1.4], 3: [6.3, 3.3, 6.0, 2.5]}


@pytest.fixture(scope="module")
def sql(triton_url: str) -> TritonSql:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    configure_inference(t_env, batch_size=1000, max_latency_ms=200)
    flowers = t_env.from_elements(
        list(FLOWERS.items()),
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("f", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    t_env.create_temporary_view("flowers", flowers)
    return TritonSql(t_env)


def rows(result: Any) -> list[tuple[Any, ...]]:
    with result.collect() as r:
        return [tuple(x) for x in r]


def with_(endpoint: str, model: str, **extra: str) -> str:
    options = {"provider": "triton", "endpoint": endpoint, "model-name": model, **extra}
    return "WITH (" + ", ".join(f"'{k}' = '{v}'" for k, v in options.items()) + ")"


def test_a_model_without_columns_takes_them_from_the_server(sql: TritonSql, triton_url: str) -> None:
    sql.execute_sql(f"CREATE TEMPORARY MODEL iris {with_(triton_url + '/v2/models', 'classifier')}")
    # The classifier's input is FP32 [4] a row, its output INT64 [1]: the mapping predict() uses.
    assert rows(sql.execute_sql("DESCRIBE MODEL iris")) == [
        ("features", "ARRAY<FLOAT>", True, True),
        ("class_id", "BIGINT", True, False),
    ]
    shown = rows(sql.execute_sql("SHOW CREATE MODEL iris"))[0][0]
    assert "INPUT (`features` ARRAY<FLOAT>)" in shown and "OUTPUT (`class_id` BIGINT)" in shown
    got = rows(sql.execute_sql("SELECT id, class_id FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f))"))
    assert sorted(got) == [(i, iris_class(x)) for i, x in FLOWERS.items()]


def test_several_outputs_come_in_the_models_order(sql: TritonSql, triton_url: str) -> None:
    sql.execute_sql(f"CREATE TEMPORARY MODEL mio COMMENT 'several outputs' {with_(triton_url, 'multi-io')}")
    assert rows(sql.execute_sql("DESCRIBE MODEL mio")) == [
        ("ids", "BIGINT", True, True),
        ("text", "STRING", True, True),
        ("vec", "ARRAY<FLOAT>", True, True),
        ("id_times_two", "BIGINT", True, False),
        ("text_upper", "STRING", True, False),
        ("text_length", "INT", True, False),
        ("vec_sum", "DOUBLE", True, False),
        ("vec_scaled", "ARRAY<FLOAT>", True, False),
        ("is_long", "BOOLEAN", True, False),
    ]
    assert "COMMENT 'several outputs'" in rows(sql.execute_sql("SHOW CREATE MODEL mio"))[0][0]


def test_one_clause_alone_is_flinks_error_before_the_server_is_asked(sql: TritonSql) -> None:
    from pyflink_triton.sql import java_message

    # Flink's grammar takes both clauses or neither; an absent server is not what is reported.
    with pytest.raises(Exception) as info:
        sql.execute_sql(f"CREATE TEMPORARY MODEL half INPUT (a STRING) {with_(f'http://127.0.0.1:{free_port()}', 'm')}")
    assert java_message(info.value) == "Output column list can not be empty with non-empty input column list."


def test_a_server_that_does_not_answer_says_to_declare_the_columns(sql: TritonSql) -> None:
    token, password = "tok-C4N4RY-5cq", "pw-C4N4RY-8wz"
    port = free_port()
    endpoint = f"http://alice:{password}@127.0.0.1:{port}/v2/models"
    with pytest.raises(TritonConfigError) as info:
        sql.execute_sql(f"CREATE TEMPORARY MODEL far {with_(endpoint, 'classifier', **{'auth-token': token})}")
    text = str(info.value)
    assert text.startswith(
        "CREATE MODEL far: its INPUT and OUTPUT columns are not declared, and the server did not answer to "
        f"tell them (Triton model 'classifier' at http://127.0.0.1:{port}: model metadata failed"
    ), text
    assert text.endswith("Declare them (INPUT (...) OUTPUT (...)), or start the server and create the model again."), (
        text
    )
    assert token not in text and password not in text and "alice" not in text
    assert sql.model("far") is None  # nothing was stored


def test_a_wrong_model_name_is_named(sql: TritonSql, triton_url: str) -> None:
    with pytest.raises(TritonConfigError) as info:
        sql.execute_sql(f"CREATE TEMPORARY MODEL nope {with_(triton_url, 'no-such-model')}")
    assert str(info.value) == (
        f"CREATE MODEL nope: Triton model 'no-such-model' at {triton_url}: model metadata failed with HTTP 404: "
        "Request for unknown model: 'no-such-model' is not found"
    )
    assert sql.model("nope") is None


def test_a_syntax_error_is_flinks_at_the_typed_position(sql: TritonSql, triton_url: str) -> None:
    from pyflink_triton.sql import java_message

    with pytest.raises(Exception) as info:
        sql.execute_sql(f"CREATE TEMPORARY MODEL bad COMMENT {with_(triton_url, 'classifier')}")
    assert java_message(info.value).startswith('Encountered "WITH" at line 1, column 36.')
