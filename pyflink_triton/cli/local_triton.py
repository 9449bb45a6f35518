"""The one rule of ``run`` and ``sql`` for an unset ``${TRITON_ENDPOINT}``: a local Triton.

A newcomer's first script or statement says ``'endpoint' = '${TRITON_ENDPOINT}'``. When the
variable is not set, both commands start a local Triton on the example models (the
``tritonserver`` of the ``server`` extra) the first time the text needs it, say its URL, use it
for every later statement, and stop it when the command ends. Where a Triton that stops with
the command cannot serve (``run --detach``, the shell on a cluster, whose jobs outlive it), one
line says how to get an endpoint instead.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, TextIO, TypeVar

from ..errors import TritonConfigError
from .variables import substitute_variables, uses

if TYPE_CHECKING:
    from ..server import TritonServer

__all__ = ["LOCAL_ENDPOINT_VARIABLE", "LocalTriton"]

LOCAL_ENDPOINT_VARIABLE = "TRITON_ENDPOINT"

T = TypeVar("T")


class LocalTriton:
    """``${TRITON_ENDPOINT}`` for a command: the environment's, or a local Triton's.

    :param env: the variables statements are substituted from (the command's environment).
    :param err: where the start and the URL are reported.
    :param outlived_by: why a Triton that stops with the command would not do (``--detach``,
        a cluster's jobs), or None where it does.
    """

    def __init__(self, env: Mapping[str, str] | None = None, err: TextIO = sys.stderr, outlived_by: str | None = None):
        self.env = dict(os.environ if env is None else env)
        self.err = err
        self.outlived_by = outlived_by
        self.server: TritonServer | None = None

    def needed(self, text: str) -> bool:
        """Whether ``text`` needs the local Triton: it uses ``${TRITON_ENDPOINT}`` (no default),
        unset, and none has started yet."""
        return uses(text, LOCAL_ENDPOINT_VARIABLE) and LOCAL_ENDPOINT_VARIABLE not in self.env

    def start(self, meanwhile: Callable[[], T] | None = None) -> T | None:
        """Start the local Triton (once); ``meanwhile`` runs while it starts (the JVM: the two
        fixed costs overlap). Its result is returned.

        :raises TritonConfigError: where a Triton that stops with the command cannot serve.
        :raises TritonLaunchError: when it does not start (its log's last lines included).
        """
        if self.outlived_by is not None:
            raise TritonConfigError(
                f"{LOCAL_ENDPOINT_VARIABLE} is not set, and a Triton started here would stop when the "
                f"command returns ({self.outlived_by}): export {LOCAL_ENDPOINT_VARIABLE}=http://HOST:8000/v2/models, "
                "or run `pyflink-triton serve` and export the URL it prints"
            )
        from ..server import TritonServer

        print(
            f"{LOCAL_ENDPOINT_VARIABLE} is not set: starting a local Triton on the repository's models...",
            file=self.err,
            flush=True,
        )
        # Kept before it starts: close() stops it even when `meanwhile` or the start fails.
        self.server = server = TritonServer()
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            starting = pool.submit(server.start)
            result = meanwhile() if meanwhile is not None else None
            starting.result()
        self.env[LOCAL_ENDPOINT_VARIABLE] = server.url + "/v2/models"
        print(f"Triton is serving at {server.url}", file=self.err, flush=True)
        return result

    def substitute(self, text: str) -> str:
        """``text`` with its ``${VAR}`` replaced, the local Triton started first if it needs one."""
        if self.needed(text):
            self.start()
        return substitute_variables(text, self.env)

    def close(self) -> None:
        """Stop the local Triton, if one was started."""
        if self.server is not None:
            self.server.stop()
            self.server = None
            self.env.pop(LOCAL_ENDPOINT_VARIABLE, None)

    def __enter__(self) -> LocalTriton:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()
