"""Flink SQL types as this project needs them, and their mapping to Triton datatypes.

A small type model of our own (:class:`FlinkType`) so that the mapping, DDL parsing and
compatibility rules are plain Python with no JVM; ``pyflink_triton.flink.types`` converts
to and from PyFlink's ``DataType``.

Mapping (the Java provider's, extended): BOOLEAN<->BOOL, TINYINT<->INT8, SMALLINT<->INT16,
INT<->INT32, BIGINT<->INT64, FLOAT<->FP32 (FP16/BF16 models take FLOAT, cast), DOUBLE<->FP64,
STRING<->BYTES (UTF-8), BYTES<->BYTES (raw), ARRAY<T><->T with a dimension. Unsigned model
types come out as the next wider signed type (UINT64 as BIGINT, checked for overflow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import TritonConfigError

__all__ = ["NUMPY_DTYPES", "FlinkType", "can_receive", "can_send", "flink_type_for", "triton_datatypes_for"]

_SCALARS = ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "STRING", "BYTES")
_NUMERIC = ("TINYINT", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE")
_ALIASES = {
    "INTEGER": "INT",
    "REAL": "FLOAT",
    "VARCHAR": "STRING",
    "CHAR": "STRING",
    "VARBINARY": "BYTES",
    "BINARY": "BYTES",
    "BOOL": "BOOLEAN",
}
UNSUPPORTED_HINT = (
    "Supported: BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, FLOAT, DOUBLE, STRING/VARCHAR, "
    "BYTES/VARBINARY, ARRAY<T> of those, and ROW<...> of those for several model outputs. "
    "CAST other types (e.g. DECIMAL to DOUBLE, TIMESTAMP to STRING) before ML_PREDICT."
)

# Flink type -> the Triton datatype it travels as by default.
_TO_TRITON = {
    "BOOLEAN": "BOOL",
    "TINYINT": "INT8",
    "SMALLINT": "INT16",
    "INT": "INT32",
    "BIGINT": "INT64",
    "FLOAT": "FP32",
    "DOUBLE": "FP64",
    "STRING": "BYTES",
    "BYTES": "BYTES",
}
# Triton datatype -> the Flink type that holds it (derived result types).
_FROM_TRITON = {
    "BOOL": "BOOLEAN",
    "INT8": "TINYINT",
    "INT16": "SMALLINT",
    "INT32": "INT",
    "INT64": "BIGINT",
    "UINT8": "SMALLINT",
    "UINT16": "INT",
    "UINT32": "BIGINT",
    "UINT64": "BIGINT",
    "FP16": "FLOAT",
    "BF16": "FLOAT",
    "FP32": "FLOAT",
    "FP64": "DOUBLE",
    "BYTES": "STRING",
}
#: The numpy dtype holding a Flink numeric or boolean scalar (the one Flink -> numpy table).
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOLEAN": np.dtype(bool),
    "TINYINT": np.dtype(np.int8),
    "SMALLINT": np.dtype(np.int16),
    "INT": np.dtype(np.int32),
    "BIGINT": np.dtype(np.int64),
    "FLOAT": np.dtype(np.float32),
    "DOUBLE": np.dtype(np.float64),
}
_INT_TRITON = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_FLOAT_TRITON = {"FP16", "BF16", "FP32", "FP64"}


@dataclass(frozen=True)
class FlinkType:
    """A Flink SQL type: a scalar, ``ARRAY<element>`` or ``ROW<name type, ...>``."""

    root: str
    element: FlinkType | None = None
    fields: tuple[tuple[str, FlinkType], ...] = field(default=())
    nullable: bool = True

    def __post_init__(self) -> None:
        if self.root not in (*_SCALARS, "ARRAY", "ROW"):
            raise TritonConfigError(f"Unsupported type {self.root}. {UNSUPPORTED_HINT}")

    # -- constructors ---------------------------------------------------------------------

    @classmethod
    def parse(cls, ddl: str) -> FlinkType:
        """Parse a Flink type in DDL form: ``'ARRAY<FLOAT>'``, ``'ROW<a INT, b STRING>'``, ..."""
        parser = _Parser(ddl)
        result = parser.type()
        parser.expect_end()
        return result

    # -- views ----------------------------------------------------------------------------

    @property
    def is_array(self) -> bool:
        return self.root == "ARRAY"

    @property
    def scalar(self) -> FlinkType:
        """The element type of an array (recursively), else this type."""
        return self.element.scalar if self.element is not None else self

    def with_nullable(self, nullable: bool) -> FlinkType:
        return FlinkType(self.root, self.element, self.fields, nullable)

    def ddl(self) -> str:
        """This type in Flink DDL (``ARRAY<FLOAT>``, ``ROW<`a` INT>``, ``BIGINT NOT NULL``)."""
        if self.root == "ARRAY":
            assert self.element is not None
            text = f"ARRAY<{self.element.ddl()}>"
        elif self.root == "ROW":
            text = "ROW<" + ", ".join(f"`{k}` {v.ddl()}" for k, v in self.fields) + ">"
        else:
            text = self.root
        return text if self.nullable else text + " NOT NULL"

    def __str__(self) -> str:
        return self.ddl()


def flink_type_for(datatype: str, dims: int) -> FlinkType:
    """The Flink type of a model tensor per row: ``dims`` extra dimensions make ARRAYs."""
    try:
        result = FlinkType(_FROM_TRITON[datatype])
    except KeyError:
        raise TritonConfigError(f"Triton datatype {datatype!r} has no Flink type") from None
    for _ in range(dims):
        result = FlinkType("ARRAY", element=result)
    return result


def triton_datatypes_for(ftype: FlinkType) -> str:
    """The Triton datatype a Flink type travels as by default (element type for arrays)."""
    return _TO_TRITON[ftype.scalar.root]


def can_send(ftype: FlinkType, datatype: str) -> bool:
    """Whether values of Flink type ``ftype`` may be sent to a model input of ``datatype``.

    Numbers go to any numeric datatype (values are checked when converted: no silent
    overflow), FLOAT/DOUBLE also to FP16/BF16; STRING and BYTES to BYTES; BOOLEAN to BOOL.
    """
    root = ftype.scalar.root
    if root == "BOOLEAN":
        return datatype == "BOOL"
    if root in ("STRING", "BYTES"):
        return datatype == "BYTES"
    if root in ("FLOAT", "DOUBLE"):
        return datatype in _FLOAT_TRITON
    if root in _NUMERIC:
        return datatype in _INT_TRITON or datatype in _FLOAT_TRITON
    return False


def can_receive(datatype: str, ftype: FlinkType) -> bool:
    """Whether a model output of ``datatype`` may be returned as Flink type ``ftype``."""
    root = ftype.scalar.root
    if datatype == "BOOL":
        return root == "BOOLEAN"
    if datatype == "BYTES":
        return root in ("STRING", "BYTES")
    if datatype in _INT_TRITON:
        return root in _NUMERIC
    if datatype in _FLOAT_TRITON:
        return root in ("FLOAT", "DOUBLE")
    return False


class _Parser:
    """A recursive-descent parser for the DDL types we support."""

    _TOKEN = re.compile(r"\s*(`(?:[^`]|``)*`|[A-Za-z_][A-Za-z0-9_$]*|\d+|[<>(),])")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        pos = 0
        stripped = text.rstrip()
        while pos < len(stripped):
            m = self._TOKEN.match(stripped, pos)
            if not m:
                raise self.error(f"unexpected character {stripped[pos:].strip()[:1]!r}")
            self.tokens.append(m.group(1))
            pos = m.end()
        self.i = 0

    def error(self, what: str) -> TritonConfigError:
        return TritonConfigError(f"Cannot parse type {self.text!r}: {what}. {UNSUPPORTED_HINT}")

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise self.error("unexpected end")
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.take()
        if got.upper() != tok:
            raise self.error(f"expected {tok!r}, got {got!r}")

    def expect_end(self) -> None:
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()!r}")

    def type(self) -> FlinkType:
        word = self.take().upper()
        if word == "DOUBLE" and (self.peek() or "").upper() == "PRECISION":
            self.take()
        root = _ALIASES.get(word, word)
        if root == "ARRAY":
            self.expect("<")
            element = self.type()
            self.expect(">")
            result = FlinkType("ARRAY", element=element)
        elif root == "ROW":
            close = ">" if self.peek() == "<" else ")"
            self.take()
            fields = []
            while True:
                name = self.take()
                name = name[1:-1].replace("``", "`") if name.startswith("`") else name
                fields.append((name, self.type()))
                if self.peek() == ",":
                    self.take()
                    continue
                break
            self.expect(close)
            result = FlinkType("ROW", fields=tuple(fields))
        elif root in _SCALARS:
            if self.peek() == "(":  # VARCHAR(10), BINARY(16): the length does not matter here
                self.take()
                self.take()
                self.expect(")")
            result = FlinkType(root)
        else:
            raise self.error(f"{word} is not supported")
        nxt = (self.peek() or "").upper()
        if nxt == "NOT":
            self.take()
            self.expect("NULL")
            result = result.with_nullable(False)
        elif nxt == "NULL":
            self.take()
        return result
