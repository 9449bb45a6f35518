"""Retry strategies for tenacity, and the policy a client builds from them once.

``max-retries`` is tenacity's ``stop_after_attempt(max_retries + 1)``; what is ours is the
backoff Flink's Java provider uses, ``min(initial * 2**n, max)`` with *equal* jitter
(uniform in ``[d/2, d]``), which tenacity does not ship (its jittered waits are full
jitter or additive), and the retry predicate. :class:`RetryPolicy` composes the three.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from ..config import TritonOptions
from ..errors import TritonError

__all__ = ["RetryPolicy", "backoff_delay", "is_retryable", "wait_equal_jitter"]

T = TypeVar("T")

log = logging.getLogger(__name__)


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


class wait_equal_jitter(wait_base):
    """Wait ``d/2 + uniform(0, d/2)`` where ``d = backoff_delay(n, initial, max)``.

    :param initial_s: the first delay, in seconds.
    :param max_s: the cap, in seconds.
    :param rng: a ``random.random``-like source in ``[0, 1)``, injectable for tests.
    """

    def __init__(self, initial_s: float, max_s: float, rng: Callable[[], float] = random.random) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.rng = rng

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = backoff_delay(retry_state.attempt_number - 1, self.initial_s, self.max_s)
        return delay / 2 + self.rng() * delay / 2


def is_retryable(exc: BaseException) -> bool:
    """Network errors, timeouts and 5xx are retried; 4xx, schema and breaker errors are not."""
    return isinstance(exc, TritonError) and exc.retryable


class RetryPolicy:
    """``max-retries`` with equal-jitter backoff, retrying only :func:`is_retryable` errors.

    The strategies are built once (per client). A call makes its first attempt without any
    tenacity object; only a retryable failure enters tenacity's loop, so the happy path
    pays for nothing but one ``try``.

    :param max_retries: retries after the first attempt.
    :param initial_backoff_s: the first backoff, in seconds.
    :param max_backoff_s: the backoff cap, in seconds.
    :param rng: jitter source in ``[0, 1)``.
    :param sleep: awaitable sleep between attempts (injectable for tests).
    """

    def __init__(
        self,
        max_retries: int,
        initial_backoff_s: float,
        max_backoff_s: float,
        *,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.max_retries = max_retries
        self.stop = stop_after_attempt(max_retries + 1)
        self.wait = wait_equal_jitter(initial_backoff_s, max_backoff_s, rng)
        self.retry = retry_if_exception(is_retryable)
        # tenacity keeps a call's state on its Retrying object, so concurrent calls cannot
        # share one: each retried call runs on a copy of this template (strategies shared).
        self._template = AsyncRetrying(stop=self.stop, wait=self.wait, retry=self.retry, sleep=sleep, reraise=True)

    @classmethod
    def from_options(
        cls,
        options: TritonOptions,
        *,
        rng: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> RetryPolicy:
        """The policy of ``max-retries``, ``retry-initial-backoff`` and ``retry-max-backoff``."""
        return cls(
            options.max_retries,
            options.retry_initial_backoff_s,
            options.retry_max_backoff_s,
            rng=rng,
            sleep=sleep,
        )

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        what: str = "request",
        on_retry: Callable[[], None] | None = None,
    ) -> T:
        """Await ``attempt()``, again after each retryable failure until the policy stops.

        :param what: names the request in the warning logged before each retry.
        :param on_retry: called before each backoff sleep (e.g. to count retries).
        :return: the first successful attempt's result.
        :raises Exception: the last attempt's error, as it was raised.
        """
        try:
            return await attempt()
        except Exception as exc:
            if self.max_retries <= 0 or not is_retryable(exc):
                raise
            first = exc
        before_sleep = functools.partial(self._before_sleep, what, on_retry)
        return await self._retry(first, attempt, before_sleep)

    def _before_sleep(self, what: str, on_retry: Callable[[], None] | None, state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry()
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "Retrying Triton %s (retry %d of %d, in %.3fs) after: %s",
            what,
            state.attempt_number,
            self.max_retries,
            state.upcoming_sleep,
            exc,
        )

    async def _retry(
        self,
        first: BaseException,
        attempt: Callable[[], Awaitable[T]],
        before_sleep: Callable[[RetryCallState], None],
    ) -> T:
        replay = [first]
        async for state in self._template.copy(before_sleep=before_sleep):
            with state:
                if replay:
                    # Attempt 1 already ran, outside tenacity: replay its error, so tenacity
                    # numbers, waits for and reports the retries as if it had made it.
                    raise replay.pop()
                return await attempt()
        raise AssertionError("unreachable: reraise=True raises the last error")  # pragma: no cover
