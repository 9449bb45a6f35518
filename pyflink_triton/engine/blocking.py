"""The engine for callers that are not async (the pandas UDF): an engine on a loop thread."""

from __future__ import annotations

import logging

from ..client.correlation import RequestIds
from .binding import ModelBinding
from .engine import Columns, EngineConfig, InferenceEngine
from .loop import LoopThread
from .outcomes import Outcomes

__all__ = ["BlockingEngine"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 10.0


class BlockingEngine:
    """An :class:`InferenceEngine` driven from a plain thread: ``open``, ``predict``, ``close``
    block until done while the requests run concurrently on a loop thread of their own."""

    def __init__(self, config: EngineConfig, request_ids: RequestIds | None = None) -> None:
        self.engine = InferenceEngine(config, request_ids)
        self._loop: LoopThread | None = None

    def open(self) -> ModelBinding:
        """Start the loop thread, open the client, bind; on failure release everything."""
        self._loop = LoopThread(f"triton-{self.engine.options.model_name}").start()
        try:
            return self._loop.run(self.engine.open())
        except BaseException:
            self.close()
            raise

    def predict(self, columns: Columns) -> Outcomes:
        """One outcome per row (see :meth:`InferenceEngine.predict`)."""
        if self._loop is None:
            raise RuntimeError("BlockingEngine.open() was not called")
        return self._loop.run(self.engine.predict(columns))

    def close(self) -> None:
        """Close the client and stop the loop. Idempotent."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            loop.run(self.engine.close(), timeout=_CLOSE_TIMEOUT_S)
        except Exception:  # closing must not hide the error that got us here
            log.debug("closing the Triton client failed", exc_info=True)
        loop.stop()

    @property
    def binding(self) -> ModelBinding | None:
        """The model binding, once open."""
        return self.engine.binding
