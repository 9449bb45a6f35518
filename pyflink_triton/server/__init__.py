"""The local Triton server: the ``tritonserver`` binary of the nvidia-pytriton wheel.

Modules: :mod:`.launcher` (:class:`TritonServer`), :mod:`.backends` (the binary, its backend
directory and environment), :mod:`.process` (ports, liveness, cleanup) and :mod:`.cli`
(``python -m pyflink_triton.server``).
"""

from __future__ import annotations

from .backends import find_tritonserver
from .cli import main
from .launcher import TritonServer, default_model_repository

__all__ = ["TritonServer", "default_model_repository", "find_tritonserver", "main"]
