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

    One check is Java's ``checkServerHealth``: ``/v2/health/live``; only when the server
    *answered* it with another status than 200, ``/v2/health/ready`` too. When live got no
    answer (timeout, refused or broken connection) ready is not tried: it would only cost a
    second ``health-check-timeout`` against a hung server and tell nothing new.

    :param probe: ``GET url`` with the health timeout -> ``True`` answered 200, ``False``
        answered with another status, ``None`` no answer (timeout, connection failure). It
        never raises for network errors. A probe that says ``False`` for both (no ``None``)
        gets ready tried after every failed live probe.
    :param endpoint: the server, for the ``/v2/health/...`` URLs.
    :param model_url: ``.../v2/models/{m}[/versions/{v}]``.
    :param breaker: told every check's verdict (:meth:`CircuitBreaker.record_probe`), if the
        client has one.
    :param sleep: awaitable sleep between periodic checks (injectable for tests).
    :param interval_s: seconds between periodic checks.
    """

    def __init__(
        self,
        probe: Callable[[str], Awaitable[bool | None]],
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
        """``GET /v2/health/live``: answered 200."""
        return await self._probe(self._endpoint.health_url("live")) is True

    async def server_ready(self) -> bool:
        """``GET /v2/health/ready``: answered 200."""
        return await self._probe(self._endpoint.health_url("ready")) is True

    async def model_ready(self) -> bool:
        """``GET /v2/models/{m}[/versions/{v}]/ready``: answered 200."""
        return await self._probe(f"{self._model_url}/ready") is True

    async def check(self) -> bool:
        """One check (live; ready only after a non-200 answer), its verdict told to the
        breaker: in CLOSED a success counts as one as well as a failure (see
        :meth:`CircuitBreaker.record_probe` for HALF_OPEN and OPEN)."""
        healthy = await self._server_healthy()
        if not healthy and self.healthy is not False:
            log.warning("Triton server at %s failed its health check", self._endpoint)
        if self._breaker is not None:
            self._breaker.record_probe(healthy)
        self.healthy = healthy
        return healthy

    async def _server_healthy(self) -> bool:
        live = await self._probe(self._endpoint.health_url("live"))
        if live is None:
            return False  # no answer: ready would only wait out another timeout
        if live:
            return True
        log.debug("Triton server at %s answered live with non-200; trying ready", self._endpoint)
        return await self.server_ready()

    async def run(self) -> None:
        """Check, then sleep ``interval``, until cancelled."""
        while True:
            await self.check()
            await self._sleep(self._interval_s)

    def start(self) -> None:
        """Run :meth:`run` as a task on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="triton-health-check")

    async def stop(self) -> None:
        """Cancel the periodic check and wait for it to end. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
