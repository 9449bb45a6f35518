"""The outcome of every row of one batch, in input order: a value (None is SQL NULL) or an error.

Both UDF modes read the same object: the pandas UDF as one typed column per output
(:meth:`Outcomes.frame`), the async UDF as one result per row (:meth:`Outcomes.results`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..errors import TritonError
from .binding import TensorSpec
from .types import NUMPY_DTYPES

__all__ = ["ERROR_FIELD", "ERROR_MODES", "Failed", "Outcomes", "OutputColumn", "describe_error"]

#: The field an error-column result adds after the outputs.
ERROR_FIELD = "error"
#: ``fail``: a failed row fails the job (or takes ``default-value``); ``column``: it carries its error.
ERROR_MODES = ("fail", "column")


@dataclass(frozen=True)
class Failed:
    """A row whose outcome is an error (a row's value may itself be any object, so it is marked)."""

    error: BaseException


class OutputColumn:
    """One output's row values, collected in place; typed (numpy) where the type allows."""

    def __init__(self, spec: TensorSpec, n: int) -> None:
        self.spec = spec
        self.dtype = None if spec.flink_type.is_array else NUMPY_DTYPES.get(spec.flink_type.root)
        self.values: npt.NDArray[Any] = np.empty(n, dtype=self.dtype or object)
        self.present = np.zeros(n, dtype=bool)  # False: NULL

    def put(self, positions: npt.NDArray[Any], values: Any) -> None:
        """Set the values of ``positions`` (a numpy array for typed outputs, else a sequence)."""
        if self.dtype is None:
            # Element by element into an object array, so a list stays one row's value.
            for p, v in zip(positions.tolist(), values):
                self.values[p] = v
        else:
            self.values[positions] = values
        self.present[positions] = True

    def put_default(self, positions: npt.NDArray[Any], value: Any) -> None:
        """Set ``value`` at every position; each row gets a fresh list (none is shared)."""
        if value is None:
            return
        if self.dtype is not None:
            self.values[positions] = value
        else:
            for p in positions.tolist():
                self.values[p] = list(value) if isinstance(value, list) else value
        self.present[positions] = True

    def series(self) -> pd.Series[Any]:
        """The column as pandas: typed when no row is NULL, objects with None otherwise."""
        if self.present.all():
            return pd.Series(self.values, dtype=object if self.dtype is None else self.dtype)
        out = self.values.astype(object)
        out[~self.present] = None
        return pd.Series(out, dtype=object)

    def python_values(self) -> list[Any]:
        """The column as plain Python values (what PyFlink's row coder takes)."""
        if self.dtype is not None:
            values: list[Any] = self.values.tolist()
        else:
            values = [_plain(v) for v in self.values]
        if not self.present.all():
            for p in np.flatnonzero(~self.present).tolist():
                values[p] = None
        return values


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value


class Outcomes:
    """One outcome per row of a batch, in input order.

    :param error_column: the rows' errors are values too (an extra ``error`` STRING field:
        NULL where the row succeeded, the error's text where it failed): nothing raises.
    """

    def __init__(self, specs: Sequence[TensorSpec], n: int, *, error_column: bool = False) -> None:
        self.n = n
        self.error_column = error_column
        self.columns = [OutputColumn(spec, n) for spec in specs]
        # Few rows fail: dicts, not arrays. Rows given the default keep their error apart.
        self._errors: dict[int, TritonError] = {}
        self._recovered: dict[int, TritonError] = {}

    def put(self, positions: npt.NDArray[Any], columns: Sequence[Any]) -> None:
        """Set each output's values at ``positions`` (one sequence per output)."""
        for column, values in zip(self.columns, columns):
            column.put(positions, values)

    def put_default(self, positions: npt.NDArray[Any], value: Any, error: TritonError) -> None:
        """Give ``positions`` the parsed ``default-value`` (a tuple of fields for several
        outputs) in place of what ``error`` stopped."""
        if len(self.columns) == 1:
            self.columns[0].put_default(positions, value)
        elif value is not None:
            for column, field_value in zip(self.columns, value):
                column.put_default(positions, field_value)
        for p in positions.tolist():
            self._recovered[p] = error

    def fail(self, positions: npt.NDArray[Any], error: TritonError) -> None:
        """Make ``error`` the outcome of ``positions``."""
        for p in positions.tolist():
            self._errors[p] = error

    def decided(self) -> npt.NDArray[Any]:
        """True for rows that have a value, a default or an error."""
        done = np.zeros(self.n, dtype=bool)
        for column in self.columns:
            done |= column.present
        for rows in (self._errors, self._recovered):
            if rows:
                done[list(rows)] = True
        return done

    @property
    def failed_rows(self) -> int:
        """Rows whose outcome is an error."""
        return len(self._errors)

    def first_error(self) -> TritonError | None:
        """The error of the first failed row, if any (None in error-column mode)."""
        if self.error_column or not self._errors:
            return None
        return self._errors[min(self._errors)]

    def error_texts(self) -> list[str | None]:
        """Per row: None, or the text of the error that failed it (defaulted rows included)."""
        texts: list[str | None] = [None] * self.n
        for rows in (self._recovered, self._errors):
            for p, error in rows.items():
                texts[p] = describe_error(error)
        return texts

    def frame(self) -> pd.Series[Any] | pd.DataFrame:
        """The values as pandas (a Series for one output, a DataFrame for several or with the
        error column).

        :raises TritonError: the first failed row's error: a pandas column cannot hold it.
        """
        error = self.first_error()
        if error is not None:
            raise error
        if len(self.columns) == 1 and not self.error_column:
            return self.columns[0].series()
        frame = pd.DataFrame({c.spec.name: c.series() for c in self.columns})
        if self.error_column:
            frame[ERROR_FIELD] = pd.Series(self.error_texts(), dtype=object)
        return frame

    def results(self, make_row: Callable[..., Any] = lambda *fields: fields) -> list[Any]:
        """One result per row: its value (``make_row(*fields)`` for several outputs or with the
        error column) or :class:`Failed`."""
        per_output = [c.python_values() for c in self.columns]
        if self.error_column:
            return [make_row(*fields) for fields in zip(*per_output, self.error_texts())]
        if len(per_output) == 1:
            results = per_output[0]
        else:
            results = [
                None if all(v is None for v in fields) and not self._row_present(i) else make_row(*fields)
                for i, fields in enumerate(zip(*per_output))
            ]
        for p, error in self._errors.items():
            results[p] = Failed(error)
        return results

    def _row_present(self, i: int) -> bool:
        return any(bool(c.present[i]) for c in self.columns)


def describe_error(error: BaseException) -> str:
    """An error as the error column shows it: ``Kind: message`` (model, endpoint, status)."""
    return f"{type(error).__name__}: {error}"
