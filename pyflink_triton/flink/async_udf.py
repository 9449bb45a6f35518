"""The per-row async Triton UDF for PyFlink 2.3: ``async_triton_udf(model, ...)``.

Where the pandas UDF (:mod:`pyflink_triton.flink.pandas_udf`) waits for a whole Arrow batch, this function
is a PyFlink ``AsyncScalarFunction``: ``eval`` is a coroutine per row, many rows are in flight
at once, and each row's result is emitted as soon as it (and the rows before it: output order
is kept) is done. Rows in flight are **coalesced** into batched requests: a batch is sent when
``max_batch_rows`` rows wait or ``max_wait_ms`` after its first row, so a busy stream still
makes few large requests while a quiet one adds at most ``max_wait_ms`` of latency.

Example::

    >>> from pyflink_triton import async_triton_udf, configure_async
    >>> configure_async(t_env, max_concurrent_operations=4096)
    >>> classify = async_triton_udf(
    ...     {"endpoint": "http://localhost:8000", "model-name": "classifier"}, result_type="BIGINT")
    >>> t_env.create_temporary_function("classify", classify)
    >>> t_env.sql_query("SELECT id, classify(features) AS class_id FROM iris")

How PyFlink 2.3 runs an async scalar function (``AsyncScalarFunctionOperation``):

- ``open()`` of the function runs on the harness thread; **then** the operation starts an
  ``AsyncFunctionRunner``, a daemon thread with a fresh ``asyncio`` event loop, and every
  ``eval`` coroutine runs on that loop. So the client's aiohttp session is created lazily, by
  the first ``eval``, on that loop; ``open()`` only fetches the model's metadata and binds
  (through a temporary client on a loop of its own).
- ``process_element`` (harness thread) puts each row into a queue of capacity
  ``table.exec.async-scalar.max-concurrent-operations`` (it blocks when full), and at the end of
  every bundle (``python.fn-execution.bundle.size`` rows, default 1000, or
  ``python.fn-execution.bundle.time``) ``finish()`` waits for every row in flight. The rows in
  flight, hence the largest batch coalescing can form, are bounded by both.
- ``close()`` stops the event loop **before** it closes the function, so nothing could be
  awaited on it any more. See the patches.

Importing this module applies two patches of PyFlink 2.3 (``pyflink_triton.flink.patch``): a
copy of each row against FLINK-39532, which otherwise gives rows other rows' values, and
closing the client on PyFlink's loop before it stops.

Options of ``table.exec.async-scalar.*`` that matter (see :func:`configure_async`):

- ``max-concurrent-operations`` (default 10): rows in flight per subtask. Coalescing can only
  batch rows that are in flight together, so it must be at least ``max_batch_rows``
  (``configure_async`` defaults to 4096), and ``python.fn-execution.bundle.size`` must be too.
- ``retry-strategy`` (default FIXED_DELAY: any exception is retried by PyFlink) and
  ``timeout`` (default 3 min): PyFlink starts a ``threading.Timer`` per row for them, which
  costs about 6x in throughput. ``configure_async`` sets ``NO_RETRY`` and ``0 s``: retries,
  backoff, timeouts and the circuit breaker live in our client (options ``max-retries``,
  ``timeout``, ...). A PyFlink retry would also re-send the row out of its batch.
- ``buffer-capacity`` is **not read** for Python async functions in Flink 2.3 (only
  Java ones use it); ``max-attempts`` and ``retry-delay`` only matter with FIXED_DELAY.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Sequence
from typing import Any

from pyflink.common import Row
from pyflink.table.udf import AsyncScalarFunction, FunctionContext, udf

from ..config import parse_duration
from ..engine import Coalescer, Column, EngineConfig, InferenceEngine, ModelBinding, fetch_binding
from ..engine.columns import object_column
from ..errors import TritonConfigError
from .columns import ModelLike, describe_function, function_config, function_name
from .context import request_ids
from .metrics import TritonMetrics
from .patch import PATCH_ENV, patch_state, pyflink_version
from .types import to_datatype

__all__ = ["TritonAsyncFunction", "async_triton_udf", "configure_async"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 10.0


class TritonAsyncFunction(AsyncScalarFunction):
    """An async scalar function that runs a Triton model, row by row, in coalesced batches.

    ``__init__`` holds configuration only (the object is pickled to the workers).
    :meth:`open` fetches the model's metadata and binds; the engine's client is opened by the
    first :meth:`eval`, on PyFlink's event loop.

    :param config: what the engine runs (model options, columns, fill value).
    :param max_batch_rows: rows per batched request (None: the model's ``max_batch_size``,
        capped by the ``batch-size`` option; 1 for models without a batch dimension and for
        sequences).
    :param max_wait_ms: the longest a row waits for others before its batch is sent.
    """

    def __init__(self, config: EngineConfig, *, max_batch_rows: int | None = None, max_wait_ms: float = 5.0) -> None:
        if max_batch_rows is not None and max_batch_rows <= 0:
            raise TritonConfigError(f"max_batch_rows must be > 0, got {max_batch_rows}")
        if max_wait_ms < 0:
            raise TritonConfigError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.config = config
        self.max_batch_rows = max_batch_rows
        self.max_wait_ms = max_wait_ms
        self._reset()

    def _reset(self) -> None:
        self.binding: ModelBinding | None = None
        self.engine: InferenceEngine | None = None
        self._metrics: TritonMetrics | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._coalescer: Coalescer | None = None
        self._starting: asyncio.Task[Coalescer] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Configuration only: a function is pickled before open(), but never ship live state.
        state = dict(self.__dict__)
        for key in ("binding", "engine", "_metrics", "_loop", "_coalescer", "_starting"):
            state[key] = None
        return state

    # -- lifecycle ------------------------------------------------------------------------

    def open(self, function_context: FunctionContext) -> None:
        self._reset()
        # PyFlink's event loop does not exist yet: bind through a temporary client.
        config = self.config
        self.binding = fetch_binding(config.options, config.inputs, config.outputs)
        self.engine = InferenceEngine(config, request_ids(function_context, config.options))
        self._metrics = TritonMetrics.register(function_context, self.engine)

    async def _start(self) -> Coalescer:
        """On the first eval, on PyFlink's loop: open the engine, size the batches."""
        assert self.engine is not None, "TritonAsyncFunction.open() was not called"
        self._loop = asyncio.get_running_loop()
        binding = await self.engine.open(self.binding)
        assert self.engine.client is not None
        limit = await self.engine.client.max_batch_size()
        # Generated answers go one row a batch: each row's answer returns as soon as it is
        # done, not with its batch's slowest (the engine bounds the requests in flight).
        rows = 1 if binding.sequence or binding.generates else self.max_batch_rows or limit or 1
        return Coalescer(self._send, max_rows=rows, max_wait_s=self.max_wait_ms / 1000.0)

    def release_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the engine on ``loop`` (PyFlink's, still running), from another thread.

        Called by the patched operation ``close`` before PyFlink stops the loop. Never raises.
        """
        if self._loop is None or loop is not self._loop or not loop.is_running():
            return
        if getattr(loop, "_thread_id", None) == threading.get_ident():  # would deadlock
            return
        try:
            asyncio.run_coroutine_threadsafe(self._aclose(), loop).result(_CLOSE_TIMEOUT_S)
        except (Exception, concurrent.futures.CancelledError):
            log.debug("closing the Triton client on PyFlink's loop failed", exc_info=True)
        self._loop = None

    async def _aclose(self) -> None:
        if self._coalescer is not None:
            await self._coalescer.aclose()
        if self.engine is not None:
            await self.engine.close()

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.report()
        loop = self._loop
        if loop is not None:
            if loop.is_running():
                self.release_on(loop)
            else:
                # The loop is gone (patch not in effect): nothing can be awaited on it;
                # the connections close when the session is collected.
                log.debug("PyFlink's event loop stopped before close(); dropping the client")
        self._reset()

    # -- rows -----------------------------------------------------------------------------

    async def eval(self, *args: Any) -> Any:
        coalescer = self._coalescer
        if coalescer is None:
            if self.engine is None:
                raise RuntimeError("TritonAsyncFunction.open() was not called")
            if self._starting is None:
                self._starting = asyncio.get_running_loop().create_task(self._start())
            coalescer = self._coalescer = await self._starting
        return await coalescer.submit(args)

    async def _send(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """One coalesced batch through the engine: one result (or Failed) per row, in order."""
        assert self.engine is not None
        columns = [object_column([row[i] for row in rows]) for i in range(len(rows[0]))]
        outcomes = await self.engine.predict(columns)
        return outcomes.results(make_row=Row)

    def __repr__(self) -> str:
        return describe_function(self)


# -- factory and configuration ------------------------------------------------------------


def async_triton_udf(
    model: ModelLike,
    *,
    result_type: Any = None,
    max_batch_rows: int | None = None,
    max_wait_ms: float = 5,
    inputs: Sequence[str | Column] | int | None = None,
    outputs: Sequence[str] | None = None,
    fill_value: Any = None,
    error_mode: str = "fail",
    name: str | None = None,
) -> Any:
    """A PyFlink async scalar UDF that runs a Triton model per row, coalescing rows in flight.

    Arguments as :func:`pyflink_triton.triton_udf`; a ROW result is returned as a
    :class:`pyflink.common.Row`. Also call :func:`configure_async` on the table environment.

    :param max_batch_rows: rows per batched request (default: the model's limit).
    :param max_wait_ms: the longest a row waits for others before its batch is sent (0: send
        what arrived in the same event-loop iteration).
    :raises TritonConfigError: when this PyFlink's async operation has the FLINK-39532 shape
        but cannot be patched, so results would be wrong.
    """
    state = patch_state()
    if state == "unrecognised":
        raise TritonConfigError(
            "async_triton_udf cannot be used with this PyFlink: its AsyncScalarFunctionOperation "
            "reads each row after the row object was reused (FLINK-39532) and the workaround "
            "could not be applied, so results would be wrong. Use triton_udf (pandas) instead."
        )
    if state == "disabled":
        log.warning(
            "%s is set: the FLINK-39532 workaround is off and PyFlink %s gives rows other rows' results",
            PATCH_ENV,
            pyflink_version(),
        )
    config, declared = function_config(
        model, result_type, inputs, outputs, fill_value=fill_value, error_mode=error_mode
    )
    function = TritonAsyncFunction(config, max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms)
    return udf(function, result_type=to_datatype(declared), name=function_name(config.options, "triton_async", name))


def configure_async(
    t_env: Any,
    *,
    max_concurrent_operations: int = 4096,
    timeout: str | float | None = None,
    bundle_size: int | None = None,
) -> None:
    """Set ``table.exec.async-scalar.*`` for Triton async UDFs on a ``TableEnvironment``.

    - ``max-concurrent-operations`` = ``max_concurrent_operations``: rows in flight per
      subtask; at least ``max_batch_rows`` (else batches never fill and each waits
      ``max_wait_ms``), a few times it to keep several batches in flight.
    - ``retry-strategy`` = ``NO_RETRY``: the client retries requests itself (``max-retries``);
      PyFlink's retries would re-send single rows out of their batch.
    - ``timeout``: ``None`` sets ``0 s``, no PyFlink timeout, which spares a
      ``threading.Timer`` per row (about 6x the throughput); the client's ``timeout`` option
      bounds each request. A value (``'30 s'`` or seconds) bounds each row's whole time
      (waiting in its batch and the client's retries included) at that Timer's cost.
    - ``bundle_size``: if given, ``python.fn-execution.bundle.size``; PyFlink waits for every
      row in flight at the end of a bundle (default 1000 rows), which also caps the rows in
      flight; raise it with ``max_concurrent_operations`` for large batches.

    ``buffer-capacity`` is left alone: Flink 2.3 does not read it for Python functions.
    """
    if max_concurrent_operations <= 0:
        raise TritonConfigError("max_concurrent_operations must be > 0")
    config = t_env.get_config()
    config.set("table.exec.async-scalar.max-concurrent-operations", str(int(max_concurrent_operations)))
    config.set("table.exec.async-scalar.retry-strategy", "NO_RETRY")
    if timeout is None:
        seconds = 0.0
    else:
        seconds = parse_duration(timeout, key="timeout") if isinstance(timeout, str) else float(timeout)
        if seconds <= 0:
            raise TritonConfigError("timeout must be > 0 (None: no PyFlink timeout)")
    config.set("table.exec.async-scalar.timeout", f"{round(seconds * 1000)} ms")
    if bundle_size is not None:
        if bundle_size <= 0:
            raise TritonConfigError("bundle_size must be > 0")
        config.set("python.fn-execution.bundle.size", str(int(bundle_size)))


# Workers import this module when they unpickle the function: that applies the patches there.
_PATCH_STATE = patch_state()
