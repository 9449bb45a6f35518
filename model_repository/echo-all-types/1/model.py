"""OUT_<T> = IN_<T>, unchanged, for every input the request carries (all inputs are optional).

A request gets back exactly the outputs of the inputs it sent. BF16 has no numpy dtype, so every
tensor is passed through DLPack when numpy cannot hold it; the bytes are never converted.
"""

from __future__ import annotations

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None


def _echo(tensor):
    name = "OUT_" + tensor.name()[len("IN_"):]
    try:
        return pb_utils.Tensor(name, tensor.as_numpy())
    except Exception:
        # BF16: as_numpy() refuses it, DLPack carries it as is.
        return pb_utils.Tensor.from_dlpack(name, tensor.to_dlpack())


class TritonPythonModel:
    """IN_<T> [batch, -1] -> OUT_<T> [batch, -1], for each of the 14 Triton datatypes sent."""

    def execute(self, requests):
        # Requests are echoed one by one: there is no computation that batching could speed up.
        return [pb_utils.InferenceResponse([_echo(t) for t in request.inputs()]) for request in requests]
