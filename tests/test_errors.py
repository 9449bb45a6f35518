"""The error contract: one tree, drawn in errors.py as it is; every error pickles (PyFlink moves
errors between processes) with its message and context; messages name model and endpoint."""

from __future__ import annotations

import inspect
import pickle
import re

import pytest

from pyflink_triton import errors

CLASSES = [
    obj
    for _, obj in inspect.getmembers(errors, inspect.isclass)
    if issubclass(obj, errors.TritonError) and obj.__module__ == errors.__name__
]

#: Context each class takes beyond model, version and endpoint.
EXTRA = {
    errors.TritonConfigError: {"option": "max-retries"},
    errors.TritonServerError: {"status": 503, "server_message": "overloaded"},
    errors.TritonClientRequestError: {"status": 400, "server_message": "bad input"},
    errors.TritonServiceError: {"status": 503, "server_message": "overloaded"},
    errors.TritonLaunchError: {"log_tail": "E1201 failed to load 'm'"},
}


def drawn_tree() -> dict[str, str]:
    """Class name -> its parent's name, as the module docstring draws the tree."""
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        m = re.match(r"^(\s*)(?:[│ ]*)(?:[├└]── )?(Triton\w+)", line)
        if not m:
            continue
        depth = line.index(m.group(2))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[m.group(2)] = stack[-1][1]
        stack.append((depth, m.group(2)))
    return parents


def test_the_drawn_tree_is_the_real_one() -> None:
    drawn = drawn_tree()
    real = {cls.__name__: cls.__bases__[0].__name__ for cls in CLASSES if cls is not errors.TritonError}
    assert drawn == real
    assert set(errors.__all__) >= {cls.__name__ for cls in CLASSES}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_error_pickles_with_its_message_and_context(cls: type[errors.TritonError]) -> None:
    error = cls("something failed", model="m", version="2", endpoint="http://h:8000", **EXTRA.get(cls, {}))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error) == "Triton model 'm' version '2' at http://h:8000: something failed"
    assert copy.__dict__ == error.__dict__
    for key, value in EXTRA.get(cls, {}).items():
        assert getattr(copy, key) == value


def test_builtin_bases_let_callers_catch_them_as_usual() -> None:
    assert issubclass(errors.TritonConfigError, ValueError)
    assert issubclass(errors.TritonTimeoutError, TimeoutError)
    assert issubclass(errors.TritonConnectionError, ConnectionError)
    assert issubclass(errors.TritonLaunchError, RuntimeError)
    assert errors.TritonServiceError.retryable and not errors.TritonClientRequestError.retryable
