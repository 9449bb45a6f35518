"""The ``default-value`` option read for a function's output type, once, when it opens."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..errors import TritonConfigError
from .types import NUMPY_DTYPES, FlinkType

__all__ = ["parse_default_value"]


def parse_default_value(text: str | None, ftype: FlinkType) -> tuple[bool, Any]:
    """Parse ``default-value`` for the output type once: ``(has_default, value)``.

    ``'null'`` is SQL NULL; numbers and booleans as text; arrays as a JSON list; several
    outputs (a ROW) as a JSON object by field name or a JSON list by position.
    :raises TritonConfigError: naming the option and the type when it does not parse.
    """
    if text is None:
        return False, None
    try:
        return True, _parse_for(text, ftype, top=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise TritonConfigError(
            f"Option 'default-value' = {text!r} cannot be read as the output type {ftype}: {exc}",
            option="default-value",
        ) from None


def _parse_for(value: Any, ftype: FlinkType, *, top: bool = False) -> Any:
    if value is None or (top and value == "null"):
        if not ftype.nullable:
            raise ValueError(f"NULL where the type is {ftype.ddl()}")
        return None
    root = ftype.root
    if root in ("ARRAY", "ROW") and isinstance(value, str):
        value = json.loads(value)
    if root == "ARRAY":
        if not isinstance(value, list):
            raise ValueError("an ARRAY default must be a JSON list")
        assert ftype.element is not None
        return [_parse_for(v, ftype.element) for v in value]
    if root == "ROW":
        names = [k for k, _ in ftype.fields]
        if isinstance(value, dict):
            unknown = set(value) - set(names)
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}; fields are {names}")
            items = [value.get(k) for k in names]
        elif isinstance(value, list) and len(value) == len(names):
            items = value
        else:
            raise ValueError(f"a ROW default must be a JSON object with fields {names} or a list of {len(names)}")
        return tuple(_parse_for(v, t) for v, (_, t) in zip(items, ftype.fields))
    if root == "STRING":
        return value if isinstance(value, str) else json.dumps(value)
    if root == "BYTES":
        return value.encode() if isinstance(value, str) else bytes(value)
    if root == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        raise ValueError("a BOOLEAN default must be true or false")
    if root in ("FLOAT", "DOUBLE"):
        if isinstance(value, bool):
            raise ValueError("not a number")
        number = float(value)
        if root == "FLOAT" and math.isfinite(number) and abs(number) > float(np.finfo(np.float32).max):
            raise ValueError("out of the FLOAT range")
        return number
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("not an integer")
    number = int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
    info = np.iinfo(NUMPY_DTYPES[root])
    if not info.min <= number <= info.max:
        raise ValueError(f"out of the {root} range [{info.min}, {info.max}]")
    return number
