"""One log file per command: what the terminal is spared, kept whole for when it is needed.

A failed job under ``pyflink-triton run`` used to print the Python worker's traceback (Beam's
``sdk_worker`` prints it to ``sys.stderr`` of this process, where a local job's workers run)
before the one line that says what went wrong. :class:`RunLog` sends it, with every log record
of this process (Beam's, PyFlink's, ours) and the local JVM's log (Flink's log4j file appender,
pointed here by ``table_environment(log_file=...)``), to one file; the terminal keeps what the
command itself prints, our warnings, and the failure in a few lines ending with this file's
path (:mod:`.failure`). ``--verbose`` leaves ``sys.stderr`` on the terminal.

The file lives in ``$FLINK_LOG_DIR`` when it is set (next to Flink's own logs), else in
``$TMPDIR/pyflink-triton/``; it is the user's alone (mode 0600).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

__all__ = ["RunLog"]

_PACKAGE = str(Path(__file__).resolve().parent.parent)

_FORMAT = "%(asctime)s %(levelname)-5s %(name)s - %(message)s"


class RunLog:
    """The command's log file, and ``sys.stderr`` and logging pointed at it while it is open.

    :param command: ``run`` or ``sql``: part of the file's name.
    :param err: the terminal, where our own warnings still go (``warning: ...``).
    :param verbose: leave ``sys.stderr`` (tracebacks) on the terminal too.
    """

    def __init__(self, command: str, err: TextIO, *, verbose: bool = False) -> None:
        directory = Path(os.environ.get("FLINK_LOG_DIR") or Path(tempfile.gettempdir()) / "pyflink-triton")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.path = directory / f"pyflink-triton-{command}-{stamp}-{os.getpid()}.log"
        self.err = err
        self.verbose = verbose
        self._stack = contextlib.ExitStack()
        self._file: TextIO | None = None

    def __enter__(self) -> RunLog:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_APPEND: the JVM appends to the same file (its own lines between ours).
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = self._stack.enter_context(open(fd, "a", encoding="utf-8", buffering=1))
        # Our warnings about statements (the SQL layer, on the driver) reach the terminal; the
        # functions' (retries, in a local job's workers, which run in this process) the file.
        root, ours = logging.getLogger(), logging.getLogger("pyflink_triton.sql")
        to_file = logging.FileHandler(os.devnull)  # a FileHandler's formatting, on our stream
        to_file.setStream(self._file)
        to_file.setFormatter(logging.Formatter(_FORMAT))
        to_terminal = logging.StreamHandler(self.err)
        to_terminal.setLevel(logging.WARNING)
        to_terminal.setFormatter(logging.Formatter("warning: %(message)s"))
        previous_level = root.level
        root.setLevel(logging.INFO)
        root.addHandler(to_file)
        ours.addHandler(to_terminal)
        self._stack.callback(root.setLevel, previous_level)
        self._stack.callback(root.removeHandler, to_file)
        self._stack.callback(ours.removeHandler, to_terminal)
        self._stack.callback(to_file.close)
        if not self.verbose:
            self._stack.enter_context(contextlib.redirect_stderr(self._file))
        self._stack.enter_context(_our_warnings_on(self.err))
        return self

    def failure(self, exc: BaseException, statement: str | None = None) -> None:
        """Write a failure whole: the statement, our traceback, and the exception's own text
        (a py4j error's holds the Java stack and the Python worker's traceback)."""
        if self._file is None:
            return
        lines = ["", "=" * 100, f"FAILED {time.strftime('%Y-%m-%d %H:%M:%S')}"]
        if statement is not None:
            lines += ["statement:", statement]
        lines += ["", "".join(traceback.format_exception(exc)).rstrip(), "=" * 100, ""]
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        if self.verbose:
            print("".join(traceback.format_exception(exc)).rstrip(), file=sys.stderr, flush=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.close()
        self._file = None


@contextlib.contextmanager
def _our_warnings_on(err: TextIO) -> Iterator[None]:
    """``warnings.warn`` of this package (a PyFlink patch not applied, ...) on the terminal, as
    ``warning: ...``; those of other code where ``sys.stderr`` goes (the log file)."""
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if filename.startswith(_PACKAGE):
            print(f"warning: {message}", file=err, flush=True)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
