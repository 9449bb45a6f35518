"""Scale a vector to length 2:  output_vector = 2 * x / ||x||_2, and all zeros when ||x||_2 == 0.

No batch dimension (max_batch_size 0): each request carries one flat FP32 vector of any length N and
gets back N FP32 values. Computed in float64, returned as float32.
"""

from __future__ import annotations

import numpy as np

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None

SCALE = 2.0


def transform(vector: np.ndarray) -> np.ndarray:
    """Return SCALE * x / ||x||_2 as float32 (zeros for a zero vector)."""
    x = np.asarray(vector, dtype=np.float64)
    norm = np.linalg.norm(x)
    if norm == 0.0:  # a zero vector has no direction
        return np.zeros_like(x, dtype=np.float32)
    if not np.isfinite(norm):  # inf or nan somewhere: no meaningful scaling
        return np.full_like(x, np.nan, dtype=np.float32)
    return (SCALE * x / norm).astype(np.float32)


class TritonPythonModel:
    """input_vector [N] FP32 -> output_vector [N] FP32 (one vector per request, no batching)."""

    def execute(self, requests):
        # Vectors differ in length from request to request, so there is nothing to concatenate.
        responses = []
        for request in requests:
            vector = pb_utils.get_input_tensor_by_name(request, "input_vector").as_numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("output_vector", transform(vector))]))
        return responses
