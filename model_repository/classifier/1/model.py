"""Iris species by nearest class mean, in units of the pooled within-class standard deviation.

    class_id = argmin_k  sum_j ((x_j - MEANS[k, j]) / POOLED_STD[j]) ** 2

Features are [sepal length, sepal width, petal length, petal width] in cm; classes 0 = setosa,
1 = versicolor, 2 = virginica. The constants are the classic Fisher Iris per-species means and the
square root of the mean of the three per-species variances. Plain Euclidean distance would call the
classic versicolor sample [7.0, 3.2, 4.7, 1.4] virginica: the scaling matters. Ties go to the lower
class id; NaN rows get class 0.
"""

from __future__ import annotations

import numpy as np

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None

MEANS = np.array(
    [
        [5.006, 3.428, 1.462, 0.246],  # setosa
        [5.936, 2.770, 4.260, 1.326],  # versicolor
        [6.588, 2.974, 5.552, 2.026],  # virginica
    ],
    dtype=np.float64,
)
POOLED_STD = np.array([0.5148, 0.3397, 0.4303, 0.2047], dtype=np.float64)
_SCALED_MEANS = MEANS / POOLED_STD


def predict(features: np.ndarray) -> np.ndarray:
    """[n, 4] features -> [n, 1] int64 class ids."""
    z = np.asarray(features, dtype=np.float64).reshape(-1, 4) / POOLED_STD
    distances = ((z[:, None, :] - _SCALED_MEANS[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(distances, axis=1).astype(np.int64).reshape(-1, 1)


class TritonPythonModel:
    """features [batch, 4] FP32 -> class_id [batch, 1] INT64."""

    def execute(self, requests):
        arrays = [pb_utils.get_input_tensor_by_name(r, "features").as_numpy() for r in requests]
        classes = predict(np.concatenate(arrays, axis=0))
        bounds = np.cumsum([len(a) for a in arrays])[:-1]
        return [
            pb_utils.InferenceResponse([pb_utils.Tensor("class_id", part)])
            for part in np.split(classes, bounds)
        ]
