"""The engine of both UDFs against the real Triton, with pandas columns shaped the way PyFlink
hands them to a pandas UDF. Expected values are computed here, independently."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pyflink_triton.engine import BlockingEngine, Column, EngineConfig, Failed, FlinkType, fetch_binding
from pyflink_triton.engine.columns import object_column
from pyflink_triton.engine.defaults import parse_default_value
from pyflink_triton.errors import TritonConfigError, TritonSchemaError, TritonServiceError, TritonTimeoutError

from .conftest import model_options
from .faultserver import FaultServer


class Runtime(BlockingEngine):
    """The engine as the pandas UDF drives it: a pandas result per batch, a failed row raises."""

    def predict(self, columns: Any) -> Any:  # type: ignore[override]
        return super().predict(columns).frame()

    def outcomes(self, columns: Any) -> Any:
        return super().predict(columns)


@pytest.fixture
def runtime_factory(triton_url: str) -> Iterator[Any]:
    made: list[Runtime] = []

    def make(
        model: str,
        inputs: list[Column],
        outputs: list[Column] | None = None,
        url: str | None = None,
        fill_value: Any = None,
        **extra: Any,
    ) -> Runtime:
        rt = Runtime(
            EngineConfig.of(model_options(url or triton_url, model, **extra), inputs, outputs, fill_value=fill_value)
        )
        made.append(rt)
        rt.open()
        return rt

    yield make
    for rt in made:
        rt.close()


def arrays(rows: list[Any], dtype: Any = np.float32) -> pd.Series:
    return pd.Series([None if r is None else np.array(r, dtype=dtype) for r in rows], dtype=object)


IRIS = [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]]


def test_classifier_over_array_features_with_a_null_row(runtime_factory: Any) -> None:
    rt = runtime_factory("classifier", [Column("features")])
    out = rt.predict([arrays([IRIS[0], None, IRIS[1], IRIS[2]])])
    assert out.tolist() == [0, None, 1, 2]
    assert rt.engine.stats.null_rows == 1 and rt.engine.stats.rows == 4
    assert rt.binding.result_type() == FlinkType.parse("BIGINT")


def test_no_nulls_keeps_a_typed_series(runtime_factory: Any) -> None:
    rt = runtime_factory("classifier", [Column("features")])
    out = rt.predict([arrays(IRIS * 700)])  # 2100 rows: three requests
    assert out.dtype == np.int64 and out.tolist() == [0, 1, 2] * 700
    assert rt.engine.client.stats.requests == 3


def test_text_classification_with_strings_and_nulls(runtime_factory: Any) -> None:
    rt = runtime_factory("text-classification", [Column("input")], [Column("output", FlinkType.parse("STRING"))])
    texts = pd.Series(
        [
            "这部电影绝对精彩！演技和故事情节都很棒。",
            None,
            "我看到一半就睡着了。非常失望。",
            "还可以，没什么特别的，但也不算糟糕。",
        ],
        dtype=object,
    )
    assert rt.predict([texts]).tolist() == ["positive", None, "negative", "neutral"]


def test_multi_input_multi_output_returns_a_frame_in_model_order(runtime_factory: Any) -> None:
    rt = runtime_factory("multi-io", [Column("IDS"), Column("text"), Column("vec")])
    ids = pd.Series([1, 2, 3], dtype=np.int64)
    text = pd.Series(["hi", "hello world", None], dtype=object)
    vec = arrays([[1, 2, 3], [0.5, 0.5, 0.5], [1, 1, 1]])
    out = rt.predict([ids, text, vec])
    assert list(out.columns) == ["id_times_two", "text_upper", "text_length", "vec_sum", "vec_scaled", "is_long"]
    assert out["id_times_two"].tolist() == [2, 4, None]
    assert out["text_upper"].tolist() == ["HI", "HELLO WORLD", None]
    assert out["text_length"].tolist() == [2, 11, None]
    assert out["vec_sum"].tolist()[:2] == pytest.approx([6.0, 1.5])
    np.testing.assert_allclose(out["vec_scaled"][0], [0.5, 1.0, 1.5])
    assert out["is_long"].tolist() == [False, True, None]


def test_columns_match_tensors_by_name_then_case_then_position(runtime_factory: Any) -> None:
    # 'vec' exact, 'TEXT' case-insensitive, 'x' takes the remaining input 'ids' by position.
    rt = runtime_factory(
        "multi-io",
        [Column("vec"), Column("TEXT"), Column("x")],
        [Column("doubled", FlinkType.parse("BIGINT")), Column("TEXT_UPPER")],
    )
    assert [s.name for s in rt.binding.inputs] == ["vec", "text", "ids"]
    assert [s.name for s in rt.binding.outputs] == ["id_times_two", "text_upper"]
    out = rt.predict([arrays([[1, 1, 1]]), pd.Series(["a"]), pd.Series([21], dtype=np.int32)])
    assert out.iloc[0].tolist() == [42, "A"]


def test_too_many_columns_is_a_clear_error(triton_url: str) -> None:
    with pytest.raises(TritonSchemaError, match="2 input columns .* but the model has only 1 input tensors"):
        fetch_binding(model_options(triton_url, "classifier"), [Column("a"), Column("b")])


def test_declared_types_are_checked(triton_url: str) -> None:
    with pytest.raises(TritonSchemaError, match=r"input f STRING  <->  'features' FP32 per-row dims \[4\]"):
        fetch_binding(model_options(triton_url, "classifier"), [Column("f", FlinkType.parse("STRING"))])
    with pytest.raises(TritonSchemaError, match=r"output c STRING  <->  'class_id' INT64"):
        fetch_binding(model_options(triton_url, "classifier"), [Column("f")], [Column("c", FlinkType.parse("STRING"))])


def test_every_mismatch_is_shown_side_by_side_in_one_message(triton_url: str) -> None:
    """A scalar declared for a [4] input (it crashed deep inside before), and a wrong output type."""
    with pytest.raises(TritonSchemaError) as info:
        fetch_binding(
            model_options(triton_url, "classifier"),
            [Column("features", FlinkType.parse("FLOAT"))],
            [Column("class_id", FlinkType.parse("ARRAY<STRING>"))],
        )
    lines = str(info.value).splitlines()
    assert lines[0] == (
        f"Triton model 'classifier' at {triton_url}: the declared columns do not fit the "
        "model's tensors (declared <-> model):"
    )
    assert lines[1:] == [
        "  input features FLOAT  <->  'features' FP32 per-row dims [4] (takes ARRAY<FLOAT>)",
        "  output class_id ARRAY<STRING>  <->  'class_id' INT64 per-row dims [1] (takes BIGINT)",
    ]


def test_derived_types(triton_url: str) -> None:
    b = fetch_binding(model_options(triton_url, "multi-io"), [Column(), Column(), Column()])
    assert str(b.result_type()) == (
        "ROW<`id_times_two` BIGINT, `text_upper` STRING, `text_length` INT, `vec_sum` DOUBLE, "
        "`vec_scaled` ARRAY<FLOAT>, `is_long` BOOLEAN>"
    )


def test_ragged_arrays_are_grouped_by_length(runtime_factory: Any) -> None:
    rt = runtime_factory("echo-all-types", [Column("IN_FP32")], [Column("OUT_FP32")])
    rows = [[1, 2], [3, 4, 5], None, [6, 7], [8], [9, 10, 11]]
    out = rt.predict([arrays(rows)])
    assert [None if v is None else list(v) for v in out] == rows
    assert rt.engine.client.stats.requests == 3  # lengths 1, 2 and 3


def test_null_elements_need_a_fill_value(runtime_factory: Any) -> None:
    rt = runtime_factory("classifier", [Column("features")])
    with pytest.raises(TritonSchemaError, match="NULL element"):
        rt.predict([arrays([[5.1, np.nan, 1.4, 0.2]])])
    rt2 = runtime_factory("echo-all-types", [Column("IN_FP32")], [Column("OUT_FP32")], fill_value=0.0)
    assert list(rt2.predict([arrays([[1.0, np.nan]])])[0]) == [1.0, 0.0]


def test_model_without_batch_dim_sends_each_row_alone(runtime_factory: Any) -> None:
    rt = runtime_factory("vector-transform", [Column("v")], flatten_batch_dim="true")
    rows = [[3, 4], [1, 0, 0], None]
    out = rt.predict([arrays(rows)])
    np.testing.assert_allclose(out[0], [1.2, 1.6], rtol=1e-6)
    np.testing.assert_allclose(out[1], [2.0, 0.0, 0.0], rtol=1e-6)
    assert out[2] is None
    assert rt.engine.client.stats.requests == 2


def test_model_without_batch_dim_needs_flatten_for_flat_inputs(triton_url: str) -> None:
    with pytest.raises(TritonConfigError, match="'flatten-batch-dim' = 'true'"):
        fetch_binding(model_options(triton_url, "vector-transform"), [Column("v")])


def test_scalars_travel_as_b_by_1(runtime_factory: Any) -> None:
    rt = runtime_factory("sequence-model", [Column("INPUT")], sequence_id="9001", sequence_start="true")
    out = rt.predict([pd.Series([1, 2, None, 3], dtype=object)])
    assert out.tolist() == [1, 3, None, 6]


def test_int_column_with_nulls_arrives_as_float(runtime_factory: Any) -> None:
    rt = runtime_factory("multi-io", [Column("ids"), Column("text"), Column("vec")], [Column("id_times_two")])
    ids = pd.Series([1.0, np.nan, 3.0])  # how PyFlink hands an INT column with a NULL
    out = rt.predict([ids, pd.Series(["a", "b", "c"]), arrays([[0, 0, 0]] * 3)])
    assert out.tolist() == [2, None, 6]


def test_503_storm_with_default_value(runtime_factory: Any, fault: FaultServer) -> None:
    rt = runtime_factory(
        "m",
        [Column("x")],
        [Column("OUT_x", FlinkType.parse("ARRAY<FLOAT>"))],
        url=fault.url,
        default_value="[0]",
        max_retries="2",
        retry_initial_backoff="1ms",
    )
    fault.actions = [("status", 503, "overloaded")] * 3
    out = rt.predict([arrays([[1, 2], None, [3, 4]])])
    assert [None if v is None else list(v) for v in out] == [[0.0], None, [0.0]]
    assert rt.engine.stats.fallback_rows == 2 and len(fault.infer_requests) == 3
    assert out[0] is not out[2]  # each fallback row is a fresh object
    out = rt.predict([arrays([[1, 2]])])  # the storm is over
    assert list(out[0]) == [1.0, 2.0]


def test_4xx_uses_the_default_value_without_retrying(runtime_factory: Any, fault: FaultServer) -> None:
    rt = runtime_factory(
        "m",
        [Column("x")],
        [Column("OUT_x", FlinkType.parse("ARRAY<FLOAT>"))],
        url=fault.url,
        default_value="null",
        max_retries="3",
    )
    fault.actions = [("status", 400, "bad input")]
    assert rt.predict([arrays([[1, 2]])]).tolist() == [None]
    assert len(fault.infer_requests) == 1 and rt.engine.stats.fallback_rows == 1


def test_failure_without_default_raises_the_clients_error(runtime_factory: Any, fault: FaultServer) -> None:
    rt = runtime_factory("m", [Column("x")], url=fault.url)
    fault.actions = [("status", 503, "overloaded")]
    with pytest.raises(
        TritonServiceError,
        match=r"Triton model 'm' at http://127.0.0.1:\d+: inference failed with HTTP 503: overloaded",
    ):
        rt.predict([arrays([[1, 2]])])


def test_wrong_row_count_from_the_server(runtime_factory: Any, fault: FaultServer) -> None:
    rt = runtime_factory("m", [Column("x")], url=fault.url)
    fault.actions = [("echo_rows", 1)]
    with pytest.raises(TritonSchemaError, match="expected 2 rows|for a batch of 2 rows"):
        rt.predict([arrays([[1, 2], [3, 4]])])
    fault.actions = [("echo_rows", 1)]
    rt2 = runtime_factory("m", [Column("x")], url=fault.url, default_value="[-1]")
    assert [list(v) for v in rt2.predict([arrays([[1, 2], [3, 4]])])] == [[-1.0], [-1.0]]


def test_batch_timeout_bounds_a_stalled_server(fault: FaultServer) -> None:
    fault.actions = [("stall", 3.0)]
    rt = Runtime(
        EngineConfig.of(model_options(fault.url, "m", default_value="null"), [Column("x")], total_timeout_s=0.3)
    )
    rt.open()
    try:
        assert rt.predict([arrays([[1, 2]])]).tolist() == [None]
    finally:
        rt.close()


@pytest.mark.parametrize(
    ("text", "ddl", "value"),
    [
        ("null", "BIGINT", None),
        ("-1", "BIGINT", -1),
        ("FAILED", "STRING", "FAILED"),
        ("true", "BOOLEAN", True),
        ("0.5", "FLOAT", 0.5),
        ("[1, 2]", "ARRAY<FLOAT>", [1.0, 2.0]),
        ('{"a": 1, "b": "x"}', "ROW<a INT, b STRING>", (1, "x")),
        ("[2, null]", "ROW<a INT, b STRING>", (2, None)),
    ],
)
def test_default_value_parsing(text: str, ddl: str, value: Any) -> None:
    assert parse_default_value(text, FlinkType.parse(ddl)) == (True, value)


@pytest.mark.parametrize(
    ("text", "ddl"),
    [
        ("abc", "BIGINT"),
        ("1.5", "INT"),
        ("300", "TINYINT"),
        ("[1,", "ARRAY<FLOAT>"),
        ("maybe", "BOOLEAN"),
        ('{"z": 1}', "ROW<a INT>"),
        ("[1, null]", "ARRAY<INT NOT NULL>"),
        ("null", "BIGINT NOT NULL"),
    ],
)
def test_unparseable_default_value_names_option_and_type(text: str, ddl: str) -> None:
    with pytest.raises(TritonConfigError, match=f"'default-value'.*{ddl.split('<')[0]}"):
        parse_default_value(text, FlinkType.parse(ddl))


def test_default_value_is_checked_at_open(triton_url: str) -> None:
    rt = Runtime(EngineConfig.of(model_options(triton_url, "classifier", default_value="oops"), [Column("f")]))
    try:
        with pytest.raises(TritonConfigError, match="'default-value' = 'oops'.*BIGINT"):
            rt.open()
    finally:
        rt.close()


# -- one outcome per row: what both UDF modes read ---------------------------------------------


def test_outcomes_give_each_row_a_value_or_its_error(runtime_factory: Any, fault: FaultServer) -> None:
    """Two requests (ragged lengths): one fails, one answers; without a default the failed
    rows carry the error, the others their values, and NULL rows stay NULL."""
    rt = runtime_factory("m", [Column("x")], [Column("OUT_x", FlinkType.parse("ARRAY<FLOAT>"))], url=fault.url)
    fault.actions = [("status", 503, "overloaded")]  # the first request only
    column = object_column([[1.0], None, [2.0, 3.0], [4.0]])
    outcomes = rt.outcomes([column])
    results = outcomes.results()
    failed = [i for i, r in enumerate(results) if isinstance(r, Failed)]
    answered = {i: r for i, r in enumerate(results) if not isinstance(r, Failed)}
    assert answered[1] is None  # the NULL row
    assert failed in ([0, 3], [2])  # the rows of whichever request got the 503
    assert all(answered[i] == ([1.0] if i == 0 else [2.0, 3.0] if i == 2 else [4.0]) for i in answered if i != 1)
    error = results[failed[0]].error
    assert isinstance(error, TritonServiceError) and error.status == 503 and error.model == "m"
    assert rt.engine.stats.failed_rows == len(failed) and rt.engine.stats.null_rows == 1
    with pytest.raises(TritonServiceError):
        outcomes.frame()


def test_input_errors_name_the_model_fail_alone_and_never_take_the_default(
    runtime_factory: Any, triton_url: str
) -> None:
    rt = runtime_factory("classifier", [Column("features")], default_value="-1")
    iris = [5.1, 3.5, 1.4, 0.2]
    outcomes = rt.outcomes([arrays([iris, [1, 2], iris])])  # the model takes 4 elements a row
    results = outcomes.results()
    assert results[0] == results[2] == 0  # the rows that fit still go, in the same request
    error = results[1].error
    assert isinstance(error, TritonSchemaError)
    assert f"Triton model 'classifier' at {triton_url}" in str(error) and "4 elements" in str(error)
    assert rt.engine.stats.fallback_rows == 0 and rt.engine.stats.failed_rows == 1
    assert rt.engine.client.stats.requests == 1


def test_error_column_mode_keeps_failed_rows_visible(fault: FaultServer) -> None:
    """Without default: a failed request's rows get NULL outputs and the reason; with a
    default they get it, and the reason too. Nothing raises; input errors are rows too."""
    for default, fallback in ((None, None), ("[-1]", [-1.0])):
        extra = {} if default is None else {"default_value": default}
        rt = Runtime(
            EngineConfig.of(
                model_options(fault.url, "m", batch_size=2, **extra),
                [Column("x")],
                [Column("OUT_x", FlinkType.parse("ARRAY<FLOAT>"))],
                error_mode="column",
            )
        )
        rt.open()
        try:
            fault.actions = [("status", 503, "overloaded")]  # the first request that arrives
            sent_before = len(fault.infer_requests)
            frame = rt.predict([arrays([[1, 1], [2, 2], [3, np.nan], [4, 4], None])])
        finally:
            rt.close()
        assert list(frame.columns) == ["OUT_x", "error"]
        assert len(fault.infer_requests) == sent_before + 2  # rows 0, 1 | row 3
        failed = fault.infer_requests[sent_before].header_json
        assert failed is not None
        rows = [None if v is None else list(v) for v in frame["OUT_x"]]
        errors = frame["error"].tolist()
        assert errors[4] is None and rows[4] is None  # a NULL row is not an error
        assert errors[2].startswith("TritonSchemaError: Triton model 'm' at ") and "NULL element" in errors[2]
        server_failed = [i for i in (0, 1, 3) if errors[i] is not None]
        assert len(server_failed) == failed["inputs"][0]["shape"][0]
        for i in (0, 1, 3):
            if i in server_failed:
                assert (
                    errors[i]
                    == (
                        f"TritonServiceError: Triton model 'm' at {fault.url}: inference "
                        f"failed with HTTP 503: overloaded [request {failed['id']}]"
                    )
                    and rows[i] == fallback
                )
            else:
                assert rows[i] == [float(i + 1)] * 2


def test_batch_timeout_without_default_is_a_named_timeout_error(fault: FaultServer) -> None:
    fault.actions = [("stall", 3.0)]
    rt = Runtime(EngineConfig.of(model_options(fault.url, "m"), [Column("x")], total_timeout_s=0.3))
    rt.open()
    try:
        with pytest.raises(
            TritonTimeoutError,
            match=r"Triton model 'm' at http://127\.0\.0\.1:\d+: "
            r"a batch of 1 rows got no result within 0\.3s",
        ):
            rt.predict([arrays([[1, 2]])])
    finally:
        rt.close()


def test_several_outputs_come_back_as_rows_or_a_frame(runtime_factory: Any) -> None:
    rt = runtime_factory(
        "multi-io", [Column("IDS"), Column("text"), Column("vec")], [Column("id_times_two"), Column("text_upper")]
    )
    columns = [object_column([1, None]), object_column(["a", "b"]), object_column([[1.0, 1.0, 1.0]] * 2)]
    assert rt.outcomes(columns).results() == [(2, "A"), None]


@pytest.mark.parametrize(
    ("text", "ddl"),
    [("[1, null]", "ARRAY<INT NOT NULL>"), ("null", "BIGINT NOT NULL"), ('{"a": null}', "ROW<a INT NOT NULL>")],
)
def test_a_null_default_for_a_not_null_type_is_refused_naming_not_null(text: str, ddl: str) -> None:
    """As Flink's Java provider does when the function opens (it was accepted and emitted)."""
    with pytest.raises(TritonConfigError, match=r"'default-value'.*NULL where the type is .*NOT NULL"):
        parse_default_value(text, FlinkType.parse(ddl))


def test_a_hung_server_fails_with_the_clients_timeout_naming_model_and_cause(fault: FaultServer) -> None:
    """Without a batch bound, the client's own timeout ends the wait. It once reached the loop
    thread as a bare TimeoutError, mistaken for the thread's own, and became a TypeError."""
    fault.actions = [("stall", 3.0)]
    rt = Runtime(EngineConfig.of(model_options(fault.url, "m", timeout="300ms"), [Column("x")]))
    rt.open()
    try:
        with pytest.raises(
            TritonTimeoutError,
            match=r"Triton model 'm' at http://127\.0\.0\.1:\d+: "
            r"inference timed out after 0\.3s",
        ):
            rt.predict([arrays([[1, 2]])])
    finally:
        rt.close()
