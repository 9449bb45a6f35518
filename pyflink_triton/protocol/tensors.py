"""Input tensors: :class:`Tensor`, conversion of data to a datatype's dtype, BF16 bits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from pyflink_triton.errors import TritonSchemaError

from .datatypes import BYTES, numpy_dtype, triton_datatype

__all__ = ["Tensor", "bf16_bits", "bf16_to_float32", "coerce"]

_NUMPY_KINDS = "biuf"


@dataclass(frozen=True, slots=True)
class Tensor:
    """A named input tensor: ``data.shape`` is its shape, ``datatype`` its Triton type.

    ``data`` holds numbers in the datatype's numpy dtype (BF16: float32), or, for
    BYTES, ``str``/``bytes`` elements in an object, ``U`` or ``S`` array.
    Prefer :meth:`from_array`, which converts and checks the data.
    """

    name: str
    datatype: str
    data: npt.NDArray[Any]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TritonSchemaError(f"tensor name must be a non-empty string, got {self.name!r}")
        numpy_dtype(self.datatype)
        if not isinstance(self.data, np.ndarray):
            raise TritonSchemaError(f"tensor {self.name!r}: data must be a numpy array, got {type(self.data).__name__}")

    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape (``data.shape``)."""
        return self.data.shape

    @classmethod
    def from_array(cls, name: str, array: Any, datatype: str | None = None) -> Tensor:
        """Build a tensor from an array (or nested sequence), converting it to ``datatype``.

        Without ``datatype`` it is inferred from the array's dtype. With one, numeric
        data is cast to that datatype's dtype (float32 to FP16, Python ints to INT64...)
        as long as no value changes beyond float rounding.

        :raises TritonSchemaError: when the data cannot become ``datatype`` (strings
            to FP32, 300 to UINT8, 1.5 to INT32, None in a numeric tensor...).
        """
        if not isinstance(array, np.ndarray):
            array = _as_array(name, array)
        if datatype is None:
            try:
                datatype = triton_datatype(array.dtype)
            except TritonSchemaError as exc:
                raise TritonSchemaError(f"tensor {name!r}: {exc.message}") from None
        return cls(name, datatype, coerce(name, array, datatype))


def _as_array(name: str, values: Any) -> npt.NDArray[Any]:
    try:
        array = np.asarray(values)
        if array.dtype.kind in "US":
            # keep str/bytes objects as given: "S" arrays drop trailing NULs
            array = np.array(values, dtype=object)
    except (ValueError, TypeError) as exc:
        raise TritonSchemaError(f"tensor {name!r}: not an array: {exc}") from None
    return array


def coerce(name: str, array: npt.NDArray[Any], datatype: str) -> npt.NDArray[Any]:
    """Return ``array`` in ``datatype``'s numpy dtype (itself when it already is).

    :raises TritonSchemaError: when a value would change beyond float rounding, or
        the data's kind cannot become ``datatype`` at all.
    """
    target = numpy_dtype(datatype)
    source = array.dtype
    if datatype == BYTES:
        if source.kind in "OUS":
            return array
        raise TritonSchemaError(f"tensor {name!r}: {source} data cannot be sent as BYTES; pass str or bytes elements")
    if source == target:
        return array
    _check_castable(name, array, datatype)
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            converted = array.astype(target)
            # float rounding is accepted; a changed integer or boolean value is not
            exact = (
                target.kind not in "biu"
                or np.can_cast(source, target, "safe")
                or np.array_equal(converted.astype(source), array)
            )
    except (TypeError, ValueError, OverflowError) as exc:
        raise TritonSchemaError(f"tensor {name!r}: {source} data cannot be sent as {datatype}: {exc}") from None
    if not exact:
        raise TritonSchemaError(f"tensor {name!r}: values do not fit {datatype} (out of range, fractional or NaN)")
    return converted


def _check_castable(name: str, array: npt.NDArray[Any], datatype: str) -> None:
    """Refuse data whose kind has no numeric meaning, before numpy parses strings as numbers."""
    source = array.dtype
    if source.kind == "O":
        for value in array.flat:
            if value is None or isinstance(value, (str, bytes, bytearray)):
                raise TritonSchemaError(f"tensor {name!r}: {type(value).__name__} element cannot be sent as {datatype}")
    elif source.kind not in _NUMPY_KINDS:
        raise TritonSchemaError(f"tensor {name!r}: {source} data cannot be sent as {datatype}")


def bf16_bits(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Convert float32 values to bfloat16 bit patterns (``<u2``), rounding to nearest even."""
    bits = np.ascontiguousarray(array, dtype="<f4").view("<u4")
    rounded = (bits >> 16) & 1
    rounded += 0x7FFF
    rounded += bits  # wraps only for NaN lanes, which are replaced below
    rounded >>= 16
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    if nan.any():
        # truncating could turn a NaN with only low payload bits into infinity: set the quiet bit
        rounded[nan] = (bits[nan] >> 16) | 0x0040
    return rounded.astype("<u2")


def bf16_to_float32(bits: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Widen bfloat16 bit patterns (``<u2``) to the float32 values they stand for."""
    return (bits.astype("<u4") << 16).view("<f4")
