"""Option values: text of a ``WITH`` clause <-> Python values, following Flink's own rules.

Durations and booleans read as Flink's ``TimeUtils`` / ``ConfigurationUtils`` read them, maps
in Flink's ``'k1:v1,k2:v2'`` syntax or as a JSON object (:mod:`.maps`), and
:func:`format_default_value` writes a Python fallback value the way PyFlink's ``TritonProvider``
does. Every parse error is a :class:`TritonConfigError` naming the option key and what is
accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from ..errors import TritonConfigError
from .maps import parse_map

__all__ = [
    "Kind",
    "TritonDefaultValue",
    "format_default_value",
    "format_duration",
    "format_size",
    "format_value",
    "invalid_value",
    "parse_bool",
    "parse_duration",
    "parse_float",
    "parse_int",
    "parse_map",
    "parse_size",
    "parse_value",
]

#: The value kinds of an option; each has a parser (:func:`parse_value`) and a writer
#: (:func:`format_value`). ``raw`` stays text until the output type is known (default-value).
Kind = Literal["string", "int", "float", "bool", "duration", "size", "map", "raw"]

#: What ``default-value`` may be given as from Python (PyFlink's ``_TritonDefaultValue``).
TritonDefaultValue = Union[str, int, float, bool, list[Any], tuple[Any, ...], Mapping[str, Any]]  # noqa: UP007 - a runtime alias: keep typing.Union


def invalid_value(key: str, value: Any, accepted: str, *, secret: bool = False) -> TritonConfigError:
    """The error for a bad ``value`` of option ``key``; a secret value is never shown."""
    shown = "<redacted>" if secret else _shown(value)
    return TritonConfigError(f"Invalid value for option '{key}': {shown}. Accepted: {accepted}.", option=key)


def _shown(value: Any) -> str:
    try:
        return repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"<a {type(value).__name__} too long to show>"


#: Flink reads integers, and the number of a duration or size, as a Java long.
_LONG_MAX = 2**63 - 1


def _long(digits: str) -> int | None:
    """``digits`` as an int, or None past a Java long (checked before ``int()``, which refuses
    more than 4300 digits)."""
    significant = digits.lstrip("0")
    if len(significant) > len(str(_LONG_MAX)):
        return None
    number = int(significant or "0")
    return number if number <= _LONG_MAX else None


# ---------------------------------------------------------------------------------------
# Durations (Flink's TimeUtils.parseDuration: a bare number is milliseconds).
# ---------------------------------------------------------------------------------------

_DURATION_UNITS: dict[str, float] = {}
for _factor, _names in (
    (86400.0, ("d", "day", "days")),
    (3600.0, ("h", "hour", "hours")),
    (60.0, ("min", "m", "minute", "minutes")),
    (1.0, ("s", "sec", "secs", "second", "seconds")),
    (1e-3, ("ms", "milli", "millis", "millisecond", "milliseconds")),
    (1e-6, ("µs", "us", "micro", "micros", "microsecond", "microseconds")),
    (1e-9, ("ns", "nano", "nanos", "nanosecond", "nanoseconds")),
):
    for _name in _names:
        _DURATION_UNITS[_name] = _factor

_DURATION = re.compile(r"^\s*(\d+)\s*([a-zµ]*)\s*$")
_DURATION_HELP = (
    "a duration such as '10s', '30000ms', '1 min' or a bare number of milliseconds "
    "(units: d, h, min/m, s, ms, us, ns; a number of at most 2^63-1)"
)


def parse_duration(value: Any, *, key: str = "duration") -> float:
    """Parse a Flink duration (``'10s'``, ``'30000ms'``, ``'1 min'``, ``'5000'`` = ms) into seconds.

    :raises TritonConfigError: naming ``key`` when the text is not a duration.
    """
    if isinstance(value, bool):
        raise invalid_value(key, value, _DURATION_HELP)
    if isinstance(value, (int, float)):
        # A Python number follows Flink's rule for a bare number: milliseconds.
        if value < 0 or value > _LONG_MAX or not math.isfinite(value):  # a huge int: no isfinite()
            raise invalid_value(key, value, _DURATION_HELP)
        if isinstance(value, float):
            value = round(value * 1e6) / 1e6  # whole nanoseconds, Flink's resolution
        return float(value) / 1000.0
    match = _DURATION.match(str(value).lower())
    number = _long(match.group(1)) if match else None
    if match is None or number is None or (match.group(2) and match.group(2) not in _DURATION_UNITS):
        raise invalid_value(key, str(value), _DURATION_HELP)
    return number * _DURATION_UNITS[match.group(2) or "ms"]


def format_duration(seconds: float) -> str:
    """Format seconds the way Flink prints durations: ``'30s'``, ``'2min'``, ``'100ms'``
    (``'250us'``, ``'1500ns'`` below a millisecond), so that :func:`parse_duration` reads
    the same duration back."""
    ms = round(seconds * 1000)
    if not math.isclose(seconds * 1000, ms, rel_tol=1e-12, abs_tol=1e-7):
        ns = round(seconds * 1e9)
        return f"{ns // 1000}us" if ns % 1000 == 0 else f"{ns}ns"
    if ms % 60000 == 0 and ms:
        return f"{ms // 60000}min"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


# ---------------------------------------------------------------------------------------
# Byte sizes (Flink's MemorySize.parse: binary units, a bare number is bytes).
# ---------------------------------------------------------------------------------------

_SIZE_UNITS: dict[str, int] = {}
for _power, _names in (
    (0, ("", "b", "bytes")),
    (1, ("k", "kb", "kibibytes")),
    (2, ("m", "mb", "mebibytes")),
    (3, ("g", "gb", "gibibytes")),
    (4, ("t", "tb", "tebibytes")),
):
    for _name in _names:
        _SIZE_UNITS[_name] = 1024**_power

_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")
_SIZE_HELP = (
    "a byte size such as '64mb', '1gb', '512kb' or a bare number of bytes (units: b, kb, mb, gb, tb; 1kb = 1024 bytes)"
)


def parse_size(value: Any, *, key: str = "size") -> int:
    """Parse a Flink memory size (``'64mb'``, ``'1 gb'``, ``'1048576'`` = bytes) into bytes.

    :raises TritonConfigError: naming ``key`` when the text is not a size.
    """
    if isinstance(value, (bool, float)):
        raise invalid_value(key, value, _SIZE_HELP)
    if isinstance(value, int):
        if value > _LONG_MAX:
            raise invalid_value(key, value, _SIZE_HELP)
        return value  # a Python int is a number of bytes (the range is checked by the option)
    match = _SIZE.match(str(value).lower())
    number = _long(match.group(1)) if match else None
    if match is None or number is None or match.group(2) not in _SIZE_UNITS:
        raise invalid_value(key, str(value), _SIZE_HELP)
    return number * _SIZE_UNITS[match.group(2)]


def format_size(size: int) -> str:
    """Format bytes the way :func:`parse_size` reads them: ``'256mb'``, ``'1gb'``, ``'1000'``."""
    for unit in ("tb", "gb", "mb", "kb"):
        factor = _SIZE_UNITS[unit]
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


# ---------------------------------------------------------------------------------------
# Scalars.
# ---------------------------------------------------------------------------------------


def parse_bool(value: Any, *, key: str = "boolean") -> bool:
    """Parse ``true``/``false`` (any case), as Flink does; Python bools pass through."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise invalid_value(key, str(value), "'true' or 'false'")


def parse_int(value: Any, *, key: str = "integer") -> int:
    """Parse an integer (a Java long, as Flink); a Python bool is not one (``True`` would
    silently become 1)."""
    if isinstance(value, bool):
        raise invalid_value(key, value, "an integer")
    number: int | None = value if isinstance(value, int) else None
    if number is None:
        text = str(value).strip()
        try:  # a long text is no 64-bit integer (and int() refuses over 4300 digits)
            number = int(text) if len(text) <= 64 else None
        except ValueError:
            number = None
    if number is None or not -_LONG_MAX - 1 <= number <= _LONG_MAX:
        raise invalid_value(key, value, "an integer")
    return number


def parse_float(value: Any, *, key: str = "number") -> float:
    """Parse a number; a Python bool is not one."""
    if isinstance(value, bool):
        raise invalid_value(key, value, "a number")
    try:
        return float(value) if isinstance(value, (int, float)) else float(str(value).strip())
    except (ValueError, OverflowError):  # OverflowError: an int past the float range
        raise invalid_value(key, value, "a number") from None


def format_default_value(value: TritonDefaultValue | None) -> str | None:
    """Write a Python fallback value as ``default-value`` text, as PyFlink's provider does.

    ``None`` stays unset; bools are ``'true'``/``'false'``; lists, tuples and mappings are
    JSON (no NaN: the JVM side parses strict JSON); anything else goes through ``str``.

    :raises ValueError: when a container holds something JSON cannot represent.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, Mapping)):
        payload = dict(value) if isinstance(value, Mapping) else value
        try:
            return json.dumps(payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"default_value contains a non-JSON-serializable element: {exc}") from exc
    return str(value)


def _parse_raw(value: Any, key: str) -> str:
    # default-value stays text until the output type is known (the UDF parses it).
    try:
        text = format_default_value(value)
    except ValueError as exc:
        raise invalid_value(key, value, f"text, a number, a boolean, or JSON-serializable containers ({exc})") from None
    return "" if text is None else text


# ---------------------------------------------------------------------------------------
# By kind.
# ---------------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "string": lambda v, k: str(v),
    "raw": _parse_raw,
    "int": lambda v, k: parse_int(v, key=k),
    "float": lambda v, k: parse_float(v, key=k),
    "bool": lambda v, k: parse_bool(v, key=k),
    "duration": lambda v, k: parse_duration(v, key=k),
    "size": lambda v, k: parse_size(v, key=k),
    "map": lambda v, k: parse_map(v, key=k),
}


def parse_value(kind: Kind, value: Any, key: str) -> Any:
    """Parse ``value`` (text of a ``WITH`` clause, or a Python value) as ``kind``.

    :raises TritonConfigError: naming ``key``.
    """
    return _PARSERS[kind](value, key)


def format_value(kind: Kind, value: Any) -> str:
    """Write a parsed value back as ``WITH`` clause text; inverse of :func:`parse_value`."""
    if kind == "duration":
        return format_duration(value)
    if kind == "size":
        return format_size(value)
    if kind == "bool":
        return "true" if value else "false"
    if kind == "map":
        return json.dumps(value, separators=(",", ":"))
    return str(value)
