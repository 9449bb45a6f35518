"""Flink types between our PyFlink-free :class:`~pyflink_triton.engine.types.FlinkType` and
PyFlink's ``DataType`` (the only place that converts between them)."""

from __future__ import annotations

from typing import Any

from pyflink.table import DataTypes
from pyflink.table import types as t

from ..engine.types import UNSUPPORTED_HINT, FlinkType
from ..errors import TritonConfigError

__all__ = ["flink_type_of", "from_datatype", "to_datatype"]

_SIMPLE = {
    t.BooleanType: "BOOLEAN",
    t.TinyIntType: "TINYINT",
    t.SmallIntType: "SMALLINT",
    t.IntType: "INT",
    t.BigIntType: "BIGINT",
    t.FloatType: "FLOAT",
    t.DoubleType: "DOUBLE",
    t.VarCharType: "STRING",
    t.CharType: "STRING",
    t.VarBinaryType: "BYTES",
    t.BinaryType: "BYTES",
}


def flink_type_of(value: Any) -> FlinkType:
    """A ``FlinkType`` from a DDL string, a PyFlink ``DataType`` or a ``FlinkType``."""
    if isinstance(value, FlinkType):
        return value
    if isinstance(value, str):
        return FlinkType.parse(value)
    return from_datatype(value)


def from_datatype(datatype: Any) -> FlinkType:
    """Convert a PyFlink ``DataType``; raise :class:`TritonConfigError` for unsupported ones."""
    nullable = bool(getattr(datatype, "_nullable", True))
    root = _SIMPLE.get(type(datatype))
    if root is not None:
        return FlinkType(root, nullable=nullable)
    if isinstance(datatype, t.ArrayType):
        return FlinkType("ARRAY", element=from_datatype(datatype.element_type), nullable=nullable)
    if isinstance(datatype, t.RowType):
        fields = tuple((f.name, from_datatype(f.data_type)) for f in datatype.fields)
        return FlinkType("ROW", fields=fields, nullable=nullable)
    raise TritonConfigError(f"Unsupported type {datatype}. {UNSUPPORTED_HINT}")


def to_datatype(ftype: FlinkType) -> Any:
    """The PyFlink ``DataType`` of a ``FlinkType``."""
    n = ftype.nullable
    if ftype.root == "ARRAY":
        assert ftype.element is not None
        return DataTypes.ARRAY(to_datatype(ftype.element), n)
    if ftype.root == "ROW":
        return DataTypes.ROW([DataTypes.FIELD(k, to_datatype(v)) for k, v in ftype.fields], n)
    return getattr(DataTypes, ftype.root)(n)
