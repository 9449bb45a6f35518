"""What a command is doing, at the bottom of the terminal: the phase, then the job's rows.

::

    ⠙ starting Flink                                                     0:00:07
    ⠹ waiting for the first rows                                         0:00:02
    ⠸ rows through Triton  ━━━━━━━━━━━━━━━━━━━━━━━━━━  100%  3 of 3 rows  2 rows/s  0 failed  0:00:04

One line, redrawn in place by ``rich`` (its ``Progress`` under a ``Live``): a phase before rows
flow ("starting Flink", "planning", "submitting", "waiting for the first rows"), then rows,
rows/s and failed rows, with a bar and a percentage where the number of rows is known (an
``ML_PREDICT`` over ``VALUES``: :attr:`~pyflink_triton.sql.TritonSql.input_rows`). The line
is transient: when the job ends, the command's summary line takes its place
(:func:`summary`), the one line printed when the output is no terminal (a log, CI), where
nothing is redrawn.

A local job's print sink writes from the JVM, which inherited this process's stdout: on the
terminal that shows the line, such output would land in the middle of it (rich redirects
Python's ``sys.stdout``, not a child's file descriptor). :class:`StdoutPump` gives the JVM a
pipe in place of that terminal, and prints what comes through it above the line.
"""

from __future__ import annotations

import codecs
import contextlib
import fcntl
import io
import os
import select
import struct
import sys
import termios
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO, cast

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

__all__ = ["Display", "JobWatch", "StdoutPump", "is_terminal", "summary"]

#: What the progress line says while a statement gets to its first rows.
STARTING, PLANNING, SUBMITTING, WAITING = "starting Flink", "planning", "submitting", "waiting for the first rows"
COUNTING = "rows through Triton"


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a closed or bare stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def summary(elapsed_s: float, rows: int, rate: float, failed: int, total: int | None = None) -> str:
    """The line a finished job leaves, at a terminal or in a log."""
    of = f" of {total:,}" if total is not None else ""
    return f"[done] {elapsed_s:6.1f}s  {COUNTING}: {rows:,}{of}  {rate:,.0f} rows/s  failed rows: {failed:,}"


class _BarWhenCounted(ProgressColumn):
    """The bar, only where the number of rows is known (a phase, or a rate, has none)."""

    def __init__(self) -> None:
        super().__init__()
        self._bar = BarColumn(bar_width=30)

    def render(self, task: Task) -> RenderableType:
        return self._bar.render(task) if task.total is not None else Text("")


class Display:
    """The progress line on ``err`` while a statement runs; nothing where ``err`` is no terminal.

    :param err: the terminal (or not) of the command's messages.
    :param pump: the JVM's stdout, printed above the line (see :class:`StdoutPump`).
    """

    def __init__(self, err: TextIO, pump: StdoutPump | None = None) -> None:
        self.err = err
        self.pump = pump
        self.shown = is_terminal(err)
        self.console = Console(file=err, highlight=False) if self.shown else None
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        # A TextIOBase, which typing's TextIO does not name.
        self.stream = cast(TextIO, _Above(self))
        if pump is not None:
            pump.display = self

    def phase(self, text: str) -> None:
        """Show ``text`` (a phase: no counts yet), starting the line if it is not shown."""
        progress = self._started(text)
        if progress is not None and self._task is not None:
            progress.update(self._task, description=text, total=None, detail="", refresh=True)

    def rows(self, rows: int, rate: float, failed: int | None, total: int | None = None) -> None:
        """Show the job's counts (``failed`` None: not known): a bar and a percentage where
        ``total`` is known."""
        progress = self._started(COUNTING)
        if progress is None or self._task is None:
            return
        of = f" of {total:,}" if total is not None else ""
        failures = f"  {failed:,} failed" if failed is not None else ""
        detail = f"{rows:,}{of} rows  {rate:,.0f} rows/s{failures}"
        completed = min(rows, total) if total is not None else rows
        progress.update(self._task, description=COUNTING, total=total, completed=completed, detail=detail, refresh=True)

    def stop(self) -> None:
        """Take the line away (it is transient), so that what follows is printed in its place."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = self._task = None

    def say(self, line: str) -> None:
        """Print a line of the command's: above the progress line when it is shown; always after
        what the JVM printed before it."""
        if self.pump is not None:
            self.pump.drain()
        if self._progress is not None:
            self._progress.console.print(Text(line), soft_wrap=True)
        else:
            print(line, file=self.err, flush=True)

    def _started(self, description: str) -> Progress | None:
        if not self.shown or self.console is None:
            return None
        if self._progress is None:
            columns: list[ProgressColumn | str] = [
                SpinnerColumn(),
                TextColumn("{task.description}"),
                _BarWhenCounted(),
                TaskProgressColumn(),  # the percentage; nothing where the total is not known
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
            ]
            # sys.stdout and sys.stderr stay where they are: stderr is the log file (run_log).
            self._progress = Progress(
                *columns, console=self.console, transient=True, redirect_stdout=False, redirect_stderr=False
            )
            self._task = self._progress.add_task(description, total=None, detail="")
            self._progress.start()
        return self._progress

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class JobWatch:
    """An INSERT job until it ends: its phase, then its rows on the display; the summary line.

    A local job's rows are those of the ``triton`` metric group's source, the engines of this
    process (:func:`~pyflink_triton.engine.rows_predicted`: a local job runs its Python
    functions here); a cluster's (``rest``: its REST address) are Flink's own record counts.

    :param total: the rows the job's ``ML_PREDICT`` calls receive, where known (a bar and a
        percentage); None: a rate.
    """

    def __init__(self, result: Any, display: Display, *, rest: str | None = None, total: int | None = None) -> None:
        from ..engine import rows_predicted

        self.result = result
        self.display = display
        self.rest = rest
        self.total = total
        self.started = time.monotonic()
        client = result.get_job_client()
        self.job_id = str(client.get_job_id()) if client is not None else None
        self.before = rows_predicted()  # what earlier jobs of this process counted

    def wait(self) -> None:
        """Wait for the job, showing its progress; the summary line at the end.

        :raises Exception: the job's failure (Flink's, through py4j).
        """
        self.display.phase(WAITING)
        every_s = 1.0 if self.rest else 0.25  # a REST request a second; a local count is free
        while True:
            try:
                self.result.wait(int(every_s * 1000))
                break
            except Exception as exc:
                if "Timeout" not in type(exc).__name__ and "TimeoutException" not in str(exc):
                    raise
                self._show()
        line = self._show(final=True)
        self.display.stop()
        if line is not None:
            self.display.say(line)

    def _show(self, final: bool = False) -> str | None:
        """Show the counts now; the summary line they make (None: not known)."""
        elapsed = time.monotonic() - self.started
        if self.rest and self.job_id:
            return self._show_rest(elapsed, final)
        from ..engine import rows_predicted

        now = rows_predicted()
        rows, failed = now.rows - self.before.rows, now.failed_rows - self.before.failed_rows
        # The rate from the job's first batch, not from its submission.
        first = max(now.first_batch_at or self.started, self.started)
        busy = time.monotonic() - first
        rate = rows / busy if rows and busy > 0 else 0.0
        if rows or final:
            self.display.rows(rows, rate, failed, self.total)
        return summary(elapsed, rows, rate, failed, self.total)

    def _show_rest(self, elapsed: float, final: bool) -> str | None:
        assert self.rest is not None and self.job_id is not None
        counts = _rest_counts(self.rest, self.job_id, settle_s=10.0 if final else 0.0)
        if counts is None:
            return None
        rows_in, rows_out = counts
        rate = rows_out / elapsed if elapsed > 0 else 0.0
        if rows_out:
            self.display.rows(rows_out, rate, None)
        if rows_in == rows_out == 0:
            # Flink counts records between tasks only: a job chained into one task has none.
            return f"[done] {elapsed:6.1f}s  rows in/out: not reported (the job ran as one chained task)"
        return f"[done] {elapsed:6.1f}s  rows in: {rows_in:,}  rows out: {rows_out:,}  {rate:,.0f} rows/s"


def _rest_counts(rest: str, job_id: str, settle_s: float = 0.0) -> tuple[int, int] | None:
    """Records read by the job's sources and written by its sinks, from Flink's REST API.

    With ``settle_s``, wait up to that long for the job to show a terminal state: the REST API
    serves a cached graph for a few seconds, and only the terminal one has the final counts.
    """
    import json
    import urllib.request

    deadline = time.monotonic() + settle_s
    while True:
        try:
            with urllib.request.urlopen(f"http://{rest}/jobs/{job_id}", timeout=2) as resp:
                job = json.load(resp)
        except (OSError, ValueError):
            return None
        if job.get("state") in ("FINISHED", "FAILED", "CANCELED") or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    vertices = job.get("vertices", [])
    if not vertices:
        return None
    first, last = vertices[0].get("metrics", {}), vertices[-1].get("metrics", {})
    return int(first.get("write-records", 0)), int(last.get("read-records", 0))


class _Above(io.TextIOBase):
    """A text stream whose lines go through :meth:`Display.say` (a warning, the local Triton's URL)."""

    def __init__(self, display: Display) -> None:
        self._display = display
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            self._display.say(line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            line, self._buffer = self._buffer, ""
            self._display.say(line)

    def isatty(self) -> bool:
        return is_terminal(self._display.err)


class StdoutPump:
    """File descriptor 1 made a pipe, whose text this process prints on the real stdout, or
    above the progress line while it is shown: for a JVM started meanwhile (it inherits fd 1).

    Only where the progress line and stdout are one terminal (else there is nothing to
    interleave); the pipe is read until the process ends, as the JVM may outlive the command.
    """

    def __init__(self) -> None:
        self.display: Display | None = None
        self._read, self._write = os.pipe()
        self._stdout = os.dup(1)
        self._busy = threading.Lock()
        self._pending = ""

    @classmethod
    @contextlib.contextmanager
    def where_needed(cls, err: TextIO) -> Iterator[StdoutPump | None]:
        """A pump while the block runs, where ``err`` and stdout are the same terminal; else None."""
        try:
            same = is_terminal(err) and os.isatty(1) and os.path.samestat(os.fstat(1), os.fstat(err.fileno()))
        except (OSError, ValueError, io.UnsupportedOperation):
            same = False
        if not same:
            yield None
            return
        pump = cls()
        sys.stdout.flush()
        os.dup2(pump._write, 1)
        os.close(pump._write)
        threading.Thread(target=pump._forward, name="pyflink-triton-stdout", daemon=True).start()
        try:
            yield pump
        finally:
            sys.stdout.flush()
            pump.drain()
            os.dup2(pump._stdout, 1)  # this process's own writes go straight to the terminal again
            pump.display = None

    def drain(self, timeout_s: float = 2.0) -> None:
        """Wait (a little) until what was written to the pipe so far is printed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._busy:
                if _unread(self._read) == 0:
                    return
            time.sleep(0.005)

    def _forward(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            select.select([self._read], [], [])  # data, or the end: no busy loop
            with self._busy:  # drain() waits for bytes read but not yet printed
                try:
                    data = os.read(self._read, 65536)
                except OSError:
                    return
                if not data:  # every writer (this process, the JVM) has closed it
                    return
                self._print(decoder.decode(data))

    def _print(self, text: str) -> None:
        display = self.display
        progress = display._progress if display is not None else None
        if progress is None:
            os.write(self._stdout, (self._pending + text).encode("utf-8", errors="replace"))
            self._pending = ""
            return
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            progress.console.print(Text(line), soft_wrap=True)


def _unread(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    return int(struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0])
