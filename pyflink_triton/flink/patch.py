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

Both are idempotent, applied only to PyFlink 2.3.x whose operation has the expected
``process_element(self, value)`` and ``close(self)``; other functions' behaviour is unchanged (a
copied row holds the same values). Setting :data:`PATCH_ENV` skips them (for tests).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from typing import Any

__all__ = ["PATCH_ENV", "RELEASE_HOOK", "patch_pyflink_async", "patch_state", "pyflink_version"]

log = logging.getLogger(__name__)

#: Environment variable that, when set to a non-empty value, skips the PyFlink patches.
PATCH_ENV = "PYFLINK_TRITON_NO_ASYNC_PATCH"
#: The method a function may define to release what it holds on PyFlink's loop before it stops.
RELEASE_HOOK = "release_on"
_MARK = "__pyflink_triton_patched__"


def pyflink_version() -> str:
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
    version = pyflink_version()
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
                release = getattr(function, RELEASE_HOOK, None)
                if release is not None:
                    release(loop)
        return close(self)

    setattr(process_element_copying, _MARK, True)
    setattr(close_releasing, _MARK, True)
    operation.process_element = process_element_copying
    operation.close = close_releasing
    log.debug("patched PyFlink %s AsyncScalarFunctionOperation (FLINK-39532)", version)
    return "applied"


def patch_state() -> str:
    """What :func:`patch_pyflink_async` did the first time (the async UDF module applies it
    when imported)."""
    global _PATCH_STATE
    if _PATCH_STATE is None:
        _PATCH_STATE = patch_pyflink_async()
    return _PATCH_STATE


_PATCH_STATE: str | None = None
