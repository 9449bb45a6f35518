"""The per-row async Triton UDF for PyFlink 2.3: ``async_triton_udf(model, ...)``.

Where the pandas UDF (:mod:`pyflink_triton.udf`) waits for a whole Arrow batch, this function
is a PyFlink ``AsyncScalarFunction``: ``eval`` is a coroutine per row, many rows are in flight
at once, and each row's result is emitted as soon as it (and the rows before it: output order
is kept) is done. Rows in flight are **coalesced** into batched requests: a batch is sent when
``max_batch_rows`` rows wait or ``max_wait_ms`` after its first row, so a busy stream still
makes few large requests while a quiet one adds at most ``max_wait_ms`` of latency.

Example::

    >>> from pyflink_triton.async_udf import async_triton_udf, configure_async
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
  awaited on it any more. See the patches below.

The PyFlink 2.3 patches, applied when this module is imported (:func:`patch_pyflink_async`):

1. **FLINK-39532 (wrong results).** The Cython row decoder hands ``process_element`` the same
   list object for every row and overwrites it in place; the coroutine reads its arguments
   from it only later, on the event loop, so most rows see another row's values (1718 of 2000
   wrong with an identity function, measured). The patch makes ``process_element`` pass a copy,
   ``list(value)``. The function object is pickled by reference to this importable module, so
   a worker imports the module, and so applies the patch, while it unpickles the function,
   that is inside the operation's constructor, before ``FunctionOperation`` binds
   ``operation.process_element``. ``tests/test_async_udf.py`` proves it in a separate worker
   process, and shows the corruption with the patch switched off.
2. **Release on the loop.** The operation's ``close`` first lets every
   :class:`TritonAsyncFunction` it runs close its client on the still-running loop; then
   PyFlink's own ``close`` proceeds unchanged.

Both are idempotent, applied only to PyFlink 2.3.x whose ``AsyncScalarFunctionOperation`` has
the expected ``process_element(self, value)`` and ``close(self)``; other functions' behaviour is
unchanged (a copied row holds the same values). Setting the environment variable
``PYFLINK_TRITON_NO_ASYNC_PATCH=1`` skips them (for demonstrating the bug; results are then wrong).

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
import copy
import functools
import inspect
import logging
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyflink.common import Row
from pyflink.table.udf import AsyncScalarFunction, FunctionContext, udf

from ..engine.binding import Column, ModelBinding
from ..client.client import TritonClient
from ..engine.columns import parse_default_value, to_column, to_tensor
from ..errors import TritonConfigError, TritonError, TritonSchemaError
from ..config import TritonOptions, parse_duration
from ..engine.engine import fetch_binding
from .pandas_udf import ModelLike, resolve_columns, to_options

__all__ = [
    "TritonAsyncFunction",
    "async_triton_udf",
    "configure_async",
    "patch_pyflink_async",
    "patch_state",
    "PATCH_ENV",
]

log = logging.getLogger(__name__)

#: Environment variable that, when set to a non-empty value, skips the PyFlink patches.
PATCH_ENV = "PYFLINK_TRITON_NO_ASYNC_PATCH"
_MARK = "__pyflink_triton_patched__"
_CLOSE_TIMEOUT_S = 10.0


# -- coalescing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Failed:
    """A row's outcome that is an error (a row's result may itself be any value)."""

    error: BaseException


class _Coalescer:
    """Gathers the rows submitted on one event loop into batches.

    A batch is handed to ``send`` when ``max_rows`` rows wait, or ``max_wait_s`` after the
    first row of the batch arrived (0: at the end of the current loop iteration). ``send``
    returns one outcome per row, in order (a value, or :class:`_Failed`); each row's future
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
                loop.call_later(self.max_wait_s, self.flush) if self.max_wait_s > 0
                else loop.call_soon(self.flush)
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
            outcomes = [_Failed(exc)] * len(rows)
        for future, outcome in zip(futures, outcomes):
            if future.done():  # the row's coroutine was cancelled meanwhile
                continue
            if isinstance(outcome, _Failed):
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


# -- the function -------------------------------------------------------------------------


class TritonAsyncFunction(AsyncScalarFunction):
    """An async scalar function that runs a Triton model, row by row, in coalesced batches.

    ``__init__`` holds configuration only (the object is pickled to the workers).
    :meth:`open` fetches the model's metadata and binds; the client is opened by the first
    :meth:`eval`, on PyFlink's event loop.

    :param options: the model's options.
    :param inputs: the function's arguments (names when known); None: every model input.
    :param outputs: the wanted outputs (names and declared types), None for all.
    :param fill_value: sent in place of NULL elements inside arrays (None: such rows fail).
    :param max_batch_rows: rows per batched request (None: the model's ``max_batch_size``,
        capped by the ``batch-size`` option; 1 for models without a batch dimension and for
        sequences).
    :param max_wait_ms: the longest a row waits for others before its batch is sent.
    """

    def __init__(
        self,
        options: TritonOptions,
        inputs: Sequence[Column] | None,
        outputs: Sequence[Column] | None = None,
        *,
        fill_value: Any = None,
        max_batch_rows: int | None = None,
        max_wait_ms: float = 5.0,
    ) -> None:
        if max_batch_rows is not None and max_batch_rows <= 0:
            raise TritonConfigError(f"max_batch_rows must be > 0, got {max_batch_rows}")
        if max_wait_ms < 0:
            raise TritonConfigError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.options = options
        self.inputs = None if inputs is None else list(inputs)
        self.outputs = None if outputs is None else list(outputs)
        self.fill_value = fill_value
        self.max_batch_rows = max_batch_rows
        self.max_wait_ms = max_wait_ms
        self._reset()

    def _reset(self) -> None:
        self.binding: ModelBinding | None = None
        self.client: TritonClient | None = None
        self.rows = 0
        self.null_rows = 0
        self.fallback_rows = 0
        self._has_default = False
        self._default: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._coalescer: _Coalescer | None = None
        self._starting: asyncio.Task[_Coalescer] | None = None
        self._sequence_lock: asyncio.Lock | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Configuration only: a function is pickled before open(), but never ship live state.
        state = dict(self.__dict__)
        for key in ("binding", "client", "_loop", "_coalescer", "_starting", "_sequence_lock"):
            state[key] = None
        return state

    # -- lifecycle ------------------------------------------------------------------------

    def open(self, function_context: FunctionContext) -> None:
        self._reset()
        # PyFlink's event loop does not exist yet: bind through a temporary client.
        self.binding = fetch_binding(self.options, self.inputs, self.outputs)
        self._has_default, self._default = parse_default_value(
            self.options.default_value, self.binding.result_type())
        self.client = TritonClient(self.options)  # its session is made on the first eval's loop
        try:
            self._register_metrics(function_context)
        except Exception:  # metrics are best-effort: never fail a job for them
            log.debug("Triton metrics could not be registered", exc_info=True)

    def _register_metrics(self, context: FunctionContext) -> None:
        # Gauges only: PyFlink reads them on the harness thread at the end of each bundle.
        # Counters would be updated from the event loop thread, where Beam has no metrics
        # container, and would be dropped silently.
        group = context.get_metric_group().add_group("triton")

        def stat(name: str) -> Callable[[], int]:
            return lambda: int(getattr(self.client.stats, name, 0)) if self.client else 0

        for metric, attr in (("requests", "requests"), ("rowsAnswered", "rows"),
                             ("failures", "failures"), ("retries", "retries"),
                             ("breakerRejections", "breaker_rejections"),
                             ("rowsInFlight", "in_flight_rows")):
            group.gauge(metric, stat(attr))
        group.gauge("rows", lambda: self.rows)
        group.gauge("nullRows", lambda: self.null_rows)
        group.gauge("fallbacks", lambda: self.fallback_rows)
        group.gauge("batches", lambda: self._coalescer.batches if self._coalescer else 0)

    async def _start(self) -> _Coalescer:
        """On the first eval, on PyFlink's loop: open the client, size the batches."""
        assert self.client is not None, "TritonAsyncFunction.open() was not called"
        self._loop = asyncio.get_running_loop()
        await self.client.open()
        limit = await self.client.max_batch_size()
        rows = self.max_batch_rows or limit or 1
        if self.binding is not None and self.binding.sequence:
            rows, self._sequence_lock = 1, asyncio.Lock()
        return _Coalescer(self._send, max_rows=rows, max_wait_s=self.max_wait_ms / 1000.0)

    async def _aclose(self) -> None:
        starting, self._starting, self._coalescer = self._starting, None, None
        if starting is not None:
            if not starting.done():
                starting.cancel()
            try:
                coalescer = await starting
            except BaseException:
                coalescer = None
            if coalescer is not None:
                await coalescer.aclose()
        if self.client is not None:
            await self.client.close()

    def _release_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the client on ``loop`` (PyFlink's, still running), from another thread.

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
        self.client = None
        self._loop = None

    def close(self) -> None:
        loop = self._loop
        if self.client is not None and loop is not None:
            if loop.is_running():
                self._release_on(loop)
            else:
                # The loop is gone (patch not in effect): nothing can be awaited on it;
                # the connections close when the session is collected.
                log.debug("PyFlink's event loop stopped before close(); dropping the client")
        self.client = None
        self._loop = None
        self._coalescer = None
        self._starting = None

    # -- rows -----------------------------------------------------------------------------

    async def eval(self, *args: Any) -> Any:
        binding = self.binding
        if binding is None:
            raise RuntimeError("TritonAsyncFunction.open() was not called")
        if len(args) != len(binding.inputs):
            raise TypeError(f"expected {len(binding.inputs)} arguments, got {len(args)}")
        self.rows += 1
        if any(a is None for a in args):
            self.null_rows += 1
            return None
        coalescer = self._coalescer
        if coalescer is None:
            if self._starting is None:
                self._starting = asyncio.get_running_loop().create_task(self._start())
            coalescer = self._coalescer = await self._starting
        return await coalescer.submit(args)

    async def _send(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """One coalesced batch: one outcome per row, in order."""
        results: list[Any] = [None] * len(rows)
        groups = self._groups(rows)
        if self._sequence_lock is not None:
            async with self._sequence_lock:  # a sequence's rows go in order, one at a time
                for group in groups:
                    await self._send_group(rows, group, results)
        else:
            await asyncio.gather(*(self._send_group(rows, g, results) for g in groups))
        return results

    def _groups(self, rows: list[tuple[Any, ...]]) -> list[list[int]]:
        """Rows that can share a request: all, or those of equal lengths for ragged arrays;
        each row alone for models without a batch dimension."""
        binding = self.binding
        assert binding is not None
        if not binding.batching:
            return [[i] for i in range(len(rows))]
        ragged = [i for i, spec in enumerate(binding.inputs)
                  if spec.is_array and (not spec.dims or spec.dims[-1] < 0)]
        if not ragged:
            return [list(range(len(rows)))]
        groups: dict[tuple[int, ...], list[int]] = {}
        for p, row in enumerate(rows):
            key = tuple(_length(row[i]) for i in ragged)
            groups.setdefault(key, []).append(p)
        return list(groups.values())

    async def _send_group(self, rows: list[tuple[Any, ...]], positions: list[int],
                          results: list[Any]) -> None:
        binding, client = self.binding, self.client
        assert binding is not None and client is not None
        batched = binding.batching
        try:
            tensors = {
                spec.name: to_tensor(_series([rows[p][i] for p in positions]), spec,
                                     batched=batched, fill_value=self.fill_value)
                for i, spec in enumerate(binding.inputs)
            }
        except TritonError as exc:
            # The rows do not fit the model: an input error, never replaced by the default.
            if exc.model is None:
                exc.model, exc.version, exc.endpoint = (
                    self.options.model_name, self.options.model_version, self.options.safe_endpoint)
            for p in positions:
                results[p] = _Failed(exc)
            return
        parts = await client.infer_parts(tensors, binding.output_names, split=batched)
        for part in parts:
            where = positions[part.start:part.stop] if batched else positions
            if part.error is not None:
                self._fail(results, where, part.error)
                continue
            assert part.outputs is not None
            try:
                columns = []
                for spec in binding.outputs:
                    array = part.outputs.get(spec.name)
                    if array is None:
                        raise TritonSchemaError(
                            f"the response has no output '{spec.name}' "
                            f"(got: {', '.join(part.outputs) or 'none'})",
                            model=self.options.model_name, version=self.options.model_version,
                            endpoint=self.options.safe_endpoint)
                    if not batched:
                        array = array.reshape((1, *array.shape))
                    columns.append(_python_values(to_column(array, spec, len(where))))
            except TritonError as exc:
                self._fail(results, where, exc)
                continue
            if len(columns) == 1:
                for p, value in zip(where, columns[0]):
                    results[p] = value
            else:
                for k, p in enumerate(where):
                    results[p] = Row(*(column[k] for column in columns))

    def _fail(self, results: list[Any], positions: Sequence[int], error: TritonError) -> None:
        if not self._has_default:
            for p in positions:
                results[p] = _Failed(error)
            return
        self.fallback_rows += len(positions)
        log.warning("Triton inference failed for %d rows; using 'default-value': %s",
                    len(positions), error)
        for p in positions:
            results[p] = self._fresh_default()

    def _fresh_default(self) -> Any:
        value = self._default
        if value is None:
            return None
        assert self.binding is not None
        if len(self.binding.outputs) > 1:  # a ROW: parsed as a tuple of field values
            return Row(*(list(v) if isinstance(v, list) else v for v in value))
        return list(value) if isinstance(value, list) else value

    def __repr__(self) -> str:
        return (f"TritonAsyncFunction(model={self.options.model_name!r}, "
                f"endpoint={self.options.safe_endpoint!r})")


def _length(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return -1


def _series(values: list[Any]) -> pd.Series:
    """One argument of the gathered rows as the object column ``to_tensor`` takes.

    Filled element by element, so lists stay one value per row.
    """
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return pd.Series(array, dtype=object)


def _python_values(column: Any) -> list[Any]:
    """``to_column``'s output as plain Python values (what PyFlink's row coder takes)."""
    if isinstance(column, np.ndarray):
        return column.tolist()
    return [v.tolist() if isinstance(v, (np.ndarray, np.generic)) else v for v in column]


# -- factory and configuration ------------------------------------------------------------


def async_triton_udf(
    model: ModelLike,
    *,
    result_type: Any = None,
    inputs: Sequence[str] | int | None = None,
    outputs: Sequence[str] | None = None,
    fill_value: Any = None,
    max_batch_rows: int | None = None,
    max_wait_ms: float = 5,
    name: str | None = None,
) -> Any:
    """A PyFlink async scalar UDF that runs a Triton model per row, coalescing rows in flight.

    Arguments as :func:`pyflink_triton.udf.triton_udf`; a ROW result is returned as a
    :class:`pyflink.common.Row`. Also call :func:`configure_async` on the table environment.

    :param max_batch_rows: rows per batched request (default: the model's limit).
    :param max_wait_ms: the longest a row waits for others before its batch is sent (0: send
        what arrived in the same event-loop iteration).
    :raises TritonConfigError: when this PyFlink's async operation has the FLINK-39532 shape
        but cannot be patched, so results would be wrong.
    """
    if _PATCH_STATE == "unrecognised":
        raise TritonConfigError(
            "async_triton_udf cannot be used with this PyFlink: its AsyncScalarFunctionOperation "
            "reads each row after the row object was reused (FLINK-39532) and the workaround "
            "could not be applied, so results would be wrong. Use triton_udf (pandas) instead.")
    if _PATCH_STATE == "disabled":
        log.warning("%s is set: the FLINK-39532 workaround is off and PyFlink %s gives rows "
                    "other rows' results", PATCH_ENV, _pyflink_version())
    options = to_options(model)
    input_columns, output_columns, declared = resolve_columns(options, result_type, inputs, outputs)
    function = TritonAsyncFunction(
        options, input_columns, output_columns, fill_value=fill_value,
        max_batch_rows=max_batch_rows, max_wait_ms=max_wait_ms)
    return udf(
        function,
        result_type=declared.to_datatype(),
        name=name or f"triton_async_{options.model_name.replace('-', '_')}",
    )


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
    config.set("table.exec.async-scalar.timeout", f"{int(round(seconds * 1000))} ms")
    if bundle_size is not None:
        if bundle_size <= 0:
            raise TritonConfigError("bundle_size must be > 0")
        config.set("python.fn-execution.bundle.size", str(int(bundle_size)))


# -- the PyFlink 2.3 patches --------------------------------------------------------------


def _pyflink_version() -> str:
    try:
        from pyflink.version import __version__
    except ImportError:  # pragma: no cover
        return "unknown"
    return str(__version__)


def _params(function: Any) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []


def patch_pyflink_async() -> str:
    """Apply the PyFlink 2.3 async patches (see the module docstring); idempotent.

    :return: ``'applied'``, ``'disabled'`` (:data:`PATCH_ENV` is set), ``'not-needed'``
        (not PyFlink 2.3.x, or it has no such operation), or ``'unrecognised'`` (PyFlink
        2.3.x whose operation does not have the expected shape: not patched).
    """
    if os.environ.get(PATCH_ENV):
        return "disabled"
    version = _pyflink_version()
    if not version.startswith("2.3."):
        return "not-needed"
    try:
        from pyflink.fn_execution.table.async_function.operations import (
            AsyncScalarFunctionOperation as operation,
        )
    except ImportError:
        return "not-needed"
    process_element = operation.__dict__.get("process_element")
    close = operation.__dict__.get("close")
    if process_element is None or close is None:
        return "unrecognised"
    if getattr(process_element, _MARK, False):
        return "applied"
    if _params(process_element) != ["self", "value"] or _params(close) != ["self"]:
        return "unrecognised"

    @functools.wraps(process_element)
    def process_element_copying(self: Any, value: Any) -> Any:
        # FLINK-39532: 'value' is reused and overwritten for the next row; the coroutine
        # reads it later. Hand it a copy of this row.
        return process_element(self, list(value))

    @functools.wraps(close)
    def close_releasing(self: Any) -> Any:
        # PyFlink stops the event loop before it closes the functions: let ours close their
        # clients on it first.
        runner = getattr(self, "_async_function_runner", None)
        loop = getattr(runner, "_loop", None)
        if loop is not None:
            for function in getattr(self, "user_defined_funcs", ()):
                if isinstance(function, TritonAsyncFunction):
                    function._release_on(loop)
        return close(self)

    setattr(process_element_copying, _MARK, True)
    setattr(close_releasing, _MARK, True)
    operation.process_element = process_element_copying
    operation.close = close_releasing
    log.debug("patched PyFlink %s AsyncScalarFunctionOperation (FLINK-39532)", version)
    return "applied"


def patch_state() -> str:
    """What :func:`patch_pyflink_async` did when this module was imported."""
    return _PATCH_STATE


_PATCH_STATE = patch_pyflink_async()
