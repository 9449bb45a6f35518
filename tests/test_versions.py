"""The same features on every supported apache-flink minor (1.20, 2.0, 2.1, 2.2, 2.3).

``make test-matrix`` runs this module (with the other compatibility tests) in one virtual
environment per minor; ``make test`` runs it on the default one. Each fact the package decides
by version (``pyflink_triton.flink.versions``) is checked here against the installed Flink
itself, and every script below is written once, for Flink 2.3, and runs unchanged everywhere.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from pyflink_triton import TritonConfigError, TritonProvider, async_triton_udf
from pyflink_triton.flink import versions
from pyflink_triton.flink.arrow_input import keep_arrow_arrays
from pyflink_triton.flink.patch import patch_state
from pyflink_triton.flink.versions import PATCHED_MINORS, flink_features, patch_applies
from pyflink_triton.sql import TritonSql, java_message
from pyflink_triton.sql.planner_thread import PlannerThreads

from .conftest import iris_class
from .faultserver import FaultServer

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

FEATURES = flink_features()
MINOR = FEATURES.minor

# What each minor has, from its released artifacts (../shared/notes/pyflink-versions.md):
# (Python AsyncScalarFunction, executable CREATE MODEL / ML_PREDICT, ML_PREDICT in batch mode).
EXPECTED = {
    "1.20": (False, False, False),
    "2.0": (False, False, False),
    "2.1": (False, True, False),
    "2.2": (False, True, False),
    "2.3": (True, True, True),
}

FLOWERS = [(1, [5.1, 3.5, 1.4, 0.2]), (2, [7.0, 3.2, 4.7, 1.4]), (3, [6.3, 3.3, 6.0, 2.5]), (4, [5.7, 2.8, 4.1, 1.3])]


def make_env(mode: str) -> TableEnvironment:
    settings = EnvironmentSettings.in_batch_mode() if mode == "batch" else EnvironmentSettings.in_streaming_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", "1")
    return t_env


@pytest.fixture(scope="module")
def stream_env() -> TableEnvironment:
    return make_env("streaming")


@pytest.fixture(scope="module")
def batch_env() -> TableEnvironment:
    return make_env("batch")


def flowers_view(t_env: TableEnvironment, name: str) -> None:
    if name not in t_env.list_temporary_views():
        t_env.create_temporary_view(name, flowers(t_env))


def flowers(t_env: TableEnvironment) -> Any:
    schema = DataTypes.ROW(
        [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("features", DataTypes.ARRAY(DataTypes.FLOAT()))]
    )
    return t_env.from_elements([(i, f) for i, f in FLOWERS], schema)


def classifier_ddl(url: str, name: str = "iris", temporary: bool = True, extra: str = "") -> str:
    return (
        f"CREATE {'TEMPORARY ' if temporary else ''}MODEL {name} INPUT (features ARRAY<FLOAT> COMMENT 'cm') "
        f"OUTPUT (class_id BIGINT) COMMENT 'iris' WITH ('provider' = 'triton', 'endpoint' = '{url}', "
        f"'model-name' = 'classifier'{extra})"
    )


def rows(result: Any) -> list[tuple[Any, ...]]:
    with result.collect() as r:
        return [tuple(x) for x in r]


def expected_classes() -> list[tuple[int, int]]:
    return [(i, iris_class(f)) for i, f in FLOWERS]


# -- the facts ---------------------------------------------------------------------------------


def test_the_installed_minor_is_supported_and_its_features_are_known() -> None:
    assert FEATURES.supported, f"PyFlink {FEATURES.version} is not one of {versions.SUPPORTED_MINORS}"
    assert (FEATURES.async_scalar, FEATURES.model_ddl, FEATURES.batch_ml_predict) == EXPECTED[MINOR]


def test_flink_itself_executes_create_model_exactly_where_the_table_says(stream_env: TableEnvironment) -> None:
    """Flink alone, without our layer: 2.1 and later store the model; 1.20 and 2.0 parse the
    statement (their checks speak) and cannot execute it."""
    statement = "CREATE TEMPORARY MODEL flink_alone INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'x')"
    if FEATURES.model_ddl:
        stream_env.execute_sql(statement)
        stream_env.execute_sql("DROP TEMPORARY MODEL flink_alone")
    else:
        with pytest.raises(Exception) as info:
            stream_env.execute_sql(statement)
        assert "Unsupported query: CREATE TEMPORARY MODEL flink_alone" in str(info.value)
    with pytest.raises(Exception) as info:  # Flink's own check, on every version
        stream_env.execute_sql("CREATE TEMPORARY MODEL flink_alone INPUT (a STRING) OUTPUT (b STRING)")
    assert java_message(info.value) == "Model property list can not be empty."


def test_async_scalar_functions_exist_exactly_where_the_table_says() -> None:
    import pyflink.table.udf as udf

    assert hasattr(udf, "AsyncScalarFunction") == EXPECTED[MINOR][0]


# -- the patches: applied only where they were written for ---------------------------------------


def test_each_patch_is_applied_exactly_on_its_minors() -> None:
    for patch, minors in PATCHED_MINORS.items():
        assert patch_applies(patch) == (MINOR in minors), patch
    assert patch_state() == ("applied" if MINOR == "2.3" else "not-needed")
    assert keep_arrow_arrays()  # every supported minor has the same coders


def test_an_unknown_newer_flink_gets_no_patch_and_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "pyflink_version", lambda: "2.4.0")
    monkeypatch.setattr(versions, "_warned", set())
    with pytest.warns(
        RuntimeWarning, match=r"PyFlink 2\.4\.0 is newer .* 'arrow-input' of PyFlink's code is not applied"
    ):
        assert not patch_applies("arrow-input")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not patch_applies("arrow-input")  # warned once
    with pytest.warns(RuntimeWarning, match="'async-operation'"):
        assert not patch_applies("async-operation")


def test_the_planner_thread_fix_finds_its_internals(stream_env: TableEnvironment) -> None:
    threads = PlannerThreads(stream_env)
    threads.prepare()
    assert threads._slot is not None and not threads._unavailable


# -- async mode ------------------------------------------------------------------------------------


def test_async_udf_says_which_version_adds_it_or_runs(stream_env: TableEnvironment, triton_url: str) -> None:
    sql = TritonSql(stream_env)
    sql.execute_sql(classifier_ddl(triton_url, "iris_async"))
    stream_env.create_temporary_view("flowers_async", flowers(stream_env))
    query = "SELECT id, class_id FROM ML_PREDICT(TABLE flowers_async, MODEL iris_async, DESCRIPTOR(features), MAP['async', 'true'])"
    if FEATURES.async_scalar:
        assert sorted(rows(sql.sql_query(query).execute())) == expected_classes()
        return
    with pytest.raises(TritonConfigError) as info:
        sql.sql_query(query)
    assert str(info.value) == (
        f"ML_PREDICT's 'async' = 'true' needs PyFlink 2.3 or later (Python's AsyncScalarFunction came in 2.3); "
        f"this is PyFlink {FEATURES.version}: leave 'async' out for the batched (pandas) mode"
    )
    with pytest.raises(TritonConfigError, match=r"^async_triton_udf needs PyFlink 2\.3 or later .*: use triton_udf"):
        async_triton_udf({"endpoint": triton_url, "model-name": "classifier"})


# -- model statements: Flink 2.3's results and words on every version ------------------------------


def test_model_statements_give_the_same_results_everywhere(stream_env: TableEnvironment, triton_url: str) -> None:
    sql = TritonSql(stream_env)
    sql.execute_sql(classifier_ddl(triton_url, "pm", temporary=False))
    sql.execute_sql(classifier_ddl(triton_url, "pm", temporary=False).replace("MODEL pm", "MODEL IF NOT EXISTS pm"))
    sql.execute_sql(classifier_ddl(triton_url, "tm"))
    assert rows(sql.execute_sql("SHOW MODELS")) == [("pm",)]  # temporary models are not listed, as in Flink
    assert rows(sql.execute_sql("SHOW MODELS LIKE 'p%'")) == [("pm",)]
    assert rows(sql.execute_sql("SHOW MODELS NOT LIKE 'p%'")) == []
    assert rows(sql.execute_sql("SHOW MODELS FROM default_catalog.default_database")) == [("pm",)]
    assert rows(sql.execute_sql("DESCRIBE MODEL pm")) == [
        ("features", "ARRAY<FLOAT>", True, True, "cm"),
        ("class_id", "BIGINT", True, False, None),
    ]
    sql.execute_sql("ALTER MODEL pm SET ('max-retries' = '2')")
    assert rows(sql.execute_sql("SHOW CREATE MODEL pm")) == [
        (
            "CREATE MODEL `default_catalog`.`default_database`.`pm`\n"
            "INPUT (`features` ARRAY<FLOAT> COMMENT 'cm')\nOUTPUT (`class_id` BIGINT)\nCOMMENT 'iris'\n"
            f"WITH (\n  'endpoint' = '{triton_url}',\n  'max-retries' = '2',\n  'model-name' = 'classifier',\n"
            "  'provider' = 'triton'\n)\n",
        )
    ]
    with pytest.raises(TritonConfigError, match=r"^ALTER MODEL pm: Invalid value for option 'max-retries'"):
        sql.execute_sql("ALTER MODEL pm SET ('max-retries' = '-1')")
    sql.execute_sql("ALTER MODEL pm RENAME TO pm2")
    assert sql.model("pm") is None and sql.model("pm2").options["max-retries"] == "2"  # type: ignore[union-attr]
    sql.execute_sql("DROP MODEL pm2")
    sql.execute_sql("DROP MODEL IF EXISTS pm2")
    sql.execute_sql("DROP TEMPORARY MODEL tm")
    assert rows(sql.execute_sql("SHOW MODELS")) == []


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("DROP MODEL nope", "Model with identifier 'default_catalog.default_database.nope' does not exist."),
        (
            "DROP TEMPORARY MODEL nope",
            "Temporary model with identifier 'default_catalog.default_database.nope' does not exist.",
        ),
        ("DESCRIBE MODEL nope", "Model with the identifier 'default_catalog.default_database.nope' doesn't exist."),
        (
            "CREATE TEMPORARY MODEL dup INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'x')",
            "Temporary model '`default_catalog`.`default_database`.`dup`' already exists",
        ),
        (
            "CREATE MODEL nocat.db.m INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'x')",
            "Catalog nocat does not exist.",
        ),
        ("CREATE MODEL m INPUT (a STRING) OUTPUT (b STRING)", "Model property list can not be empty."),
    ],
)
def test_model_statement_errors_in_flinks_words(stream_env: TableEnvironment, statement: str, message: str) -> None:
    sql = TritonSql(stream_env)
    sql.execute_sql(
        "CREATE TEMPORARY MODEL IF NOT EXISTS dup INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'x')"
    )
    with pytest.raises(Exception) as info:
        sql.execute_sql(statement)
    assert java_message(info.value) == message


def test_bad_options_are_refused_at_create_everywhere(stream_env: TableEnvironment, triton_url: str) -> None:
    sql = TritonSql(stream_env)
    with pytest.raises(TritonConfigError) as info:
        sql.execute_sql(classifier_ddl(triton_url, "bad", extra=", 'batchsize' = '4'"))
    assert str(info.value).startswith("CREATE MODEL bad: Unsupported options found for 'triton'.")
    assert sql.model("bad") is None


# -- ML_PREDICT ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["streaming", "batch"])
def test_ml_predict_in_both_modes(mode: str, triton_url: str, request: pytest.FixtureRequest) -> None:
    t_env = request.getfixturevalue("stream_env" if mode == "streaming" else "batch_env")
    sql = TritonSql(t_env)
    sql.execute_sql(classifier_ddl(triton_url, f"iris_{mode}"))
    t_env.create_temporary_view(f"flowers_{mode}", flowers(t_env))
    result = sql.execute_sql(
        f"SELECT id, class_id FROM ML_PREDICT(TABLE flowers_{mode}, MODEL iris_{mode}, DESCRIPTOR(features))"
    )
    assert sorted(rows(result)) == expected_classes()


def test_ml_predict_error_column_and_default_values(stream_env: TableEnvironment, fault: FaultServer) -> None:
    """A server that answers 503 to every request: failed rows keep their place, with the error
    (error-mode column) or the model's default value."""
    fault.actions = [("status", 503, "overloaded")] * 1000  # more than the jobs will send
    sql = TritonSql(stream_env)
    ddl = (
        "CREATE TEMPORARY MODEL {} INPUT (x ARRAY<FLOAT>) OUTPUT (OUT_x ARRAY<FLOAT>) WITH ('provider' = 'triton', "
        f"'endpoint' = '{fault.url}', 'model-name' = 'm', 'max-retries' = '0'{{}})"
    )
    sql.execute_sql(ddl.format("flaky_col", ""))
    sql.execute_sql(ddl.format("flaky_default", ", 'default-value' = '[-1]'"))
    schema = DataTypes.ROW(
        [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("x", DataTypes.ARRAY(DataTypes.FLOAT()))]
    )
    stream_env.create_temporary_view("flaky_in", stream_env.from_elements([(i, [float(i)]) for i in range(20)], schema))
    got = rows(
        sql.execute_sql(
            "SELECT id, OUT_x, error FROM ML_PREDICT(TABLE flaky_in, MODEL flaky_col, "
            "DESCRIPTOR(x), MAP['error-mode', 'column'])"
        )
    )
    assert sorted(r[0] for r in got) == list(range(20))
    assert all(r[1] is None and "HTTP 503: overloaded" in r[2] for r in got)
    got = rows(sql.execute_sql("SELECT id, OUT_x FROM ML_PREDICT(TABLE flaky_in, MODEL flaky_default, DESCRIPTOR(x))"))
    assert sorted(r[0] for r in got) == list(range(20)) and all(list(r[1]) == [-1.0] for r in got)


# Flink 2.2's and 2.3's words; 1.20 and 2.0 (no ML_PREDICT in Flink) get the same from us; Flink 2.1
# validates the call itself, in its own earlier words.
@pytest.mark.parametrize(
    ("call", "message", "flink_21"),
    [
        (
            "DESCRIPTOR(id, features)",
            "Number of descriptor columns (2) does not match model input size (1).",
            "Number of input descriptor columns (2) does not match model input size (1).",
        ),
        (
            "DESCRIPTOR(no_col)",
            "Descriptor column 'no_col' not found in table columns. Available columns: id, features.",
            "Unknown identifier 'no_col'",
        ),
        (
            "DESCRIPTOR(id)",
            "Descriptor column 'id' type INT cannot be assigned to model input type ARRAY<FLOAT> at position 0.",
            "Input descriptor column type INT cannot be assigned to model input type ARRAY<FLOAT> at position 0.",
        ),
    ],
)
def test_ml_predict_checks_in_flinks_words(
    stream_env: TableEnvironment, triton_url: str, call: str, message: str, flink_21: str
) -> None:
    sql = TritonSql(stream_env)
    sql.execute_sql(
        classifier_ddl(triton_url, "iris_check").replace(
            "CREATE TEMPORARY MODEL", "CREATE TEMPORARY MODEL IF NOT EXISTS"
        )
    )
    flowers_view(stream_env, "flowers_check")
    with pytest.raises(TritonConfigError) as info:
        sql.sql_query(f"SELECT * FROM ML_PREDICT(TABLE flowers_check, MODEL iris_check, {call})")
    assert str(info.value) == (flink_21 if MINOR == "2.1" else message)


def test_an_unknown_model_is_flinks_object_not_found(stream_env: TableEnvironment) -> None:
    sql = TritonSql(stream_env)
    stream_env.create_temporary_view("flowers_unknown", flowers(stream_env))
    with pytest.raises(Exception) as info:
        sql.sql_query("SELECT * FROM ML_PREDICT(TABLE flowers_unknown, MODEL nosuch, DESCRIPTOR(features))")
    assert java_message(info.value) == "Object 'nosuch' not found"
    if not FEATURES.model_ddl:  # another provider's model: only Flink could run it, from 2.1 on
        sql.execute_sql(
            "CREATE TEMPORARY MODEL other INPUT (f ARRAY<FLOAT>) OUTPUT (c BIGINT) WITH ('provider' = 'openai')"
        )
        with pytest.raises(TritonConfigError) as info:
            sql.sql_query("SELECT * FROM ML_PREDICT(TABLE flowers_unknown, MODEL other, DESCRIPTOR(features))")
        assert str(info.value) == (
            f"ML_PREDICT with provider 'openai' needs PyFlink 2.1 or later (Flink's executable CREATE MODEL and "
            f"ML_PREDICT came in 2.1); this is PyFlink {FEATURES.version}, and "
            "default_catalog.default_database.other is not a triton model"
        )


# -- the Table API -------------------------------------------------------------------------------


def test_from_model_reads_like_pyflink_24(stream_env: TableEnvironment, triton_url: str) -> None:
    sql = TritonSql(stream_env)
    sql.execute_sql(classifier_ddl(triton_url, "iris_api"))
    model = sql.from_model("iris_api")
    result = model.predict(flowers(stream_env), ["features"])
    assert result.get_schema().get_field_names() == ["id", "features", "class_id"]
    assert sorted((r[0], r[2]) for r in rows(result.execute())) == expected_classes()
    assert schema_names(model.get_resolved_input_schema()) == ["features"]
    assert schema_names(model.get_resolved_output_schema()) == ["class_id"]
    with pytest.raises(TritonConfigError, match="Model 'nosuch' not found"):
        sql.from_model("nosuch")


def schema_names(schema: Any) -> list[str]:
    """Column names of PyFlink's ResolvedSchema (2.1 and later) or TableSchema (before)."""
    names = schema.get_column_names() if hasattr(schema, "get_column_names") else schema.get_field_names()
    return list(names)


def test_predict_with_a_provider_and_an_explicit_output_type(stream_env: TableEnvironment, triton_url: str) -> None:
    from pyflink_triton import predict

    provider = TritonProvider(endpoint=triton_url, model_name="classifier")
    result = predict(flowers(stream_env), provider, ["features"], output_type={"class_id": "BIGINT"})
    assert sorted((r[0], r[2]) for r in rows(result.execute())) == expected_classes()
    from_server = predict(flowers(stream_env), provider, "features")  # the columns from the model's metadata
    assert from_server.get_schema().get_field_names()[:2] == ["id", "features"]
    assert sorted((r[0], r[2]) for r in rows(from_server.execute())) == expected_classes()


# -- more facts, checked on the installed Flink ----------------------------------------------------


def test_flink_plans_ml_predict_in_batch_mode_exactly_where_the_table_says(stream_env: TableEnvironment) -> None:
    """Flink's batch ML_PREDICT node (2.3) is in the planner jar exactly where the table says;
    ours runs in batch mode everywhere (test_ml_predict_in_both_modes)."""
    from pyflink.java_gateway import get_gateway

    loader = stream_env._j_tenv.getPlanner().getClass().getClassLoader()
    name = "org.apache.flink.table.planner.plan.nodes.physical.batch.BatchPhysicalMLPredictTableFunction"
    try:
        get_gateway().jvm.java.lang.Class.forName(name, False, loader)
        found = True
    except Exception:
        found = False
    assert found == EXPECTED[MINOR][2]


def test_the_arrow_hook_keeps_the_arrow_array_pyflink_alone_drops() -> None:
    """Without the hook PyFlink hands the UDF an object Series of one ndarray per row (the slow
    path); with it, the same Series carries the Arrow array the engine cuts tensors from."""
    import importlib

    import pyarrow as pa

    from pyflink_triton.engine.columns import ARROW_ATTR

    batch = pa.RecordBatch.from_arrays([pa.array([[1.0, 2.0], [3.0, 4.0]], pa.list_(pa.float32()))], ["f"])
    types = [DataTypes.ARRAY(DataTypes.FLOAT())]
    coder = importlib.import_module("pyflink.fn_execution.coder_impl_slow")
    hooked = coder.arrow_to_pandas(None, types, [batch])[0]
    alone = coder.arrow_to_pandas.__wrapped__(None, types, [batch])[0]
    assert ARROW_ATTR not in alone.attrs and ARROW_ATTR in hooked.attrs
    assert [list(v) for v in hooked] == [list(v) for v in alone] == [[1.0, 2.0], [3.0, 4.0]]


def test_cli_sql_runs_a_script_written_for_23(triton_url: str, tmp_path: Any) -> None:
    import subprocess
    import sys

    from .conftest import clean_env

    script = tmp_path / "shell.sql"
    script.write_text(
        "CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT) "
        "WITH ('provider' = 'triton', 'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'classifier');\n"
        "DESCRIBE MODEL iris;\n"
        "CREATE TEMPORARY VIEW flowers(id, features) AS VALUES (1, CAST(ARRAY[5.1, 3.5, 1.4, 0.2] AS ARRAY<FLOAT>)), "
        "(2, CAST(ARRAY[6.3, 3.3, 6.0, 2.5] AS ARRAY<FLOAT>));\n"
        "SELECT id, class_id FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(features));\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "pyflink_triton.cli", "sql", "-f", str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(TRITON_ENDPOINT=triton_url + "/v2/models"),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    cells = [
        [c.strip() for c in line.strip("|").split("|")] for line in done.stdout.splitlines() if line.startswith("|")
    ]
    cells = [c[1:] if c[0] == "+I" else c for c in cells]  # a streaming result's change column
    assert ["features", "ARRAY<FLOAT>", "TRUE", "TRUE"] in cells and ["class_id", "BIGINT", "TRUE", "FALSE"] in cells
    assert [str(iris_class([5.1, 3.5, 1.4, 0.2]))] == [c[1] for c in cells if c[0] == "1"]
    assert [str(iris_class([6.3, 3.3, 6.0, 2.5]))] == [c[1] for c in cells if c[0] == "2"]
