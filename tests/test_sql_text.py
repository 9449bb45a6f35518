"""Statement splitting and ML_PREDICT call parsing: pure text, no Flink."""

from __future__ import annotations

from typing import Any

import pytest

from pyflink_triton.errors import TritonConfigError
from pyflink_triton.sql import find_predict_calls, rewrite_predict_calls, split_statements, tokenize


def test_tokens_join_back_to_the_text() -> None:
    sql = "SELECT 'a;b', `c;d` -- e;f\n/* g;h */ FROM t WHERE x <> 1.5e3;"
    assert "".join(t.text for t in tokenize(sql)) == sql


def test_semicolons_inside_strings_identifiers_and_comments_do_not_split() -> None:
    script = """
    CREATE TEMPORARY VIEW v AS SELECT 'it''s; fine' AS s, `we;ird` FROM t; -- a comment; with semicolons
    /* block; comment;
       spanning lines */
    INSERT INTO sink SELECT "dq;text" FROM v;;
    SELECT 1
    """
    assert split_statements(script) == [
        "CREATE TEMPORARY VIEW v AS SELECT 'it''s; fine' AS s, `we;ird` FROM t",
        '-- a comment; with semicolons\n    /* block; comment;\n       spanning lines */\n    INSERT INTO sink SELECT "dq;text" FROM v',
        "SELECT 1",
    ]


def test_statement_sets_stay_whole() -> None:
    script = "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END; SELECT 3"
    assert split_statements(script) == [
        "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END",
        "SELECT 3",
    ]


def test_a_script_of_only_comments_is_empty() -> None:
    assert split_statements("-- nothing\n/* here */ ;  ;") == []


@pytest.mark.parametrize("bad", ["SELECT 'unclosed", "SELECT `x", "SELECT 1 /* open"])
def test_unclosed_quotes_are_reported_with_the_line(bad: str) -> None:
    with pytest.raises(TritonConfigError, match="Unclosed .* line 1"):
        split_statements(bad)


def calls(sql: str) -> list:
    return [c for _, _, c in find_predict_calls(sql)]


def test_positional_form() -> None:
    (c,) = calls("SELECT * FROM ML_PREDICT(TABLE movie_reviews, MODEL m, DESCRIPTOR(user_review))")
    assert (c.table, c.table_is_query, c.model, c.descriptor, c.config) == (
        "movie_reviews",
        False,
        "m",
        ["user_review"],
        None,
    )
    assert c.text == "ML_PREDICT(TABLE movie_reviews, MODEL m, DESCRIPTOR(user_review))"


def test_named_form_with_config_and_table_wrapper() -> None:
    sql = (
        "SELECT * FROM TABLE(ml_predict(INPUT => TABLE `cat`.`db`.`t`, MODEL => MODEL `my model`, "
        "ARGS => DESCRIPTOR(`a b`, c), CONFIG => MAP['async', 'true', 'timeout', '10s'])) AS p"
    )
    ((start, end, c),) = find_predict_calls(sql)
    assert sql[start:end].startswith("TABLE(ml_predict(") and sql[end:] == " AS p"
    assert (c.table, c.model, c.descriptor) == ("`cat`.`db`.`t`", "`my model`", ["a b", "c"])
    assert c.config == {"async": "true", "timeout": "10s"}


def test_non_literal_config_is_rejected_with_flinks_text() -> None:
    with pytest.raises(TritonConfigError, match="should be a MAP data type consisting String literals"):
        calls("SELECT * FROM ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(a), MAP['k', CAST(1 AS STRING)])")
    with pytest.raises(TritonConfigError, match="String literals"):
        calls("SELECT * FROM ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(a), 'async')")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM ML_PREDICT(TABLE t, DESCRIPTOR(a))", "MODEL is missing|must start with MODEL"),
        ("SELECT * FROM ML_PREDICT(TABLE t, MODEL m)", "DESCRIPTOR is missing"),
        ("SELECT * FROM ML_PREDICT(t, MODEL m, DESCRIPTOR(a))", "must start with TABLE"),
        ("SELECT * FROM ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(a + 1))", "DESCRIPTOR takes column names"),
        (
            "SELECT * FROM ML_PREDICT(INPUT => TABLE t, MODEL => MODEL m, ARGS => DESCRIPTOR(a), FOO => 1)",
            "no argument named FOO",
        ),
    ],
)
def test_malformed_calls(sql: str, message: str) -> None:
    with pytest.raises(TritonConfigError, match=message):
        calls(sql)


def test_several_calls_and_one_over_another() -> None:
    sql = (
        "SELECT * FROM ML_PREDICT(TABLE (SELECT * FROM ML_PREDICT(TABLE t, MODEL a, DESCRIPTOR(x))), "
        "MODEL b, DESCRIPTOR(y)) JOIN ML_PREDICT(TABLE u, MODEL c, DESCRIPTOR(z)) ON TRUE"
    )
    seen = []

    def render(call) -> str:
        seen.append((call.model, call.table))
        return f"<{call.model}>"

    out = rewrite_predict_calls(sql, render)
    assert out == "SELECT * FROM <b> JOIN <c> ON TRUE"
    assert seen == [("a", "t"), ("b", "SELECT * FROM <a>"), ("c", "u")]


def test_ml_predict_in_strings_and_comments_is_not_a_call() -> None:
    sql = "SELECT 'ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(a))' -- ML_PREDICT(x)\nFROM t"
    assert calls(sql) == []
    assert rewrite_predict_calls(sql, lambda c: "X") == sql


def test_render_none_keeps_the_call() -> None:
    sql = "SELECT * FROM ML_PREDICT(TABLE t, MODEL other, DESCRIPTOR(a))"
    assert rewrite_predict_calls(sql, lambda c: None) == sql


def test_common_table_expressions_stand_alone_with_the_ones_before_them() -> None:
    from pyflink_triton.sql.predict import common_table_expressions

    sql = (
        "WITH v AS (SELECT 1 AS a), `W`(x) AS (SELECT a FROM v) "
        "SELECT * FROM ML_PREDICT(TABLE W, MODEL m, DESCRIPTOR(x))"
    )
    assert common_table_expressions(sql) == {
        "v": "WITH v AS (SELECT 1 AS a) SELECT * FROM v",
        "w": "WITH v AS (SELECT 1 AS a), `W`(x) AS (SELECT a FROM v) SELECT * FROM `W`",
    }
    assert common_table_expressions("CREATE TABLE t (a INT) WITH ('connector' = 'x')") == {}


def test_a_call_our_parser_cannot_read_goes_to_the_malformed_callback_first() -> None:
    """Flink speaks first about such a call (session.py): the callback gets what could be
    read, the TABLE argument located, and may raise its own error or keep the call."""
    sql = "SELECT 1 FROM ML_PREDICT(TABLE (SELECT * FROM ML_PREDICT(TABLE t, MODEL a, DESCRIPTOR(x))), MODEL b, DESCRIPTOR(t.y))"
    seen = []

    def malformed(call) -> bool:
        seen.append(call)
        return True

    assert rewrite_predict_calls(sql, lambda c: f"<{c.model}>", malformed) == sql  # kept as written
    (call,) = seen
    assert (call.model, call.table, call.table_is_query, call.start) == ("b", "SELECT * FROM <a>", True, 14)
    assert str(call.error) == "ML_PREDICT: DESCRIPTOR takes column names, got 't.y'"
    assert call.with_table("`v`") == "ML_PREDICT(TABLE `v`, MODEL b, DESCRIPTOR(t.y))"
    with pytest.raises(TritonConfigError, match="DESCRIPTOR takes column names"):
        rewrite_predict_calls(sql, lambda c: None, lambda c: False)
    with pytest.raises(TritonConfigError, match="DESCRIPTOR takes column names"):
        rewrite_predict_calls(sql, lambda c: None)


def test_an_unclosed_call_spans_the_rest_of_the_statement_when_not_strict() -> None:
    sql = "SELECT * FROM ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(a)"
    with pytest.raises(TritonConfigError, match=r"Unbalanced '\('"):
        find_predict_calls(sql)
    ((start, end, call),) = find_predict_calls(sql, strict=False)
    assert (start, end, call.text, call.table_span) == (14, len(sql), sql[14:], None)
    assert str(call.error) == "Unbalanced '(' in ML_PREDICT call"
    from pyflink_triton.sql.predict import common_table_expressions

    assert common_table_expressions("WITH v AS (SELECT 1 SELECT * FROM v") == {}


def test_flink_positions_are_moved_to_where_the_user_wrote_them() -> None:
    from pyflink_triton.sql.predict import statement_positions

    statement = "WITH v AS (SELECT 1 AS a)\nSELECT *\n  FROM ML_PREDICT(TABLE v, MODEL m DESCRIPTOR(a))"
    ((_, _, call),) = find_predict_calls(statement, strict=False)
    probe = "SELECT * FROM " + call.with_table("`__triton_input_1`")
    at = probe.index("DESCRIPTOR") + 1
    message = f'Encountered "DESCRIPTOR" at line 1, column {at}.\nWas expecting one of: ...'
    moved = statement_positions(message, probe, 14, call, "`__triton_input_1`", statement)
    column = statement.splitlines()[2].index("DESCRIPTOR") + 1
    assert moved == f'Encountered "DESCRIPTOR" at line 3, column {column}.\nWas expecting one of: ...'
    inside = statement_positions("at line 1, column 32", probe, 14, call, "`__triton_input_1`", statement)
    assert inside == f"at line 3, column {statement.splitlines()[2].index(' v,') + 2}"  # the view: where v is
    assert statement_positions("at line 1, column 3", probe, 14, call, None, statement) == "at line 1, column 3"


def _binding() -> Any:
    from pyflink_triton.engine import FlinkType, ModelBinding, TensorSpec

    array = FlinkType("ARRAY", element=FlinkType("FLOAT"))
    return ModelBinding(
        "classifier",
        (TensorSpec("features", "FP32", (4,), array),),
        (TensorSpec("class id", "INT64", (1,), FlinkType("BIGINT")),),
        1024,
        False,
    )


@pytest.mark.parametrize(
    ("written", "completed"),
    [
        (
            "CREATE TEMPORARY MODEL m WITH ('provider' = 'triton')",
            "CREATE TEMPORARY MODEL m INPUT (`features` ARRAY<FLOAT>) OUTPUT (`class id` BIGINT) WITH ('provider' = 'triton')",
        ),
        (
            "create model if not exists `cat`.db.`m``x` /* c */ COMMENT 'a (model)'\nWITH ('k' = 'INPUT (')",
            "create model if not exists `cat`.db.`m``x` INPUT (`features` ARRAY<FLOAT>) OUTPUT (`class id` BIGINT) "
            "/* c */ COMMENT 'a (model)'\nWITH ('k' = 'INPUT (')",
        ),
        (  # a declared clause is kept as written; the missing one follows it
            "CREATE MODEL m INPUT (x ARRAY<FLOAT> COMMENT 'f(x)') WITH ('provider' = 'triton')",
            "CREATE MODEL m INPUT (x ARRAY<FLOAT> COMMENT 'f(x)') OUTPUT (`class id` BIGINT) WITH ('provider' = 'triton')",
        ),
        (
            "CREATE MODEL m OUTPUT (y BIGINT) WITH ('provider' = 'triton')",
            "CREATE MODEL m INPUT (`features` ARRAY<FLOAT>) OUTPUT (y BIGINT) WITH ('provider' = 'triton')",
        ),
        (
            "CREATE MODEL m INPUT (x STRING) OUTPUT (y BIGINT) WITH ('provider' = 'triton')",
            "CREATE MODEL m INPUT (x STRING) OUTPUT (y BIGINT) WITH ('provider' = 'triton')",
        ),
    ],
)
def test_create_model_gets_the_clauses_it_lacks_written_in(written: str, completed: str) -> None:
    from pyflink_triton.sql.model_schema import with_columns

    tokens = [t for t in tokenize(written) if not t.trivia]
    assert with_columns(written, tokens, _binding()) == completed


def test_the_input_size_a_plan_tells() -> None:
    from pyflink_triton.sql.input_rows import datagen_rows, scanned_table

    scan = (
        "TableSourceScan(table=[[default_catalog, default_database, measurements]], fields=[id, a], changelogMode=[I])"
    )
    computed = f"Calc(select=[id, ARRAY(a) AS features], changelogMode=[I])\n+- {scan}\n"
    assert scanned_table(computed) == ["default_catalog", "default_database", "measurements"]
    # A filter, a limit pushed into the scan, a join: the rows read are not the table's.
    assert scanned_table(computed.replace("AS features]", "AS features], where=[>(id, 3)]")) is None
    assert scanned_table(f"Calc(select=[id])\n+- {scan.replace('measurements]]', 'measurements, limit=[5]]]')}") is None
    assert scanned_table(f"Join(joinType=[InnerJoin])\n:- {scan}\n+- {scan}") is None
    datagen = {"connector": "datagen", "number-of-rows": "500"}
    assert datagen_rows(datagen) == 500
    sequence = {"fields.id.kind": "sequence", "fields.id.start": "1", "fields.id.end": "100"}
    assert datagen_rows({**datagen, **sequence}) == 100  # the sequence ends first
    assert datagen_rows({"connector": "datagen"}) is None  # unbounded
    assert datagen_rows({"connector": "filesystem", "number-of-rows": "5"}) is None
