"""Option values: text of a ``WITH`` clause <-> Python values, following Flink's own rules.

Durations and booleans read as Flink's ``TimeUtils`` / ``ConfigurationUtils`` read them, maps
in Flink's ``'k1:v1,k2:v2'`` syntax (or as a JSON object), and :func:`format_default_value`
writes a Python fallback value the way PyFlink's ``TritonProvider`` does. Every parse error
is a :class:`TritonConfigError` naming the option key and what is accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, Union

from ..errors import TritonConfigError

__all__ = [
    "Kind",
    "TritonDefaultValue",
    "format_default_value",
    "format_duration",
    "format_value",
    "invalid_value",
    "parse_bool",
    "parse_duration",
    "parse_float",
    "parse_int",
    "parse_map",
    "parse_value",
]

#: The value kinds of an option; each has a parser (:func:`parse_value`) and a writer
#: (:func:`format_value`). ``raw`` stays text until the output type is known (default-value).
Kind = Literal["string", "int", "float", "bool", "duration", "map", "raw"]

#: What ``default-value`` may be given as from Python (PyFlink's ``_TritonDefaultValue``).
TritonDefaultValue = Union[str, int, float, bool, list[Any], tuple[Any, ...], Mapping[str, Any]]


def invalid_value(key: str, value: Any, accepted: str, *, secret: bool = False) -> TritonConfigError:
    """The error for a bad ``value`` of option ``key``; a secret value is never shown."""
    shown = "<redacted>" if secret else repr(value)
    return TritonConfigError(
        f"Invalid value for option '{key}': {shown}. Accepted: {accepted}.", option=key
    )


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
    "(units: d, h, min/m, s, ms, us, ns)"
)


def parse_duration(value: Any, *, key: str = "duration") -> float:
    """Parse a Flink duration (``'10s'``, ``'30000ms'``, ``'1 min'``, ``'5000'`` = ms) into seconds.

    :raises TritonConfigError: naming ``key`` when the text is not a duration.
    """
    if isinstance(value, bool):
        raise invalid_value(key, value, _DURATION_HELP)
    if isinstance(value, (int, float)):
        # A Python number follows Flink's rule for a bare number: milliseconds.
        if value < 0 or not math.isfinite(value):
            raise invalid_value(key, value, _DURATION_HELP)
        return float(value) / 1000.0
    match = _DURATION.match(str(value).lower())
    if not match or (match.group(2) and match.group(2) not in _DURATION_UNITS):
        raise invalid_value(key, str(value), _DURATION_HELP)
    number, unit = match.groups()
    return int(number) * _DURATION_UNITS[unit or "ms"]


def format_duration(seconds: float) -> str:
    """Format seconds the way Flink prints durations: ``'30s'``, ``'2min'``, ``'100ms'``."""
    ms = round(seconds * 1000)
    if ms % 60000 == 0 and ms:
        return f"{ms // 60000}min"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


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
    """Parse an integer; a Python bool is not one (``True`` would silently become 1)."""
    if isinstance(value, bool):
        raise invalid_value(key, value, "an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise invalid_value(key, value, "an integer") from None


def parse_float(value: Any, *, key: str = "number") -> float:
    """Parse a number; a Python bool is not one."""
    if isinstance(value, bool):
        raise invalid_value(key, value, "a number")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
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
            raise ValueError(
                f"default_value contains a non-JSON-serializable element: {exc}"
            ) from exc
    return str(value)


def _parse_raw(value: Any, key: str) -> str:
    # default-value stays text until the output type is known (the UDF parses it).
    try:
        text = format_default_value(value)
    except ValueError as exc:
        raise invalid_value(
            key, value, f"text, a number, a boolean, or JSON-serializable containers ({exc})"
        ) from None
    return "" if text is None else text


# ---------------------------------------------------------------------------------------
# Maps (Flink's ConfigurationUtils map syntax, or a JSON object).
# ---------------------------------------------------------------------------------------


def _read_quoted(text: str, i: int, stop: str) -> tuple[str, int]:
    """Read a token quoted with ``text[i]`` (a doubled quote escapes it) up to ``stop``."""
    n = len(text)
    quote, i, buf = text[i], i + 1, []
    while True:
        if i >= n:
            raise ValueError(f"unclosed quote {quote}")
        if text[i] == quote:
            if i + 1 < n and text[i + 1] == quote:
                buf.append(quote)
                i += 2
                continue
            i += 1
            break
        buf.append(text[i])
        i += 1
    while i < n and text[i].isspace():
        i += 1
    if i < n and text[i] != stop:
        raise ValueError(f"unexpected {text[i]!r} after a quoted token")
    return "".join(buf), i


def _read_token(text: str, i: int, stop: str) -> tuple[str, int]:
    """Read one key or value starting at ``i``; quoted ('x' or "x") or plain up to ``stop``.
    Returns the token and the index of the stop (or the end)."""
    n = len(text)
    while i < n and text[i].isspace():
        i += 1
    if i < n and text[i] in "'\"":
        return _read_quoted(text, i, stop)
    j = text.find(stop, i)
    j = n if j < 0 else j
    return text[i:j].strip(), j


def _parse_pairs(text: str) -> dict[str, str]:
    """Flink map syntax: ``k1:v1,k2:v2``; a value runs to the next comma, so it may hold
    colons (URLs); quote a key or value to put ``,`` or ``:`` in it."""
    result: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        key, i = _read_token(text, i, ":")
        if i >= n:
            if key:
                raise ValueError(f"entry {key!r} has no 'key:value' form")
            break
        if not key:
            raise ValueError("an entry has an empty key")
        value, i = _read_token(text, i + 1, ",")
        result[key] = value
        i += 1  # past the comma
    return result


_MAP_HELP = "Flink map syntax 'key1:value1,key2:value2' or a JSON object '{\"key1\": \"value1\"}'"


def _parse_json_object(text: str, key: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TritonConfigError(
            f"Invalid value for option '{key}': not valid JSON ({exc.msg} at position "
            f"{exc.pos}). Accepted: {_MAP_HELP}.",
            option=key,
        ) from None
    if not isinstance(parsed, dict) or any(
        isinstance(v, (dict, list)) or v is None for v in parsed.values()
    ):
        raise TritonConfigError(
            f"Invalid value for option '{key}': the JSON must be an object of scalar values. "
            f"Accepted: {_MAP_HELP}.",
            option=key,
        )
    return parsed


def parse_map(value: Any, *, key: str = "map") -> dict[str, Any]:
    """Parse Flink map syntax ``'k1:v1,k2:v2'`` (quotes allowed) or a JSON object.

    JSON values keep their JSON types (numbers, booleans); map-syntax values are strings.
    """
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    text = str(value).strip()
    if not text:
        return {}
    if text.startswith("{"):
        return _parse_json_object(text, key)
    try:
        return _parse_pairs(text)
    except ValueError as exc:
        raise TritonConfigError(
            f"Invalid value for option '{key}': {exc}. Accepted: {_MAP_HELP}.", option=key
        ) from None


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
    if kind == "bool":
        return "true" if value else "false"
    if kind == "map":
        return json.dumps(value, separators=(",", ":"))
    return str(value)
