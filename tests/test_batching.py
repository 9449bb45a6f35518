"""Batch settings: every entry point that builds ML_PREDICT gives the job our batch and bundle
size unless something set them already; a user's (or a cluster's) settings are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyflink.table import EnvironmentSettings, TableEnvironment

from pyflink_triton.errors import TritonConfigError
from pyflink_triton.flink import DEFAULT_BATCH_SIZE, configure_inference, default_batching
from pyflink_triton.sql import TritonSql, table_environment

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

ARROW, BUNDLE = "python.fn-execution.arrow.batch.size", "python.fn-execution.bundle.size"


def fresh() -> TableEnvironment:
    return TableEnvironment.create(EnvironmentSettings.in_streaming_mode())


def session_with_model(t_env: TableEnvironment, url: str) -> TritonSql:
    session = TritonSql(t_env)
    session.execute_script(f"""
        CREATE TEMPORARY MODEL iris INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT)
        WITH ('provider' = 'triton', 'endpoint' = '{url}', 'model-name' = 'classifier');
        CREATE TEMPORARY TABLE flowers (f ARRAY<FLOAT>) WITH ('connector' = 'datagen');
    """)
    return session


@pytest.mark.parametrize("mode", ["pandas", "async"])
def test_ml_predict_sets_our_batching_where_nothing_did(triton_url: str, mode: str) -> None:
    t_env = fresh()
    session = session_with_model(t_env, triton_url)
    config = t_env.get_config()
    assert config.get(ARROW, None) is None and config.get(BUNDLE, None) is None  # Flink's 1000
    extra = ", MAP['async', 'true']" if mode == "async" else ""
    session.sql_query(f"SELECT * FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f){extra})")
    assert config.get(ARROW, None) == config.get(BUNDLE, None) == str(DEFAULT_BATCH_SIZE)


def test_a_users_batch_setting_is_left_alone(triton_url: str) -> None:
    t_env = fresh()
    t_env.get_config().set(ARROW, "500")
    session = session_with_model(t_env, triton_url)
    session.sql_query("SELECT * FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(f))")
    assert t_env.get_config().get(ARROW, None) == "500"
    assert t_env.get_config().get(BUNDLE, None) is None
    assert default_batching(t_env) is False


def test_configure_inference_and_the_cli_environment(tmp_path: Path) -> None:
    t_env = fresh()
    configure_inference(t_env, max_latency_ms=200)
    config = t_env.get_config()
    assert (config.get(ARROW, None), config.get(BUNDLE, None)) == (str(DEFAULT_BATCH_SIZE),) * 2
    assert config.get("python.fn-execution.bundle.time", None) == "200"
    with pytest.raises(TritonConfigError, match="batch_size must be > 0, got 0"):
        configure_inference(t_env, batch_size=0)
    cli_env = table_environment(workdir=tmp_path)
    assert cli_env.get_config().get(ARROW, None) == str(DEFAULT_BATCH_SIZE)
    cli_env = table_environment(workdir=tmp_path, batch_size=300)
    assert cli_env.get_config().get(BUNDLE, None) == "300"
