"""Two patches of PyFlink 2.3's ``AsyncScalarFunctionOperation``, applied by the async UDF.

1. **FLINK-39532 (wrong results).** The Cython row decoder hands ``process_element`` the same
   list object for every row and overwrites it in place; the coroutine reads its arguments
   from it only later, on the event loop, so most rows see another row's values (1718 of 2000
   wrong with an identity function, measured). The patch makes ``process_element`` pass a copy,
   ``list(value)``. The async UDF is pickled by reference to its importable module, so a worker
   imports that module, and so applies the patch, while it unpickles the function, that is
   inside the operation's constructor, before ``FunctionOperation`` binds
   ``operation.process_element``. ``tests/test_async_udf.py`` proves it in a separate worker
   process, and shows the corruption with the patch switched off.
2. **Release on the loop.** PyFlink's ``close`` stops the event loop before it closes the
   functions, so nothing could be awaited on it any more: the patched ``close`` first calls
   each function's ``release_on(loop)`` hook (if it has one) on the still-running loop; then
   PyFlink's own ``close`` proceeds unchanged.

3. **One wake-up per burst (speed).** ``AsyncFunctionRunner.run_async`` hands each row's
   coroutine to the loop thread with ``asyncio.run_coroutine_threadsafe``: a future, a write to
   the loop's self-pipe and a thread switch per row, which is most of the async mode's cost per
   row. The patched one queues the coroutine and wakes the loop only when the queue was empty;
   the loop starts every queued coroutine, in order, as a task. Rows are completed through
   their result handlers as before (the future PyFlink dropped is not needed).

All are idempotent, applied only where :data:`~.versions.PATCHED_MINORS` lists this PyFlink
(2.3: the operation exists nowhere else) and its classes have the expected
``process_element(self, value)``, ``close(self)`` and
``run_async(self, async_function, record, result_handler)``; other functions' behaviour is
unchanged (a copied row holds the same values; coroutines start in the same order). Setting
:data:`PATCH_ENV` skips them (for tests).
"""

from __future__ import annotations

import collections
import functools
import inspect
import logging
import os
from typing import Any

from .versions import patch_applies, pyflink_version

__all__ = ["PATCH_ENV", "RELEASE_HOOK", "patch_pyflink_async", "patch_state", "pyflink_version"]

log = logging.getLogger(__name__)

#: Environment variable that, when set to a non-empty value, skips the PyFlink patches.
PATCH_ENV = "PYFLINK_TRITON_NO_ASYNC_PATCH"
#: The method a function may define to release what it holds on PyFlink's loop before it stops.
RELEASE_HOOK = "release_on"
_MARK = "__pyflink_triton_patched__"


def _params(function: Any) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []


def patch_pyflink_async() -> str:
    """Apply the PyFlink 2.3 async patches (see the module docstring); idempotent.

    :return: ``'applied'``, ``'disabled'`` (:data:`PATCH_ENV` is set), ``'not-needed'``
        (a PyFlink the patch was not written for, or without such an operation), or
        ``'unrecognised'`` (a PyFlink it was written for whose operation does not have the
        expected shape: not patched).
    """
    if os.environ.get(PATCH_ENV):
        return "disabled"
    version = pyflink_version()
    if not patch_applies("async-operation"):
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
                release = getattr(function, RELEASE_HOOK, None)
                if release is not None:
                    release(loop)
        return close(self)

    if not _patch_run_async():
        return "unrecognised"
    setattr(process_element_copying, _MARK, True)
    setattr(close_releasing, _MARK, True)
    operation.process_element = process_element_copying
    operation.close = close_releasing
    log.debug("patched PyFlink %s AsyncScalarFunctionOperation (FLINK-39532)", version)
    return "applied"


def _patch_run_async() -> bool:
    """Patch 3 (see the module docstring); False when the runner is not the expected one."""
    try:
        from pyflink.fn_execution.datastream.process.async_function.operation import (
            AsyncFunctionRunner as runner,
        )
    except ImportError:
        return False
    run_async = runner.__dict__.get("run_async")
    if run_async is None or not hasattr(runner, "exception_handler_wrapper"):
        return False
    if getattr(run_async, _MARK, False):
        return True
    if _params(run_async) != ["self", "async_function", "record", "result_handler"]:
        return False

    @functools.wraps(run_async)
    def run_async_in_bursts(self: Any, async_function: Any, record: Any, result_handler: Any) -> None:
        pending = self.__dict__.get("_triton_pending")
        if pending is None:
            pending = self._triton_pending = collections.deque()
            self._triton_waking = False
        pending.append(self.exception_handler_wrapper(async_function, record, result_handler))
        if not self._triton_waking:  # the loop drains the queue: one wake-up per burst
            self._triton_waking = True
            self._loop.call_soon_threadsafe(_start_pending, self)

    setattr(run_async_in_bursts, _MARK, True)
    runner.run_async = run_async_in_bursts
    return True


def _start_pending(runner: Any) -> None:
    """On the loop: start every queued coroutine, in order. The flag is cleared first, so a
    row queued while this runs either is started here or schedules the next wake-up."""
    runner._triton_waking = False
    pending, loop = runner._triton_pending, runner._loop
    tasks = runner.__dict__.setdefault("_triton_tasks", set())  # the loop keeps tasks weakly
    while pending:
        task = loop.create_task(pending.popleft())
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def patch_state() -> str:
    """What :func:`patch_pyflink_async` did the first time (the async UDF module applies it
    when imported)."""
    global _PATCH_STATE
    if _PATCH_STATE is None:
        _PATCH_STATE = patch_pyflink_async()
    return _PATCH_STATE


_PATCH_STATE: str | None = None
