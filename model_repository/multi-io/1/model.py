"""Mixed-type inputs and outputs, per row (all requests of a batch in one numpy pass):

    id_times_two = ids * 2
    text_upper   = text.upper()            (UTF-8 decoded, Python's str.upper, UTF-8 encoded)
    text_length  = len(text)               (Unicode code points, not bytes)
    vec_sum      = vec.sum() in float64
    vec_scaled   = vec * 0.5               (float32)
    is_long      = text_length > 5
"""

from __future__ import annotations

import numpy as np

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None

LONG_TEXT = 5


def compute(ids: np.ndarray, text: np.ndarray, vec: np.ndarray) -> dict[str, np.ndarray]:
    """ids [n, 1] int64, text [n, 1] bytes, vec [n, 3] float32 -> the six outputs."""
    decoded = [
        t.decode("utf-8", errors="replace") if isinstance(t, bytes) else str(t) for t in text.reshape(-1)
    ]
    upper = np.empty(len(decoded), dtype=object)
    upper[:] = [s.upper().encode("utf-8") for s in decoded]
    length = np.fromiter((len(s) for s in decoded), dtype=np.int32, count=len(decoded)).reshape(text.shape)
    with np.errstate(over="ignore"):
        doubled = ids.astype(np.int64) * np.int64(2)
    return {
        "id_times_two": doubled,
        "text_upper": upper.reshape(text.shape),
        "text_length": length,
        "vec_sum": vec.astype(np.float64).sum(axis=1, keepdims=True),
        "vec_scaled": (vec.astype(np.float32) * np.float32(0.5)),
        "is_long": length > LONG_TEXT,
    }


class TritonPythonModel:
    """ids [b,1] INT64, text [b,1] BYTES, vec [b,3] FP32 -> six outputs (see module docstring)."""

    def execute(self, requests):
        def gather(name):
            arrays = [pb_utils.get_input_tensor_by_name(r, name).as_numpy() for r in requests]
            return np.concatenate(arrays, axis=0)

        outputs = compute(gather("ids"), gather("text"), gather("vec"))
        sizes = [pb_utils.get_input_tensor_by_name(r, "ids").as_numpy().shape[0] for r in requests]
        bounds = np.cumsum(sizes)[:-1]
        split = {name: np.split(value, bounds) for name, value in outputs.items()}
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor(name, parts[i]) for name, parts in split.items()])
            for i in range(len(requests))
        ]
