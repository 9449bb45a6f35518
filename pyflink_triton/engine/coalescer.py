"""Gathers rows that arrive one at a time into batches for the engine (the async UDF's mode).

PyFlink's async scalar function calls ``eval`` once per row, many rows in flight at once. A
:class:`Coalescer` queues them and hands a batch to ``send`` when ``max_rows`` rows wait or
``max_wait_s`` after the batch's first row, so a busy stream still makes few large requests
while a quiet one adds at most ``max_wait_s`` of latency. It only gathers: what happens to
a batch (NULLs, grouping, requests, defaults) is the engine's business.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import TritonError
from .outcomes import Failed

__all__ = ["Coalescer"]


class Coalescer:
    """Gathers the rows submitted on one event loop into batches.

    A batch is handed to ``send`` when ``max_rows`` rows wait, or ``max_wait_s`` after the
    first row of the batch arrived (0: at the end of the current loop iteration). ``send``
    returns one outcome per row, in order (a value, or :class:`Failed`); each row's future
    gets its own. Several batches may be in flight at once. Loop-thread only: no locks.
    """

    def __init__(
        self,
        send: Callable[[list[tuple[Any, ...]]], Awaitable[list[Any]]],
        *,
        max_rows: int,
        max_wait_s: float,
    ) -> None:
        self._send = send
        self.max_rows = max(1, int(max_rows))
        self.max_wait_s = max(0.0, float(max_wait_s))
        self._rows: list[tuple[Any, ...]] = []
        self._futures: list[asyncio.Future[Any]] = []
        self._timer: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self.batches = 0  # batches sent, for tests and metrics

    def submit(self, row: tuple[Any, ...]) -> asyncio.Future[Any]:
        """Queue one row; the future resolves to its result (or raises its error)."""
        if self._closed:
            raise RuntimeError("the Triton function is closed")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._rows.append(row)
        self._futures.append(future)
        if len(self._rows) >= self.max_rows:
            self.flush()
        elif self._timer is None:
            self._timer = (
                loop.call_later(self.max_wait_s, self.flush) if self.max_wait_s > 0 else loop.call_soon(self.flush)
            )
        return future

    def flush(self) -> None:
        """Send the rows waiting now, as one batch."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._rows:
            return
        rows, futures = self._rows, self._futures
        self._rows, self._futures = [], []
        self.batches += 1
        task = asyncio.get_running_loop().create_task(self._run(rows, futures))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, rows: list[tuple[Any, ...]], futures: list[asyncio.Future[Any]]) -> None:
        try:
            outcomes = await self._send(rows)
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except BaseException as exc:  # a bug in send: fail the rows rather than hang them
            outcomes = [Failed(exc)] * len(rows)
        for future, outcome in zip(futures, outcomes):
            if future.done():  # the row's coroutine was cancelled meanwhile
                continue
            if isinstance(outcome, Failed):
                # A fresh copy per row: one shared exception object would pile up the
                # tracebacks of every row that re-raises it.
                future.set_exception(_copy_error(outcome.error))
            else:
                future.set_result(outcome)

    async def aclose(self) -> None:
        """Cancel the rows waiting and the batches in flight. Idempotent."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for future in self._futures:
            future.cancel()
        self._rows, self._futures = [], []
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _copy_error(error: BaseException) -> BaseException:
    try:
        error_copy = copy.copy(error)
    except Exception:  # an exception type that cannot be copied: share it
        return error
    if isinstance(error_copy, TritonError):
        # PyFlink reports a row's failure with repr(error), which shows only args: put the
        # full text (model, version, endpoint) there. str() and pickling are unchanged.
        error_copy.args = (str(error),)
    return error_copy
