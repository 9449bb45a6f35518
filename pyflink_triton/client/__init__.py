"""The KServe v2 client: transport (the only aiohttp user), retries, circuit breaker, stats."""

from __future__ import annotations

from .breaker import CircuitBreaker, CircuitState
from .client import Generation, InferPart, TritonClient
from .stats import ClientStats

__all__ = ["CircuitBreaker", "CircuitState", "ClientStats", "Generation", "InferPart", "TritonClient"]
