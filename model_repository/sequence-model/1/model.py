"""Running sum per sequence, with Triton's sequence batcher.

For each request of sequence ``s`` (``sequence_id`` parameter, uint64 or string):

    START: total[s] = 0          (before adding)
    always: total[s] += INPUT;   OUTPUT = total[s]
    END:   forget total[s]       (after answering)

START/END/READY come from the sequence batcher's control inputs; the id comes from
``request.correlation_id()`` (int or str, so 7 and "7" are different sequences). A request without
START for a sequence this instance does not know (e.g. after a model reload) starts from 0. Sequences
that Triton releases for idleness never send END, so at most MAX_SEQUENCES totals are kept, the
least recently used dropped first.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

try:  # Only the Triton stub provides this module; tests import this file without it.
    import triton_python_backend_utils as pb_utils
except ImportError:  # pragma: no cover - outside Triton
    pb_utils = None

MAX_SEQUENCES = 100_000


def _flag(request, name: str) -> bool:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return tensor is not None and bool(tensor.as_numpy().reshape(-1)[0])


class TritonPythonModel:
    """INPUT [1, 1] INT64 -> OUTPUT [1, 1] INT64, the sequence's running sum."""

    def initialize(self, args):
        self._totals: OrderedDict[object, np.int64] = OrderedDict()

    def execute(self, requests):
        responses = []
        for request in requests:
            values = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            if not _flag(request, "READY"):
                # A slot without a real request: answer, and leave every total alone.
                empty = pb_utils.Tensor("OUTPUT", np.zeros_like(values))
                responses.append(pb_utils.InferenceResponse([empty]))
                continue
            sequence = request.correlation_id()
            total = np.int64(0) if _flag(request, "START") else self._totals.pop(sequence, np.int64(0))
            # Wraps around like int64 arithmetic in any other backend, instead of raising.
            with np.errstate(over="ignore"):
                total = np.int64(total + values.astype(np.int64).sum())
            if _flag(request, "END"):
                self._totals.pop(sequence, None)
            else:
                self._totals[sequence] = total
                self._totals.move_to_end(sequence)
                while len(self._totals) > MAX_SEQUENCES:
                    self._totals.popitem(last=False)
            output = pb_utils.Tensor("OUTPUT", np.full(values.shape, total, dtype=np.int64))
            responses.append(pb_utils.InferenceResponse([output]))
        return responses

    def finalize(self):
        self._totals.clear()
