"""Triton's tensor datatypes and their numpy counterparts.

Wire names are the KServe v2 / Triton protocol names (``FP32``, ``BYTES``...).
Every numeric type travels little-endian, so the numpy dtypes returned here are
explicitly little-endian: that keeps encoding correct on a big-endian host too.

Two types have no exact numpy equivalent:

* ``BF16``: numpy has no bfloat16, so its *carrier* is float32. The wire size is
  still 2 bytes (see :func:`element_size`); requests and responses convert it.
* ``BYTES``: variable-length byte strings, held in numpy ``object`` arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyflink_triton.errors import TritonSchemaError

__all__ = [
    "BF16",
    "BOOL",
    "BYTES",
    "DATATYPES",
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "config_datatype_to_triton",
    "element_size",
    "numpy_dtype",
    "triton_datatype",
]

BOOL = "BOOL"
UINT8 = "UINT8"
UINT16 = "UINT16"
UINT32 = "UINT32"
UINT64 = "UINT64"
INT8 = "INT8"
INT16 = "INT16"
INT32 = "INT32"
INT64 = "INT64"
FP16 = "FP16"
BF16 = "BF16"
FP32 = "FP32"
FP64 = "FP64"
BYTES = "BYTES"

_NUMPY: dict[str, np.dtype[Any]] = {
    BOOL: np.dtype(np.bool_),
    UINT8: np.dtype("<u1"),
    UINT16: np.dtype("<u2"),
    UINT32: np.dtype("<u4"),
    UINT64: np.dtype("<u8"),
    INT8: np.dtype("<i1"),
    INT16: np.dtype("<i2"),
    INT32: np.dtype("<i4"),
    INT64: np.dtype("<i8"),
    FP16: np.dtype("<f2"),
    BF16: np.dtype("<f4"),
    FP32: np.dtype("<f4"),
    FP64: np.dtype("<f8"),
    BYTES: np.dtype(object),
}

#: every datatype of the protocol, in a stable order
DATATYPES: tuple[str, ...] = tuple(_NUMPY)

_WIRE_SIZE: dict[str, int | None] = {
    name: (None if name == BYTES else 2 if name == BF16 else dt.itemsize) for name, dt in _NUMPY.items()
}

# numpy (kind, itemsize) -> wire name; BF16 is never inferred, only declared
_FROM_NUMPY: dict[tuple[str, int], str] = {
    ("b", 1): BOOL,
    ("u", 1): UINT8,
    ("u", 2): UINT16,
    ("u", 4): UINT32,
    ("u", 8): UINT64,
    ("i", 1): INT8,
    ("i", 2): INT16,
    ("i", 4): INT32,
    ("i", 8): INT64,
    ("f", 2): FP16,
    ("f", 4): FP32,
    ("f", 8): FP64,
}

# model-config enum names (model_config.proto DataType) that differ from "TYPE_" + wire name
_CONFIG_SPECIAL = {"TYPE_STRING": BYTES}


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    """Return the little-endian numpy dtype holding ``datatype`` values.

    ``BYTES`` maps to ``object`` and ``BF16`` to its float32 carrier.

    :raises TritonSchemaError: for a name that is not a Triton datatype.
    """
    try:
        return _NUMPY[datatype]
    except (KeyError, TypeError):
        raise TritonSchemaError(
            f"unknown Triton datatype {datatype!r}; expected one of {', '.join(DATATYPES)}"
        ) from None


def triton_datatype(dtype: np.dtype[Any] | type | str) -> str:
    """Return the Triton datatype for a numpy dtype (inverse of :func:`numpy_dtype`).

    Object, unicode (``U``) and bytes (``S``) dtypes map to ``BYTES``; byte order
    is ignored (encoding swaps big-endian data). float32 maps to ``FP32``: BF16
    is only ever chosen explicitly.

    :raises TritonSchemaError: for dtypes Triton has no type for (complex,
        datetime, structured, float128...).
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TritonSchemaError(f"not a numpy dtype: {dtype!r}") from None
    if dt.kind in "OUS":
        return BYTES
    name = _FROM_NUMPY.get((dt.kind, dt.itemsize))
    if name is None or dt.fields is not None:
        raise TritonSchemaError(f"numpy dtype {dt} has no Triton datatype")
    return name


def config_datatype_to_triton(name: str) -> str:
    """Translate a model-config type (``TYPE_FP32``, ``TYPE_STRING``) to its protocol name.

    Protocol names (``FP32``) are accepted unchanged, since model metadata already
    uses them.

    :raises TritonSchemaError: for an unknown name (``TYPE_INVALID`` included).
    """
    special = _CONFIG_SPECIAL.get(name)
    if special is not None:
        return special
    wire = name[5:] if name.startswith("TYPE_") else name
    if wire not in _NUMPY:
        raise TritonSchemaError(f"unknown model-config datatype {name!r}")
    return wire


def element_size(datatype: str) -> int | None:
    """Bytes one element occupies on the wire; ``None`` for variable-size ``BYTES``.

    This is the wire size: 2 for ``BF16`` although its numpy carrier is float32.
    """
    try:
        return _WIRE_SIZE[datatype]
    except (KeyError, TypeError):
        raise TritonSchemaError(f"unknown Triton datatype {datatype!r}") from None
