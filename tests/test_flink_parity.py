"""Parity with Flink's own ML_PREDICT and model DDL, walked behaviour by behaviour on one session.

Every error case says whose text comes out and checks it: ``flink`` (Flink's validator, which
says the same about the statement on its own), ``flink-planner`` (the config check of Flink's
planner rule, which PyFlink 2.3 reaches only with a model provider, run here by us) or ``ours``
(Flink has no word before it looks for the provider: it accepts the call, or fails inside
itself). Almost everything is planning only; one job runs.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from pyflink_triton.errors import TritonConfigError
from pyflink_triton.sql import TritonSql, java_message
from pyflink_triton.sql.functions import flink_config_error

from .conftest import iris_class

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

PROVIDER_MISSING = (
    "Could not find any factories that implement "
    "'org.apache.flink.table.factories.ModelProviderFactory' in the classpath."
)
T = "RecordType(INTEGER id, VARCHAR(2147483647) review)"  # the table t, as Flink prints it
SENTIMENT = "RecordType(VARCHAR(2147483647) output)"
SIGNATURES = (
    "Supported signatures are:\nML_PREDICT(INPUT => {TABLE, ROW SEMANTIC TABLE}, MODEL => {MODEL}, "
    "ARGS => DESCRIPTOR, CONFIG => MAP<STRING, STRING>)"
)
NOT_LITERAL = "Config parameter of ML_PREDICT function should be a MAP data type consisting String literals."


@pytest.fixture(scope="module")
def sql(triton_url: str) -> TritonSql:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    session = TritonSql(t_env)
    ep = triton_url + "/v2/models"
    session.execute_script(f"""
        CREATE TEMPORARY MODEL sentiment INPUT (`input` STRING) OUTPUT (`output` STRING)
        WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'text-classification');
        CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT)
        WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'classifier');
        CREATE TEMPORARY MODEL mio INPUT (ids BIGINT, `text` STRING, vec ARRAY<FLOAT>)
        OUTPUT (id_times_two BIGINT, text_upper STRING, text_length INT, vec_sum DOUBLE,
                vec_scaled ARRAY<FLOAT>, is_long BOOLEAN)
        WITH ('provider' = 'triton', 'endpoint' = '{ep}', 'model-name' = 'multi-io');
        CREATE TEMPORARY MODEL other INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'openai');
        CREATE TEMPORARY TABLE t (id INT, review STRING) WITH ('connector' = 'datagen');
        CREATE TEMPORARY TABLE wide (id INT, review STRING, n INT NOT NULL, f ARRAY<FLOAT>, class_id INT,
                                     is_long STRING) WITH ('connector' = 'datagen');
        CREATE TEMPORARY TABLE clash (`output` STRING, output0 STRING, review STRING) WITH ('connector' = 'datagen');
    """)
    return session


def flink_alone(sql: TritonSql, statement: str) -> str:
    """What Flink says about ``statement`` on its own (no rewriting); '' when it accepts it."""
    try:
        sql.t_env.sql_query(statement)
    except Exception as exc:
        return java_message(exc)
    return ""


def our_error(sql: TritonSql, statement: str) -> str:
    with pytest.raises(TritonConfigError) as info:
        sql.sql_query(statement)
    return str(info.value)


def schema(sql: TritonSql, query: str) -> list[tuple[str, str]]:
    columns = sql.sql_query(query)._j_table.getResolvedSchema().getColumns()
    return [(c.getName(), c.getDataType().toString()) for c in columns]


# -- malformed calls: who speaks, and the exact text -------------------------------------------

P = "SELECT * FROM ML_PREDICT"
CASES = [
    # Flink's validator: these came out in our words before.
    (
        "too_few_arguments",
        f"{P}(TABLE t, MODEL sentiment)",
        "flink",
        f"No match found for function signature ML_PREDICT(<{T}>, <{SENTIMENT}>).\n{SIGNATURES}",
    ),
    (
        "named_without_args",
        f"{P}(INPUT => TABLE t, MODEL => MODEL sentiment)",
        "flink",
        "DEFAULT is only allowed for optional parameters",
    ),
    (
        "second_argument_a_name",
        f"{P}(TABLE t, sentiment, DESCRIPTOR(review))",
        "flink",
        "Column 'sentiment' not found in any table",
    ),
    (
        "second_argument_a_string",
        f"{P}(TABLE t, 'sentiment', DESCRIPTOR(review))",
        "flink",
        "Invalid argument value. Argument 'MODEL' expects a model to be passed.",
    ),
    (
        "model_without_a_name",
        f"{P}(TABLE t, MODEL, DESCRIPTOR(review))",
        "flink",
        "Column 'MODEL' not found in any table",
    ),
    (
        "first_argument_without_table",
        f"{P}(t, MODEL sentiment, DESCRIPTOR(review))",
        "flink",
        "Column 't' not found in any table",
    ),
    (
        "qualified_descriptor_column",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(t.review))",
        "flink",
        "Third argument must be a descriptor with simple column names for ML_PREDICT function.",
    ),
    (
        "expression_in_descriptor",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review || 'x'))",
        "flink",
        "Third argument must be a descriptor with simple column names for ML_PREDICT function.",
    ),
    (
        "config_map_of_an_int",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['k', 1])",
        "flink",
        "Invalid argument type at position 3. Data type MAP<STRING, STRING> expected but "
        "MAP<CHAR(1) NOT NULL, INT NOT NULL> NOT NULL passed.",
    ),
    (
        "config_a_string",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), 'async')",
        "flink",
        f"No match found for function signature ML_PREDICT(<{T}>, <{SENTIMENT}>, <COLUMN_LIST>, <CHARACTER>).\n"
        f"{SIGNATURES}",
    ),
    (
        "config_map_odd",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['async'])",
        "flink",
        "Map requires an even number of arguments",
    ),
    (
        "fifth_argument",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['async', 'false'], 'x')",
        "flink",
        f"No match found for function signature ML_PREDICT(<{T}>, <{SENTIMENT}>, <COLUMN_LIST>, "
        f"<(CHAR(5), CHAR(5)) MAP>, <CHARACTER>).\n{SIGNATURES}",
    ),
    # Flink's validator, on calls our parser always read.
    (
        "descriptor_count",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(id, review))",
        "flink",
        "Number of descriptor columns (2) does not match model input size (1).",
    ),
    (
        "descriptor_column_missing",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(no_col))",
        "flink",
        "Descriptor column 'no_col' not found in table columns. Available columns: id, review.",
    ),
    (
        "descriptor_type",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(id))",
        "flink",
        "Descriptor column 'id' type INT cannot be assigned to model input type STRING at position 0.",
    ),
    (
        "output_names_clash_twice",
        f"{P}(TABLE clash, MODEL sentiment, DESCRIPTOR(review))",
        "flink",
        "Field names must be unique. Found duplicates: [output0]",
    ),
    # Flink's planner rule checks the config map; PyFlink 2.3 never gets there without a provider.
    (
        "async_yes",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['async', 'yes'])",
        "flink-planner",
        "Failed to parse the config. Could not parse value 'yes' for key 'async'. "
        "Unrecognized option for boolean: yes. Expected either true or false(case insensitive)",
    ),
    (
        "negative_max_concurrent_async",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['async', 'true', 'max-concurrent-operations', '-1'])",
        "flink-planner",
        "Invalid runtime config option 'max-concurrent-operations'. Its value should be positive integer but was -1.",
    ),
    (
        "max_concurrent_not_a_number",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['max-concurrent-operations', 'x'])",
        "flink-planner",
        "Failed to parse the config. Could not parse value 'x' for key 'max-concurrent-operations'. "
        'For input string: "x"',
    ),
    (
        "output_mode",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['output-mode', 'RANDOM'])",
        "flink-planner",
        "Failed to parse the config. Could not parse value 'RANDOM' for key 'output-mode'. "
        "Could not parse value for enum class org.apache.flink.table.api.config.ExecutionConfigOptions$AsyncOutputMode. "
        "Expected one of: [[ORDERED, ALLOW_UNORDERED]]",
    ),
    (
        "timeout",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['timeout', 'soon'])",
        "flink-planner",
        "Failed to parse the config. Could not parse value 'soon' for key 'timeout'. "
        "text does not start with a number, and is not a valid ISO-8601 duration format: soon",
    ),
    # Ours: Flink accepts these up to the provider, or fails inside itself.
    (
        "unknown_named_argument",
        f"{P}(INPUT => TABLE t, MODEL => MODEL sentiment, ARGS => DESCRIPTOR(review), FOO => 1)",
        "ours",
        "ML_PREDICT has no argument named FOO; its arguments are INPUT, MODEL, ARGS, CONFIG",
    ),
    (
        "positional_after_named",
        f"{P}(INPUT => TABLE t, MODEL sentiment, DESCRIPTOR(review))",
        "ours",
        "ML_PREDICT: positional arguments cannot follow named ones",
    ),
    (
        "config_map_not_literal",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['k', CAST(1 AS STRING)])",
        "ours",
        NOT_LITERAL,
    ),
    (
        "error_mode",
        f"{P}(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP['error-mode', 'maybe'])",
        "ours",
        "ML_PREDICT config 'error-mode' must be one of fail, column, got 'maybe'",
    ),
    (
        "updating_input",
        f"{P}(TABLE (SELECT review, COUNT(*) AS c FROM t GROUP BY review), MODEL sentiment, DESCRIPTOR(review))",
        "ours",
        "ML_PREDICT doesn't support consuming update and delete changes which is "
        "produced by node GroupAggregate(groupBy=[review], select=[review, COUNT(*) AS c])",
    ),
]


@pytest.mark.parametrize(("statement", "whose", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_calls_speak_in_flinks_words_where_flink_has_any(
    sql: TritonSql, statement: str, whose: str, expected: str
) -> None:
    assert our_error(sql, statement) == expected
    alone = flink_alone(sql, statement)
    if whose == "flink":
        assert alone == expected
    elif whose == "flink-planner":
        assert alone == PROVIDER_MISSING  # Flink's own check, which Flink alone never reaches here
    elif "TABLE (" not in statement:  # ours; Flink alone cannot read a query input at all
        assert alone in (PROVIDER_MISSING, "index (1) must be less than size (1)")


def test_flinks_config_check_is_flinks_own_code(sql: TritonSql) -> None:
    """``flink-planner`` texts come from Flink's planner rule itself; it accepts what Flink does."""
    assert flink_config_error(sql.t_env, {"async": "yes"}) == next(c[3] for c in CASES if c[0] == "async_yes")
    for accepted in (
        {"max-concurrent-operations": "-1"},
        {"output-mode": "allow_unordered"},
        {"async": "TRUE", "timeout": "10000"},
        {"unknown-key": "x", "error-mode": "column"},
        {},
    ):
        assert flink_config_error(sql.t_env, accepted) is None, accepted


@pytest.mark.parametrize(
    ("statement", "first_line"),
    [
        (
            "SELECT *\nFROM ML_PREDICT(TABLE t, MODEL sentiment DESCRIPTOR(review))",
            'Encountered "DESCRIPTOR" at line 2, column 42.',
        ),
        (
            "SELECT id FROM ML_PREDICT(TABLE t, MODEL sentiment, DESCRIPTOR(review)",
            'Encountered "<EOF>" at line 1, column 70.',
        ),
        (
            "SELECT id FROM ML_PREDICT(TABLE t, MODEL sentiment, DESCRIPTOR(review), MAP[\"async\", 'true'])",
            'Encountered "\\"" at line 1, column 77.',
        ),
    ],
    ids=["missing_comma", "unclosed_call", "double_quoted_key"],
)
def test_syntax_errors_are_flinks_with_positions_in_the_statement(
    sql: TritonSql, statement: str, first_line: str
) -> None:
    text = our_error(sql, statement)
    assert text.splitlines()[0] == first_line
    assert text == flink_alone(sql, statement)  # word for word, "Was expecting one of:" list included


def test_a_query_or_with_input_is_handed_to_flink_as_a_view(sql: TritonSql) -> None:
    """Our extension (a query as TABLE argument) and a WITH table: Flink sees the call as
    written, the input named by a view, and speaks about the rest."""
    qualified = "Third argument must be a descriptor with simple column names for ML_PREDICT function."
    assert our_error(sql, f"{P}(TABLE (SELECT * FROM t), MODEL sentiment, DESCRIPTOR(t.review))") == qualified
    assert (
        our_error(sql, f"WITH v AS (SELECT * FROM t) {P}(TABLE v, MODEL sentiment, DESCRIPTOR(v.review))") == qualified
    )
    assert our_error(sql, f"{P}(TABLE (SELECT * FROM t), MODEL sentiment, DESCRIPTOR(no_col))") == (
        "Descriptor column 'no_col' not found in table columns. Available columns: id, review."
    )


def test_calls_over_other_models_are_left_to_flink_malformed_or_not(sql: TritonSql) -> None:
    for q in (
        f"{P}(TABLE t, MODEL other, DESCRIPTOR(review))",
        f"{P}(INPUT => TABLE t, MODEL => MODEL other, ARGS => DESCRIPTOR(review), FOO => 1)",
    ):
        assert sql.rewrite(q) == q
    with pytest.raises(Exception) as info:  # Flink's error as Flink raises it
        sql.sql_query(f"{P}(TABLE t, MODEL nosuch, DESCRIPTOR(review))")
    assert java_message(info.value) == "Object 'nosuch' not found"


# -- call forms and the output schema ----------------------------------------------------------

WIDE = [
    ("id", "INT"),
    ("review", "STRING"),
    ("n", "INT NOT NULL"),
    ("f", "ARRAY<FLOAT>"),
    ("class_id", "INT"),
    ("is_long", "STRING"),
]


@pytest.mark.parametrize(
    "query",
    [
        f"{P}(TABLE wide, MODEL iris, DESCRIPTOR(f))",
        f"{P}(INPUT => TABLE wide, MODEL => MODEL iris, ARGS => DESCRIPTOR(f))",
        f"{P}(MODEL => MODEL iris, ARGS => DESCRIPTOR(f), INPUT => TABLE wide)",
        "SELECT * FROM TABLE(ML_PREDICT(TABLE wide, MODEL iris, DESCRIPTOR(f), MAP['timeout', '1 min']))",
        "SELECT * FROM ml_predict(TABLE `wide`, MODEL `default_catalog`.`default_database`.`iris`, DESCRIPTOR(`f`))",
        f"{P}(TABLE wide, MODEL iris, DESCRIPTOR(f), MAP['max-concurrent-operations', '-1', 'unknown', 'x'])",
    ],
    ids=["positional", "named", "named_reordered", "table_wrapper", "quoted_qualified", "accepted_config"],
)
def test_every_call_form_gives_input_columns_then_outputs_with_a_zero_on_a_clash(sql: TritonSql, query: str) -> None:
    assert schema(sql, query) == [*WIDE, ("class_id0", "BIGINT")]


def test_several_outputs_keep_their_declared_types_and_descriptor_maps_by_position(sql: TritonSql) -> None:
    """``n INT NOT NULL`` feeds the BIGINT input ``ids`` (an implicit cast Flink allows); only
    the output named like an input column gets the ``0``."""
    assert schema(sql, f"{P}(TABLE wide, MODEL mio, DESCRIPTOR(n, review, f))") == [
        *WIDE,
        ("id_times_two", "BIGINT"),
        ("text_upper", "STRING"),
        ("text_length", "INT"),
        ("vec_sum", "DOUBLE"),
        ("vec_scaled", "ARRAY<FLOAT>"),
        ("is_long0", "BOOLEAN"),
    ]


def test_an_append_only_query_input_is_accepted(sql: TritonSql) -> None:
    q = f"{P}(TABLE (SELECT id, review FROM t WHERE id > 3), MODEL sentiment, DESCRIPTOR(review))"
    assert schema(sql, q) == [("id", "INT"), ("review", "STRING"), ("output", "STRING")]


def test_one_job_runs_the_named_form_with_the_clash_suffix(sql: TritonSql) -> None:
    flowers = sql.t_env.from_elements(
        [(1, [5.1, 3.5, 1.4, 0.2], 9), (2, [7.0, 3.2, 4.7, 1.4], 9)],
        DataTypes.ROW(
            [
                DataTypes.FIELD("id", DataTypes.INT()),
                DataTypes.FIELD("f", DataTypes.ARRAY(DataTypes.FLOAT())),
                DataTypes.FIELD("class_id", DataTypes.INT()),
            ]
        ),
    )
    sql.t_env.create_temporary_view("flowers", flowers)
    table = sql.sql_query(
        "SELECT id, class_id, class_id0 FROM TABLE(ML_PREDICT(INPUT => TABLE flowers, "
        "MODEL => MODEL iris, ARGS => DESCRIPTOR(f), CONFIG => MAP['max-concurrent-operations', '2']))"
    )
    with table.execute().collect() as results:
        got = sorted(tuple(r) for r in results)
    assert got == [(1, 9, iris_class([5.1, 3.5, 1.4, 0.2])), (2, 9, iris_class([7.0, 3.2, 4.7, 1.4]))]


# -- model DDL: Flink's statements, ours only adds option checks -------------------------------


def rows(result: Any) -> list[tuple[Any, ...]]:
    with result.collect() as r:
        return [tuple(x) for x in r]


def test_model_ddl_is_flinks(sql: TritonSql, triton_url: str) -> None:
    create = (
        f"CREATE MODEL cm INPUT (a STRING COMMENT 'the text') OUTPUT (b STRING) COMMENT 'a model' "
        f"WITH ('provider' = 'triton', 'endpoint' = '{triton_url}', 'model-name' = 'text-classification')"
    )
    sql.execute_sql(create)
    sql.execute_sql(create.replace("CREATE MODEL", "CREATE MODEL IF NOT EXISTS"))
    assert rows(sql.execute_sql("SHOW MODELS")) == [("cm",)]  # temporary models are not listed, as in Flink
    assert rows(sql.execute_sql("DESCRIBE MODEL cm")) == [
        ("a", "STRING", True, True, "the text"),
        ("b", "STRING", True, False, None),
    ]
    sql.execute_sql("ALTER MODEL cm SET ('max-retries' = '2')")
    assert rows(sql.execute_sql("SHOW CREATE MODEL cm")) == [
        (
            "CREATE MODEL `default_catalog`.`default_database`.`cm`\n"
            "INPUT (`a` VARCHAR(2147483647) COMMENT 'the text')\nOUTPUT (`b` VARCHAR(2147483647))\nCOMMENT 'a model'\n"
            f"WITH (\n  'endpoint' = '{triton_url}',\n  'max-retries' = '2',\n  'model-name' = 'text-classification',\n"
            "  'provider' = 'triton'\n)\n",
        )
    ]
    with pytest.raises(TritonConfigError, match=r"^ALTER MODEL cm: Invalid value for option 'max-retries'"):
        sql.execute_sql("ALTER MODEL cm SET ('max-retries' = '-1')")  # ours: Flink has no triton factory
    sql.execute_sql("ALTER MODEL cm RESET ('max-retries')")
    sql.execute_sql("ALTER MODEL cm RENAME TO cm2")
    assert rows(sql.execute_sql("SHOW MODELS")) == [("cm2",)]
    assert sql.model("cm2").options.get("max-retries") is None  # type: ignore[union-attr]
    sql.execute_sql("DROP MODEL cm2")
    sql.execute_sql("DROP MODEL IF EXISTS cm2")
    with pytest.raises(Exception) as info:
        sql.execute_sql("DROP MODEL cm2")
    assert java_message(info.value) == "Model with identifier 'default_catalog.default_database.cm2' does not exist."
    with pytest.raises(Exception) as info:
        sql.execute_sql("CREATE TEMPORARY MODEL sentiment INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'x')")
    assert java_message(info.value) == (
        "Temporary model '`default_catalog`.`default_database`.`sentiment`' already exists"
    )


def test_create_model_rejects_unknown_options_in_the_java_providers_words(sql: TritonSql, triton_url: str) -> None:
    """Flink stores any options (it has no triton factory); ours rejects them as the Java
    provider's factory would, and Flink never stores the model."""
    with pytest.raises(TritonConfigError) as info:
        sql.execute_sql(
            f"CREATE TEMPORARY MODEL bad INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'triton', "
            f"'endpoint' = '{triton_url}', 'model-name' = 'x', 'batchsize' = '4')"
        )
    assert str(info.value).startswith("CREATE MODEL bad: Unsupported options found for 'triton'.")
    assert sql.model("bad") is None
