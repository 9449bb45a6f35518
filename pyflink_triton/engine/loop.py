"""An asyncio event loop on a thread of its own, for callers that are not async.

PyFlink calls a pandas UDF's ``eval`` as a plain function on its harness thread; the engine's
requests run concurrently on this loop, and :meth:`LoopThread.run` waits for their result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str = "triton-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> LoopThread:
        """Start the thread and its loop (idempotent); return ``self``."""
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=main, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for it.

        :param timeout: seconds to wait; then the coroutine is cancelled and a
            ``concurrent.futures.TimeoutError`` is raised. Bound work inside the coroutine
            instead (``asyncio.timeout``) where the caller must tell its own errors apart:
            a ``TimeoutError`` the coroutine raises comes out unchanged.
        """
        if self._loop is None:
            coro.close()
            raise RuntimeError("the event loop thread is not started")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        done, _ = concurrent.futures.wait([future], timeout)
        if not done:
            future.cancel()
            raise concurrent.futures.TimeoutError(f"no result within {timeout}s")
        return future.result()

    def stop(self) -> None:
        """Stop the loop and join the thread. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        loop.close()
