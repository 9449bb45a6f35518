"""ARRAY arguments cut into tensors straight from their Arrow arrays (engine/columns.py), which
the PyFlink shell attaches to the pandas columns (flink/arrow_input.py).

The Arrow path must give exactly what the row-by-row path gives, fall back where it does not
apply (NULL rows, ragged rows, a column cut from the one the array belongs to), and be the path
a real Flink job takes (shown by forbidding the row-by-row one during the job).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment

from pyflink_triton.engine import columns
from pyflink_triton.engine.binding import TensorSpec
from pyflink_triton.engine.columns import ARROW_ATTR, ArrowColumn, null_mask, to_tensor
from pyflink_triton.engine.types import FlinkType
from pyflink_triton.errors import TritonSchemaError
from pyflink_triton.flink.arrow_input import keep_arrow_arrays
from pyflink_triton.flink.pandas_udf import configure_inference, triton_udf

from .conftest import iris_class

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

FP32x4 = TensorSpec("features", "FP32", (4,), FlinkType.parse("ARRAY<FLOAT>"))
FP32_ANY = TensorSpec("features", "FP32", (-1,), FlinkType.parse("ARRAY<FLOAT>"))


def with_arrow(array: pa.Array) -> pd.Series:
    """The pandas column PyFlink makes from ``array``, with the array attached as the shell does."""
    series = array.to_pandas()
    series.attrs[ARROW_ATTR] = ArrowColumn(array)
    return series


def plain(array: pa.Array) -> pd.Series:
    return array.to_pandas()


@pytest.fixture
def no_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: Any) -> np.ndarray:
        raise AssertionError("the row-by-row path ran")

    monkeypatch.setattr(columns, "_stack", forbidden)


ROWS = [[5.1, 3.5, 1.4, 0.2], [7.0, 3.2, 4.7, 1.4], [6.3, 3.3, 6.0, 2.5]]


@pytest.mark.parametrize(
    "kind",
    [
        pa.list_(pa.float32()),
        pa.large_list(pa.float32()),
        pa.list_(pa.float32(), 4),
        pa.list_(pa.float64()),
        pa.list_(pa.int32()),
    ],
)
def test_the_same_tensor_as_row_by_row(kind: pa.DataType, monkeypatch: pytest.MonkeyPatch) -> None:
    values = [[int(v) for v in r] for r in ROWS] if pa.types.is_integer(kind.value_type) else ROWS
    array = pa.array(values, type=kind)
    reference = to_tensor(plain(array), FP32x4, batched=True)
    one_row = to_tensor(plain(array.slice(1, 1)), FP32x4, batched=False)
    monkeypatch.setattr(columns, "_stack", None)  # the row-by-row path would fail now
    fast = to_tensor(with_arrow(array), FP32x4, batched=True)
    assert fast.dtype == reference.dtype == np.float32 and fast.shape == (3, 4)
    np.testing.assert_array_equal(fast, reference)
    np.testing.assert_array_equal(to_tensor(with_arrow(array.slice(1, 1)), FP32x4, batched=False), one_row)


def test_a_slice_of_an_array_gives_its_own_rows(no_row_by_row: None) -> None:
    array = pa.array(ROWS * 3, type=pa.list_(pa.float32())).slice(4, 3)  # rows 4..6: ROWS[1], ROWS[2], ROWS[0]
    fast = to_tensor(with_arrow(array), FP32x4, batched=True)
    np.testing.assert_array_equal(fast, np.asarray([ROWS[1], ROWS[2], ROWS[0]], np.float32))


def test_null_elements_are_refused_or_filled_as_before(no_row_by_row: None) -> None:
    array = pa.array([[1.0, None, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], type=pa.list_(pa.float32()))
    with pytest.raises(TritonSchemaError, match="an array holds a NULL element \\(1 in this batch\\)"):
        to_tensor(with_arrow(array), FP32x4, batched=True)
    filled = to_tensor(with_arrow(array), FP32x4, batched=True, fill_value=0)
    np.testing.assert_array_equal(filled, [[1, 0, 3, 4], [5, 6, 7, 8]])


def test_wrong_lengths_name_the_input_as_before(no_row_by_row: None) -> None:
    array = pa.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], type=pa.list_(pa.float32()))
    with pytest.raises(TritonSchemaError, match="input 'features' takes arrays of 4 elements; a row has 2"):
        to_tensor(with_arrow(array), FP32x4, batched=True)


def test_ragged_rows_are_not_cut_from_arrow() -> None:
    array = pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32()))
    assert columns._arrow_stack(array, columns._arrow_lengths(array)) is None


@pytest.mark.parametrize("case", ["null row", "cut column"])
def test_falls_back_to_row_by_row_for_a_column_cut_from_the_arrow_one(case: str) -> None:
    if case == "null row":  # the engine sends the other rows: a column cut from this one
        array = pa.array([[1.0, 2.0, 3.0, 4.0], None, ROWS[0]], type=pa.list_(pa.float32()))
        column, expected = with_arrow(array).iloc[[0, 2]], [[1, 2, 3, 4], ROWS[0]]
    else:
        array = pa.array(ROWS, type=pa.list_(pa.float32()))
        column, expected = with_arrow(array).iloc[[2, 0]], [ROWS[2], ROWS[0]]
    assert column.attrs[ARROW_ATTR].array is array  # pandas kept the attribute: the check must not trust it
    np.testing.assert_array_equal(to_tensor(column, FP32x4, batched=True), np.asarray(expected, np.float32))


def test_null_mask_from_arrow_matches_pandas() -> None:
    array = pa.array([ROWS[0], None, ROWS[1], None], type=pa.list_(pa.float32()))
    assert null_mask(with_arrow(array)).tolist() == null_mask(plain(array)).tolist() == [False, True, False, True]


def test_copies_of_a_column_share_the_arrow_array() -> None:
    column = with_arrow(pa.array(ROWS, type=pa.list_(pa.float32())))
    held = column.attrs[ARROW_ATTR]
    assert copy.deepcopy(column).attrs[ARROW_ATTR] is held
    assert column.isna().attrs[ARROW_ATTR] is held  # pandas deep-copies attrs along: no data copied


# -- in a real Flink job ----------------------------------------------------------------------


def test_a_flink_job_takes_the_arrow_path(triton_url: str, no_row_by_row: None) -> None:
    assert keep_arrow_arrays()
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    t_env.get_config().set("parallelism.default", "1")
    configure_inference(t_env, batch_size=500, max_latency_ms=200)
    t_env.create_temporary_function(
        "classify", triton_udf({"endpoint": triton_url, "model-name": "classifier"}, inputs=["features"])
    )
    feats = [[4 + (i % 32) / 8, 2 + (i % 13) / 8, 1 + (i % 47) / 8, (i % 21) / 8] for i in range(1200)]
    table = t_env.from_elements(
        list(enumerate(feats)),
        DataTypes.ROW(
            [DataTypes.FIELD("id", DataTypes.INT()), DataTypes.FIELD("features", DataTypes.ARRAY(DataTypes.FLOAT()))]
        ),
    )
    t_env.create_temporary_view("rows_1200", table)
    # The UDF runs in this process (loopback), where the row-by-row path is forbidden.
    with t_env.sql_query("SELECT id, classify(features) FROM rows_1200").execute().collect() as results:
        got = sorted(tuple(r) for r in results)
    assert got == [(i, iris_class(f)) for i, f in enumerate(feats)]
