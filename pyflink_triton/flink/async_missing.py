"""Stand-ins for the async UDF on a PyFlink without async scalar functions (before 2.3).

They keep ``from pyflink_triton import async_triton_udf`` importable everywhere and fail where
they are called, in one sentence naming the version that adds the mode and what to use instead.
"""

from __future__ import annotations

from typing import Any, NoReturn

from ..errors import TritonConfigError
from .versions import requires

__all__ = ["async_triton_udf", "configure_async"]

_INSTEAD = "use triton_udf (the batched pandas mode) instead"


def async_triton_udf(*args: Any, **kwargs: Any) -> NoReturn:
    """Raises: this PyFlink has no async scalar functions."""
    raise TritonConfigError(f"{requires('async_scalar', 'async_triton_udf')}: {_INSTEAD}")


def configure_async(*args: Any, **kwargs: Any) -> NoReturn:
    """Raises: this PyFlink has no async scalar functions."""
    raise TritonConfigError(f"{requires('async_scalar', 'configure_async')}: {_INSTEAD}")
