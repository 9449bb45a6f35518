"""The local Triton server: the ``tritonserver`` binary of the nvidia-pytriton wheel."""

from __future__ import annotations

from .launcher import TritonServer, default_model_repository, find_tritonserver, main

__all__ = ["TritonServer", "default_model_repository", "find_tritonserver", "main"]
