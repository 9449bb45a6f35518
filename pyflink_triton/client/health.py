"""Health checks: the live/ready probes, the last verdict, and the periodic check."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import Endpoint
from .breaker import CircuitBreaker

__all__ = ["HealthChecker"]

log = logging.getLogger(__name__)


class HealthChecker:
    """Probes one server and model; remembers the last verdict in :attr:`healthy`.

    :param probe: ``GET url`` with the health timeout -> answered 200 (never raises for
        network errors).
    :param endpoint: the server, for the ``/v2/health/...`` URLs.
    :param model_url: ``.../v2/models/{m}[/versions/{v}]``.
    :param breaker: counts failed checks, if the client has one.
    :param sleep: awaitable sleep between periodic checks (injectable for tests).
    :param interval_s: seconds between periodic checks.
    """

    def __init__(
        self,
        probe: Callable[[str], Awaitable[bool]],
        endpoint: Endpoint,
        model_url: str,
        *,
        breaker: CircuitBreaker | None,
        sleep: Callable[[float], Awaitable[Any]],
        interval_s: float,
    ) -> None:
        self.healthy: bool | None = None  # the last check's verdict, None before the first
        self._probe = probe
        self._endpoint = endpoint
        self._model_url = model_url
        self._breaker = breaker
        self._sleep = sleep
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def server_live(self) -> bool:
        """``GET /v2/health/live``."""
        return await self._probe(self._endpoint.health_url("live"))

    async def server_ready(self) -> bool:
        """``GET /v2/health/ready``."""
        return await self._probe(self._endpoint.health_url("ready"))

    async def model_ready(self) -> bool:
        """``GET /v2/models/{m}[/versions/{v}]/ready``."""
        return await self._probe(f"{self._model_url}/ready")

    async def check(self) -> bool:
        """One check: live, else ready. A failure counts against the breaker; a success does
        not count for it (a live server may still fail inference)."""
        healthy = await self.server_live() or await self.server_ready()
        if not healthy:
            if self.healthy is not False:
                log.warning("Triton server at %s failed its health check", self._endpoint)
            if self._breaker is not None:
                self._breaker.record_failure()
        self.healthy = healthy
        return healthy

    async def run(self) -> None:
        """Check, then sleep ``interval``, until cancelled."""
        while True:
            await self.check()
            await self._sleep(self._interval_s)

    def start(self) -> None:
        """Run :meth:`run` as a task on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name="triton-health-check"
            )

    async def stop(self) -> None:
        """Cancel the periodic check and wait for it to end. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
