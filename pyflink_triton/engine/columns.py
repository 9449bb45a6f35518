"""Conversions between the pandas columns PyFlink hands a UDF and model tensors.

What PyFlink's Arrow-to-pandas conversion gives (see ``pyflink.md``): STRING as ``str``
objects, INT as int32 (float64 with NaN when the batch has NULLs), BOOLEAN as bool (objects
with None when NULLs), ``ARRAY<T>`` as an object Series of ndarrays (a NULL array is None, a
NULL element NaN or None). NULL and NaN are therefore indistinguishable in FLOAT/DOUBLE
columns: both count as NULL. On the way back PyFlink masks NaN as NULL too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from ..errors import TritonSchemaError
from ..protocol import numpy_dtype
from .binding import TensorSpec
from .types import NUMPY_DTYPES, FlinkType

__all__ = [
    "ARROW_ATTR",
    "ArrowColumn",
    "array_lengths",
    "is_arrow_list",
    "null_mask",
    "object_column",
    "to_column",
    "to_tensor",
]

#: Key of ``Series.attrs`` under which a column may carry the Arrow array it was made from
#: (an :class:`ArrowColumn`; the PyFlink shell attaches it). ``ARRAY`` tensors are then cut
#: from the Arrow values buffer in one step instead of gathered from one ndarray per row,
#: which was most of the Python side's CPU per row on the way to Triton (BENCHMARKS.md).
ARROW_ATTR = "pyflink_triton.arrow"


class ArrowColumn:
    """The Arrow array a pandas column was made from. Arrow data is immutable, so copies of
    the column's ``attrs`` (pandas deep-copies them along) share it rather than copy it."""

    __slots__ = ("array",)

    def __init__(self, array: pa.Array | pa.ChunkedArray) -> None:
        self.array = array

    def __deepcopy__(self, memo: dict[int, Any]) -> ArrowColumn:
        return self

    def __copy__(self) -> ArrowColumn:
        return self


def is_arrow_list(kind: pa.DataType) -> bool:
    """Whether an Arrow type is a list (``list``, ``large_list`` or ``fixed_size_list``)."""
    return bool(pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind))


def _arrow_list(column: pd.Series[Any] | pd.DataFrame) -> pa.Array | None:
    """The column's Arrow list array, if it carries one that still matches it row for row
    (a column cut from it, ``iloc`` and the like, keeps the attribute but not the rows)."""
    if not isinstance(column, pd.Series):
        return None
    held = column.attrs.get(ARROW_ATTR)
    if not isinstance(held, ArrowColumn) or len(held.array) != len(column) or not len(column):
        return None
    array = held.array
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not is_arrow_list(array.type):
        return None
    if not isinstance(column.index, pd.RangeIndex) or column.index.start != 0 or column.index.step != 1:
        return None
    return array


def null_mask(column: pd.Series[Any] | pd.DataFrame) -> npt.NDArray[Any]:
    """True where the row's value is NULL (None, or NaN for numbers)."""
    if isinstance(column, pd.DataFrame):
        return column.isna().any(axis=1).to_numpy()
    arrow = _arrow_list(column)
    if arrow is not None:
        return (
            np.zeros(len(arrow), dtype=bool) if not arrow.null_count else arrow.is_null().to_numpy(zero_copy_only=False)
        )
    return column.isna().to_numpy()


def array_lengths(column: pd.Series[Any] | npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Length of each (non-NULL) array in an ``ARRAY`` column."""
    return np.fromiter(map(len, column), dtype=np.int64, count=len(column))


def to_tensor(column: pd.Series[Any], spec: TensorSpec, *, batched: bool, fill_value: Any = None) -> npt.NDArray[Any]:
    """Turn the non-NULL rows of a column into the tensor ``spec`` wants.

    ``batched``: prepend the batch dimension (``[B, ...]``); otherwise the column holds one
    row and the tensor is that row's value alone.
    :raises TritonSchemaError: naming the tensor, for values that do not fit.
    """
    if spec.is_array:
        return _array_tensor(column, spec, batched, fill_value)
    values = column.to_numpy()
    if spec.datatype == "BYTES":
        arr = values.astype(object, copy=False)
    else:
        arr = _numeric(values, spec)
    # dims [1] want [B, 1]; dims [] want [B].
    if spec.dims == (1,) or not batched:
        arr = arr.reshape(-1, 1) if batched else arr.reshape(1)
    return arr


def _numeric(values: npt.NDArray[Any], spec: TensorSpec) -> npt.NDArray[Any]:
    target = numpy_dtype(spec.datatype)
    if values.dtype == object:
        try:
            values = values.astype(np.float64 if target.kind == "f" else target)
        except (TypeError, ValueError) as exc:
            raise TritonSchemaError(
                f"input '{spec.name}' ({spec.datatype}) got values that are not numbers: {exc}"
            ) from None
    if values.dtype == target:
        return values
    if (
        target.kind in "iub"
        and values.dtype.kind == "f"
        and (not np.all(np.isfinite(values)) or np.any(values != np.round(values)))
    ):
        raise TritonSchemaError(f"input '{spec.name}' ({spec.datatype}) got non-integer values")
    if target.kind in "iu" and values.size:
        info = np.iinfo(target)
        # Compare floats against exact float bounds: float(2**63 - 1) rounds up to 2**63.
        low, high = (info.min, info.max + 1) if values.dtype.kind == "f" else (info.min, info.max)
        too_big = values.max() >= high if values.dtype.kind == "f" else values.max() > high
        if values.min() < low or too_big:
            hint = (
                " (a BIGINT batch with NULLs reaches pandas as float64, exact only up to 2**53)"
                if values.dtype.kind == "f"
                else ""
            )
            raise TritonSchemaError(
                f"input '{spec.name}' ({spec.datatype}) got values outside [{info.min}, {info.max}]{hint}"
            )
    return values.astype(target)


def _array_tensor(column: pd.Series[Any], spec: TensorSpec, batched: bool, fill_value: Any) -> npt.NDArray[Any]:
    want = spec.dims[-1] if spec.dims else -1
    text = spec.datatype == "BYTES"
    arrow = None if text else _arrow_list(column)
    if arrow is not None and arrow.null_count:
        arrow = None  # NULL rows are not sent: the engine hands over the others (no Arrow then)
    values = column.to_numpy() if arrow is None else None
    lengths = array_lengths(values) if values is not None else _arrow_lengths(arrow)
    if want >= 0 and len(lengths) and (lengths != want).any():
        raise TritonSchemaError(
            f"input '{spec.name}' takes arrays of {want} elements; a row has {lengths[lengths != want][0]}"
        )
    stacked = _arrow_stack(arrow, lengths) if arrow is not None else None
    if stacked is None:
        stacked = _stack(column.to_numpy() if values is None else values, lengths, text, max(want, 0))
    if stacked.dtype == object:
        nulls = pd.isna(stacked)
    elif stacked.dtype.kind == "f":
        nulls = np.isnan(stacked)
    else:
        nulls = None
    if nulls is not None and nulls.any():
        if fill_value is None:
            raise TritonSchemaError(
                f"input '{spec.name}': an array holds a NULL element ({int(nulls.sum())} in this "
                "batch); NULL elements cannot be sent to Triton. Filter them out, or give a fill "
                "value (fill_value=...) to send in their place"
            )
        stacked = stacked.copy()
        stacked[nulls] = fill_value
    if spec.datatype != "BYTES":
        stacked = _numeric(stacked, spec)
    if not batched:
        stacked = stacked.reshape(-1) if spec.dims and len(spec.dims) == 1 else stacked.reshape(1, -1)
    return stacked


def _stack(values: npt.NDArray[Any], lengths: npt.NDArray[Any], text: bool, width: int) -> npt.NDArray[Any]:
    """Rows of equal length as one ``[rows, length]`` array."""
    n = len(values)
    if n == 0:
        return np.empty((0, width), dtype=object if text else np.float64)
    if text:
        stacked = np.empty((n, int(lengths[0])), dtype=object)
        for i, row in enumerate(values):
            stacked[i] = row
        return stacked
    # One concatenate and a reshape: about 2.5x faster than np.stack over 20,000 small rows,
    # the largest single cost of an ARRAY<FLOAT> column on the way to Triton.
    flat: npt.NDArray[Any] | None = np.concatenate(values) if (lengths == lengths[0]).all() else None
    if flat is None or flat.ndim != 1:
        return np.stack([np.asarray(v) for v in values])
    return flat.reshape(n, int(lengths[0]))


def _arrow_lengths(array: pa.Array) -> npt.NDArray[Any]:
    """Each row's length, from the list's offsets (a NULL row counts 0)."""
    if pa.types.is_fixed_size_list(array.type):
        return np.full(len(array), array.type.list_size, dtype=np.int64)
    offsets = array.offsets.to_numpy(zero_copy_only=False)
    return np.diff(offsets).astype(np.int64, copy=False)


def _arrow_stack(array: pa.Array, lengths: npt.NDArray[Any]) -> npt.NDArray[Any] | None:
    """Rows of equal length as one ``[rows, length]`` array, straight from the values
    buffer (an array without NULL rows); ``None`` for ragged or nested rows."""
    n = len(array)
    if not n or (lengths != lengths[0]).any():
        return None
    flat = array.flatten()  # this array's values only, even when it is a slice
    if pa.types.is_nested(flat.type):
        return None
    # NULL elements come as NaN (integers as float64), as PyFlink's pandas conversion gives them.
    values: npt.NDArray[Any] = flat.to_numpy(zero_copy_only=False)
    return values.reshape(n, int(lengths[0]))


def to_column(array: npt.NDArray[Any], spec: TensorSpec, rows: int) -> list[Any] | npt.NDArray[Any]:
    """Turn a ``[B, ...]`` output tensor into ``B`` row values of ``spec.flink_type``.

    Returns a numpy array for scalar numbers (fast path) or a list of Python values.
    :raises TritonSchemaError: for a wrong row count or a value the type cannot hold.
    """
    ftype = spec.flink_type
    if array.ndim == 0 or array.shape[0] != rows:
        raise TritonSchemaError(f"output '{spec.name}' has shape {list(array.shape)}, expected {rows} rows")
    if not ftype.is_array:
        flat = array.reshape(rows, -1)
        if flat.shape[1] != 1:
            raise TritonSchemaError(f"output '{spec.name}' holds {flat.shape[1]} values a row; declare it as an ARRAY")
        return _scalars(flat[:, 0], ftype, spec.name)
    element = ftype.scalar
    per_row = array.reshape(rows, -1)
    if element.root in ("STRING", "BYTES"):
        return [list(_scalars(r, element, spec.name)) for r in per_row]
    converted = _scalars(per_row, element, spec.name)
    return list(converted)


def _scalars(values: npt.NDArray[Any], ftype: FlinkType, name: str) -> list[Any] | npt.NDArray[Any]:
    root = ftype.root
    if root == "STRING":
        if values.dtype != object:
            raise TritonSchemaError(f"output '{name}' is {values.dtype}, not text")
        try:
            return (
                [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values.tolist()]
                if values.ndim == 1
                else values
            )
        except UnicodeDecodeError:
            raise TritonSchemaError(f"output '{name}' holds bytes that are not UTF-8; declare it as BYTES") from None
    if root == "BYTES":
        return [bytes(v) for v in values.tolist()]
    target = NUMPY_DTYPES[root]
    if values.dtype == object or values.dtype.kind not in "biuf":
        raise TritonSchemaError(f"output '{name}' is {values.dtype}, not {root}")
    if target.kind in "iu" and values.dtype.kind in "iu":
        info = np.iinfo(target)
        if values.size and (values.max() > info.max or values.min() < info.min):
            raise TritonSchemaError(f"output '{name}' has values outside the range of {root}")
    return values.astype(target, copy=False)


def object_column(values: list[Any]) -> pd.Series[Any]:
    """Values gathered row by row (the async UDF's) as the object column ``to_tensor`` takes.

    Filled element by element, so a list stays one row's value.
    """
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return pd.Series(array, dtype=object)
