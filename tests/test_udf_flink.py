"""triton_udf in real Flink jobs (local mini-cluster) against the real Triton server.

Expected values are computed here independently (the models' documented formulas). Sources
are from_elements and datagen; literal VALUES are the SQL layer's business (see pyflink.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from pyflink_triton.flink.pandas_udf import configure_inference, triton_udf

from .conftest import iris_class
from .faultserver import FaultServer

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink


def make_env(streaming: bool) -> TableEnvironment:
    settings = EnvironmentSettings.in_streaming_mode() if streaming else EnvironmentSettings.in_batch_mode()
    t_env = TableEnvironment.create(settings)
    t_env.get_config().set("parallelism.default", "1")
    configure_inference(t_env, batch_size=1000, max_latency_ms=200)
    return t_env


@pytest.fixture(scope="module")
def stream_env() -> TableEnvironment:
    return make_env(True)


@pytest.fixture(scope="module")
def batch_env() -> TableEnvironment:
    return make_env(False)


def opts(url: str, model: str, **extra: str) -> dict[str, str]:
    return {"endpoint": url, "model-name": model, **{k.replace("_", "-"): v for k, v in extra.items()}}


def collect(t_env: TableEnvironment, sql: str) -> list[tuple[Any, ...]]:
    with t_env.sql_query(sql).execute().collect() as results:
        return [tuple(r) for r in results]


IRIS_ROWS = [
    (1, [5.1, 3.5, 1.4, 0.2]),
    (2, [7.0, 3.2, 4.7, 1.4]),
    (3, None),
    (4, [6.3, 3.3, 6.0, 2.5]),
    (5, [5.9, 3.0, 5.1, 1.8]),
    (6, [6.0, 2.2, 5.0, 1.5]),
]


@pytest.mark.parametrize("mode", ["streaming", "batch"])
def test_classifier_in_streaming_and_batch_mode(mode: str, triton_url: str, request: pytest.FixtureRequest) -> None:
    t_env = request.getfixturevalue("stream_env" if mode == "streaming" else "batch_env")
    t_env.create_temporary_function("classify", triton_udf(opts(triton_url, "classifier"), inputs=["features"]))
    table = t_env.from_elements(
        IRIS_ROWS,
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("features", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    t_env.create_temporary_view("iris", table)
    rows = sorted(collect(t_env, "SELECT id, classify(features) AS class_id FROM iris"))
    assert rows == [(i, None if f is None else iris_class(f)) for i, f in IRIS_ROWS]
    t_env.drop_temporary_view("iris")


SCALARS = [
    # (Flink type, model input, values, expected back)
    (DataTypes.BOOLEAN(), "BOOL", [True, False, None]),
    (DataTypes.TINYINT(), "INT8", [-128, 127, 0]),
    (DataTypes.SMALLINT(), "INT16", [-32768, 32767, None]),
    (DataTypes.INT(), "INT32", [-(2**31), 2**31 - 1, 7]),
    (DataTypes.BIGINT(), "INT64", [-(2**53), 2**53, None]),  # with NULLs pandas holds float64
    (DataTypes.BIGINT(), "INT64", [-(2**63), 2**63 - 1, 5]),
    (DataTypes.FLOAT(), "FP32", [1.5, -3.25e10, None]),
    (DataTypes.DOUBLE(), "FP64", [math.pi, -1e300, 0.0]),
    (DataTypes.STRING(), "BYTES", ["héllo", "", "电影"]),
    (DataTypes.SMALLINT(), "UINT8", [0, 255, 17]),
    (DataTypes.FLOAT(), "FP16", [0.5, 1000.0, None]),
    (DataTypes.FLOAT(), "BF16", [1.5, -2.0, 65536.0]),
]


def test_every_scalar_type_round_trips(stream_env: TableEnvironment, triton_url: str) -> None:
    fields = [DataTypes.FIELD("id", DataTypes.INT())]
    select = ["id"]
    for i, (ftype, dt, _) in enumerate(SCALARS):
        fields.append(DataTypes.FIELD(f"c{i}", ftype))
        name = f"echo_{i}"
        stream_env.create_temporary_function(
            name,
            triton_udf(opts(triton_url, "echo-scalars"), inputs=[f"IN_{dt}"], outputs=[f"OUT_{dt}"], result_type=ftype),
        )
        select.append(f"{name}(c{i})")
    rows = [tuple([r] + [vals[r] for _, _, vals in SCALARS]) for r in range(3)]
    stream_env.create_temporary_view("scalars", stream_env.from_elements(rows, DataTypes.ROW(fields)))
    got = sorted(collect(stream_env, f"SELECT {', '.join(select)} FROM scalars"))
    for r, row in enumerate(got):
        assert row[0] == r
        for (_ftype, dt, vals), value in zip(SCALARS, row[1:]):
            want = vals[r]
            if want is not None and dt == "FP16":
                want = float(np.float16(want))
            if isinstance(want, float):
                assert value == pytest.approx(want, rel=1e-6), (dt, r)
            else:
                assert value == want, (dt, r)
    stream_env.drop_temporary_view("scalars")


def test_bytes_travel_raw(stream_env: TableEnvironment, triton_url: str) -> None:
    stream_env.create_temporary_function(
        "echo_raw",
        triton_udf(opts(triton_url, "echo-scalars"), inputs=["IN_BYTES"], outputs=["OUT_BYTES"], result_type="BYTES"),
    )
    data = [(1, b"\x00\xff\x10"), (2, b""), (3, "電".encode())]
    t = stream_env.from_elements(
        [(i, bytearray(b)) for i, b in data],
        DataTypes.ROW([DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("b", DataTypes.BYTES())]),
    )
    stream_env.create_temporary_view("raw_in", t)
    assert sorted((i, bytes(b)) for i, b in collect(stream_env, "SELECT id, echo_raw(b) FROM raw_in")) == data
    stream_env.drop_temporary_view("raw_in")


ARRAYS = [
    (DataTypes.BOOLEAN(), "BOOL", [[True, False], [True]]),
    (DataTypes.INT(), "INT32", [[1, -2, 3], [2**31 - 1]]),
    (DataTypes.BIGINT(), "INT64", [[1], [2, 3, 4, 5]]),
    (DataTypes.FLOAT(), "FP32", [[0.5, 1.5], [2.5]]),
    (DataTypes.DOUBLE(), "FP64", [[1e-300], [2.0, 3.0]]),
    (DataTypes.STRING(), "BYTES", [["a", "bb"], ["电影"]]),
    (DataTypes.FLOAT(), "FP16", [[0.25, 2.0], [8.0]]),
]


def test_ragged_arrays_of_every_type(stream_env: TableEnvironment, triton_url: str) -> None:
    fields = [DataTypes.FIELD("id", DataTypes.INT())]
    select = ["id"]
    for i, (etype, dt, _) in enumerate(ARRAYS):
        fields.append(DataTypes.FIELD(f"a{i}", DataTypes.ARRAY(etype)))
        stream_env.create_temporary_function(
            f"arr_{i}",
            triton_udf(
                opts(triton_url, "echo-all-types"),
                inputs=[f"IN_{dt}"],
                outputs=[f"OUT_{dt}"],
                result_type=DataTypes.ARRAY(etype),
            ),
        )
        select.append(f"arr_{i}(a{i})")
    rows = [tuple([r] + [vals[r] for _, _, vals in ARRAYS]) for r in range(2)] + [tuple([2] + [None] * len(ARRAYS))]
    stream_env.create_temporary_view("arrs", stream_env.from_elements(rows, DataTypes.ROW(fields)))
    got = sorted(collect(stream_env, f"SELECT {', '.join(select)} FROM arrs"))
    assert got[2] == tuple([2] + [None] * len(ARRAYS))
    for r in range(2):
        for (_, dt, vals), value in zip(ARRAYS, got[r][1:]):
            assert list(value) == pytest.approx(vals[r]) if dt not in ("BOOL", "BYTES") else list(value) == vals[r]
    stream_env.drop_temporary_view("arrs")


def test_multi_input_multi_output_row(stream_env: TableEnvironment, triton_url: str) -> None:
    stream_env.create_temporary_function("mio", triton_udf(opts(triton_url, "multi-io")))
    data = [(1, "hi", [1.0, 2.0, 3.0]), (2, "hello world", [0.5, 0.5, 0.5]), (3, None, [1.0, 1.0, 1.0])]
    t = stream_env.from_elements(
        data,
        DataTypes.ROW(
            [
                DataTypes.FIELD("ids", DataTypes.BIGINT()),
                DataTypes.FIELD("text", DataTypes.STRING()),
                DataTypes.FIELD("vec", DataTypes.ARRAY(DataTypes.FLOAT())),
            ]
        ),
    )
    stream_env.create_temporary_view("mio_in", t)
    got = sorted(
        collect(
            stream_env,
            "SELECT ids, r.id_times_two, r.text_upper, r.text_length, r.vec_sum, "
            "r.vec_scaled, r.is_long FROM (SELECT ids, mio(ids, text, vec) AS r FROM mio_in)",
        )
    )
    for (ids, text, vec), row in zip(data, got):
        assert row[0] == ids
        if text is None:
            assert row[1:] == (None,) * 6
            continue
        assert row[1:4] == (2 * ids, text.upper(), len(text))
        assert row[4] == pytest.approx(sum(vec))
        assert list(row[5]) == pytest.approx([v * 0.5 for v in vec])
        assert row[6] is (len(text) > 5)
    stream_env.drop_temporary_view("mio_in")


def test_100k_datagen_rows_none_lost_duplicated_or_mixed_up(batch_env: TableEnvironment, triton_url: str) -> None:
    batch_env.create_temporary_function(
        "echo_id", triton_udf(opts(triton_url, "echo-scalars"), inputs=["IN_INT64"], outputs=["OUT_INT64"])
    )
    batch_env.execute_sql("""
        CREATE TEMPORARY TABLE gen (id BIGINT) WITH (
          'connector' = 'datagen', 'number-of-rows' = '100000', 'rows-per-second' = '10000000',
          'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '100000')""")
    got = collect(
        batch_env,
        """
        SELECT COUNT(*), COUNT(DISTINCT id), SUM(CASE WHEN out_id = id THEN 1 ELSE 0 END), MIN(id), MAX(id)
        FROM (SELECT id, echo_id(id) AS out_id FROM gen)""",
    )
    assert got == [(100000, 100000, 100000, 1, 100000)]
    batch_env.execute_sql("DROP TEMPORARY TABLE gen")


def test_datagen_streaming_into_a_print_free_sink(stream_env: TableEnvironment, triton_url: str) -> None:
    stream_env.create_temporary_function(
        "classify_gen", triton_udf(opts(triton_url, "classifier", batch_size="100"), result_type="BIGINT")
    )
    stream_env.execute_sql("""
        CREATE TEMPORARY TABLE iris_gen (id INT, a FLOAT, b FLOAT) WITH (
          'connector' = 'datagen', 'number-of-rows' = '3000', 'rows-per-second' = '1000000',
          'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '3000',
          'fields.a.min' = '4', 'fields.a.max' = '8', 'fields.b.min' = '0', 'fields.b.max' = '3')""")
    rows = collect(stream_env, "SELECT id, a, b, classify_gen(ARRAY[a, 3.0, a - 1.0, b]) FROM iris_gen")
    assert len(rows) == 3000 and len({r[0] for r in rows}) == 3000
    for _, a, b, c in rows:
        assert c == iris_class([a, 3.0, np.float32(a) - np.float32(1.0), b])
    stream_env.execute_sql("DROP TEMPORARY TABLE iris_gen")


def test_default_value_while_the_server_answers_503(stream_env: TableEnvironment, fault: FaultServer) -> None:
    fault.actions = [("status", 503, "overloaded")] * 1000  # more than the job will send
    stream_env.create_temporary_function(
        "flaky",
        triton_udf(
            opts(fault.url, "m", max_retries="1", retry_initial_backoff="1ms", default_value="[-1]"),
            result_type="ARRAY<FLOAT>",
        ),
    )
    t = stream_env.from_elements(
        [(i, [float(i)]) for i in range(50)],
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("x", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    stream_env.create_temporary_view("flaky_in", t)
    got = collect(stream_env, "SELECT id, flaky(x) FROM flaky_in")
    assert sorted(r[0] for r in got) == list(range(50))
    assert all(list(r[1]) == [-1.0] for r in got)
    # Every request was tried, and retried exactly once (max-retries 1, no breaker): each row went twice.
    sent_rows = [r.header_json["inputs"][0]["shape"][0] for r in fault.infer_requests if r.header_json]
    assert len(sent_rows) == len(fault.infer_requests) and sum(sent_rows) == 2 * 50, sent_rows
    stream_env.drop_temporary_view("flaky_in")


def test_failure_without_default_fails_the_job_with_a_clear_message(
    stream_env: TableEnvironment, fault: FaultServer
) -> None:
    fault.actions = [("status", 400, "unexpected shape for input 'x'")] * 10
    stream_env.create_temporary_function("strict", triton_udf(opts(fault.url, "m"), result_type="ARRAY<FLOAT>"))
    t = stream_env.from_elements(
        [(1, [1.0])],
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("x", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    stream_env.create_temporary_view("strict_in", t)
    with pytest.raises(Exception) as info:
        collect(stream_env, "SELECT id, strict(x) FROM strict_in")
    text = str(info.value)
    assert f"Triton model 'm' at {fault.url}: inference failed with HTTP 400: unexpected shape for input 'x'" in text
    stream_env.drop_temporary_view("strict_in")
