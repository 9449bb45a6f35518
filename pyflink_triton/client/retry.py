"""Retry strategies for tenacity: which errors to retry, and how long to wait.

``max-retries`` is tenacity's ``stop_after_attempt(max_retries + 1)``; what is ours is the
backoff Flink's Java provider uses, ``min(initial * 2**n, max)`` with *equal* jitter
(uniform in ``[d/2, d]``), which tenacity does not ship (its jittered waits are full
jitter or additive), and the retry predicate.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from tenacity import RetryCallState
from tenacity.wait import wait_base

from ..errors import TritonError

__all__ = ["backoff_delay", "wait_equal_jitter", "is_retryable"]


def backoff_delay(retry_number: int, initial_s: float, max_s: float) -> float:
    """The un-jittered delay before retry ``retry_number`` (0 for the first retry).

    ``min(initial * 2**n, max)``, computed without overflow for any ``n``.
    """
    if retry_number < 0:
        raise ValueError("retry_number must be >= 0")
    if initial_s <= 0:
        return 0.0
    # 2**n overflows a float past n = 1023; long before that the cap applies.
    if retry_number >= 64:
        return max_s
    return min(initial_s * (1 << retry_number), max_s)


class wait_equal_jitter(wait_base):  # noqa: N801 - tenacity's naming convention
    """Wait ``d/2 + uniform(0, d/2)`` where ``d = backoff_delay(n, initial, max)``.

    :param initial_s: the first delay, in seconds.
    :param max_s: the cap, in seconds.
    :param rng: a ``random.random``-like source in ``[0, 1)``, injectable for tests.
    """

    def __init__(
        self, initial_s: float, max_s: float, rng: Callable[[], float] = random.random
    ) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = backoff_delay(retry_state.attempt_number - 1, self.initial_s, self.max_s)
        return delay / 2 + self.rng() * delay / 2


def is_retryable(exc: BaseException) -> bool:
    """Network errors, timeouts and 5xx are retried; 4xx, schema and breaker errors are not."""
    return isinstance(exc, TritonError) and exc.retryable
