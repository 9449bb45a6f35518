"""JSON for request and response headers, through orjson.

orjson is chosen for speed (measured here: about 25 times faster than the standard
library to write the small header of a binary request, 5 times faster to read one,
7 times faster to encode a request of 1M floats as JSON data).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson

__all__ = ["dumps", "loads"]


def _default(obj: Any) -> Any:
    # numpy scalars and arrays show up in user-supplied parameters
    if isinstance(obj, (np.generic, np.ndarray)):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any) -> bytes:
    """Serialize ``obj`` to compact UTF-8 JSON; numpy values become lists and numbers.

    A NaN or infinity becomes ``null``: tensor data never holds one (such tensors
    travel as binary), only a caller's parameters can.

    :raises TypeError: for values JSON cannot hold.
    """
    return orjson.dumps(obj, default=_default)


def loads(data: bytes) -> Any:
    """Parse JSON, accepting the ``NaN``/``Infinity`` literals Triton writes for such floats.

    :raises ValueError: for malformed JSON.
    :raises UnicodeDecodeError: for bytes the standard library cannot decode either.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # orjson refuses NaN/Infinity literals, which Triton sends in JSON outputs; the
        # standard library reads them, and words the error for truly malformed JSON
        return json.loads(data)
