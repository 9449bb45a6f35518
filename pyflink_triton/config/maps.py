"""Map option values: Flink's ``ConfigurationUtils`` map syntax ``'k1:v1,k2:v2'``, or a JSON object.

Every parse error is a :class:`TritonConfigError` naming the option key and what is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import TritonConfigError

__all__ = ["is_scalar", "parse_map"]


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
    except (ValueError, RecursionError) as exc:
        # ValueError: JSONDecodeError, or an integer past Python's digit limit.
        where = (
            f"{exc.msg} at position {exc.pos}"
            if isinstance(exc, json.JSONDecodeError)
            else "a number too long, or nesting too deep"
        )
        raise TritonConfigError(
            f"Invalid value for option '{key}': not valid JSON ({where}). Accepted: {_MAP_HELP}.",
            option=key,
        ) from None
    if not isinstance(parsed, dict) or not all(is_scalar(v) or _flat_list(v) for v in parsed.values()):
        raise TritonConfigError(
            f"Invalid value for option '{key}': the JSON must be an object of scalar values (or flat "
            f"lists of them, where the option takes lists). Accepted: {_MAP_HELP}.",
            option=key,
        )
    return parsed


def is_scalar(value: Any) -> bool:
    """A JSON scalar other than null: what a map option's value is (or a list holds)."""
    return isinstance(value, (str, int, float, bool))


def _flat_list(value: Any) -> bool:
    """A JSON list of scalars: which options take one is for their own checks to say."""
    return isinstance(value, list) and all(is_scalar(v) for v in value)


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
