"""Arrow arrays kept beside the pandas columns PyFlink hands a pandas UDF.

PyFlink 2.3 turns each Arrow column of a batch into pandas (``arrow_to_pandas`` of
``pyflink.table.utils``): an ``ARRAY`` column becomes an object Series of one ndarray per row,
from which a tensor would have to be gathered again, row by row. The wrapper installed here
calls PyFlink's own conversion unchanged, then attaches each list column's Arrow array to its
Series (``Series.attrs``, see :data:`~pyflink_triton.engine.columns.ARROW_ATTR`), so that the
engine cuts the tensor from the Arrow values buffer in one step. Every UDF gets the same
Series as before, with one more ``attrs`` entry.

PyFlink's coders (the Cython one and the pure-Python one) look ``arrow_to_pandas`` up in their
own module when a batch arrives, so that is where it is replaced. Idempotent; applied when the
pandas UDF's module is imported, which is how a worker gets the function (it is pickled by
reference to this package).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pyarrow as pa

from ..engine.columns import ARROW_ATTR, ArrowColumn, is_arrow_list
from .versions import patch_applies

__all__ = ["keep_arrow_arrays"]

_CODER_MODULES = ("pyflink.fn_execution.coder_impl_fast", "pyflink.fn_execution.coder_impl_slow")
_MARK = "__pyflink_triton_arrow__"
#: The function of each coder module that turns an Arrow batch into pandas, wrapped here.
_HOOKED = "arrow_to_pandas"


def keep_arrow_arrays() -> bool:
    """Install the wrapper in PyFlink's coders; whether it is in place in at least one (never
    on a PyFlink it was not written for: see :data:`~.versions.PATCHED_MINORS`)."""
    if not patch_applies("arrow-input"):
        return False
    installed = False
    for name in _CODER_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # the Cython coder is missing where PyFlink was built without it
            continue
        original = getattr(module, _HOOKED, None)
        if original is None:
            continue
        if not getattr(original, _MARK, False):
            setattr(module, _HOOKED, _keeping_arrow(original))
        installed = True
    return installed


def _keeping_arrow(original: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
    @functools.wraps(original)
    def arrow_to_pandas(timezone: Any, field_types: Any, batches: Sequence[pa.RecordBatch]) -> list[Any]:
        columns = original(timezone, field_types, batches)
        if len(batches) == 1:  # what the coders pass; several would need their columns joined
            for column, array in zip(columns, batches[0].columns):
                if isinstance(column, pd.Series) and is_arrow_list(array.type):
                    column.attrs[ARROW_ATTR] = ArrowColumn(array)
        return columns

    setattr(arrow_to_pandas, _MARK, True)
    return arrow_to_pandas
