"""The ``pyflink-triton sql`` shell: Flink SQL statements, typed or piped, run through :class:`TritonSql`.

It behaves as Flink's SQL client does where both have the feature: the ``Flink SQL>`` prompt,
statements that span lines and end at a ``;`` outside quotes and comments, results printed as
tables (by Flink's own printer), ``[INFO]``/``[ERROR]`` lines, and the client's own commands
``HELP``, ``SET``, ``RESET``, ``CLEAR``, ``QUIT``/``EXIT``. Ctrl-C cancels the running
statement's job and returns to the prompt; Ctrl-D leaves.

Read from a pipe or a file, statements run without prompts, and the exit status says whether
all of them succeeded. History (GNU ``readline``) is kept only for a terminal, and keeps each
line as typed: ``${VAR}`` stays unexpanded, so a token substituted from the environment never
reaches the history file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from ..errors import TritonConfigError, TritonError
from .lexer import Kind, complete_statements, is_insert, split_statements, string_value, tokenize
from .session import TritonSql, has_content, java_message

__all__ = ["CONTINUATION", "DEFAULT_HISTORY_FILE", "PROMPT", "SqlShell", "interactive_history"]

PROMPT = "Flink SQL> "
#: The prompt of a statement's further lines, right-aligned under ``PROMPT`` as Flink's client does.
CONTINUATION = "> ".rjust(len(PROMPT))
DEFAULT_HISTORY_FILE = Path("~/.pyflink_triton_history")
_HISTORY_LENGTH = 10_000
# How long a cancelled job's result printer gets to notice and stop.
_CANCEL_WAIT_S = 30.0

HELP = """The following commands are available:

CLEAR            Clears the current terminal.
EXIT, QUIT       Quits the shell (Ctrl-D too).
HELP             Prints the available commands.
RESET            Resets a session configuration property. Syntax: RESET '<key>'; (RESET; resets all of them)
SET              Sets a session configuration property. Syntax: SET '<key>' = '<value>'; (SET; lists them)

Every other statement goes to Flink (CREATE, DROP, ALTER, SELECT, INSERT INTO, SHOW, DESCRIBE,
EXPLAIN, USE, ...), with CREATE MODEL ... ('provider' = 'triton') and ML_PREDICT over triton models.
${VAR} and ${VAR:-default} in a statement are taken from the environment.
Ctrl-C cancels a running statement (an unbounded query runs until then) and clears a half-typed one.

Hint: Make sure that a statement ends with ';' for finalizing (multi-line) statements."""


class SqlShell:
    """Runs statements the way Flink's SQL client does, printing to ``out`` and ``err``.

    :param session: the SQL session (its ``TableEnvironment`` holds the configuration).
    :param substitute: turns a statement as typed into the text that runs (``${VAR}``).
    :param wait_for_inserts: wait for an INSERT's job to end (a local mini-cluster ends with
        this process); otherwise print its job id, as Flink's client does.
    :param explain: the lines that follow a failure's reason (what to try, the log file), given
        the exception and its reason.
    """

    def __init__(
        self,
        session: TritonSql,
        *,
        substitute: Callable[[str], str] = lambda s: s,
        wait_for_inserts: bool = True,
        out: TextIO = sys.stdout,
        err: TextIO = sys.stderr,
        explain: Callable[[BaseException, str], list[str]] | None = None,
    ) -> None:
        self.session = session
        self.explain = explain
        self.substitute = substitute
        self.wait_for_inserts = wait_for_inserts
        self.out = out
        self.err = err
        self.failures = 0
        self._in_script = False  # a script stops at Ctrl-C; a prompt goes on
        self._initial = self._configuration().to_dict()

    # -- reading ---------------------------------------------------------------------------

    def interact(self, read: Callable[[str], str] = input) -> None:
        """Prompt for statements until Ctrl-D or QUIT; Ctrl-C clears a half-typed statement."""
        buffer = ""
        while True:
            try:
                with _interrupts_raised():  # whatever a statement left, Ctrl-C at the prompt clears
                    line = read(CONTINUATION if _unfinished(buffer) else PROMPT)
            except EOFError:
                self._info("Exiting the pyflink-triton SQL shell...", newline_before=True)
                return
            except KeyboardInterrupt:
                buffer = ""
                self._print("")
                continue
            try:
                buffer, more = self._take(buffer + line + "\n")
            except KeyboardInterrupt:  # between statements (inside one, Ctrl-C is held): none runs
                buffer, more = "", True
                self._info("Statement cancelled.", newline_before=True)
            if not more:
                return

    def run_script(self, script: str) -> bool:
        """Run a script's statements in order, without prompts; False if any failed (or was
        cancelled: Ctrl-C stops the script)."""
        self._in_script = True
        rest, more = self._take(script)
        if more and rest.strip():
            try:
                statements = split_statements(rest)  # the last statement may lack its ';'
            except TritonConfigError as exc:  # an open quote or comment
                self._error(str(exc))
                statements = []
            with contextlib.suppress(_Stop):
                for statement in statements:
                    self.execute(statement)
        return self.failures == 0

    def _take(self, buffer: str) -> tuple[str, bool]:
        """Run the complete statements at the start of ``buffer``: (what is left, whether to go on)."""
        try:
            statements, rest = complete_statements(buffer)
        except TritonConfigError:  # an open quote or comment: more lines follow
            return buffer, True
        for statement in statements:
            try:
                if not self.execute(statement):
                    return "", False
            except _Stop:
                return "", False
        return rest, True

    # -- running ---------------------------------------------------------------------------

    def execute(self, statement: str) -> bool:
        """Run one statement as typed and print its outcome; False after QUIT/EXIT."""
        words = [t.upper for t in tokenize(statement) if not t.trivia]
        try:
            if words in (["QUIT"], ["EXIT"]):
                self._info("Exiting the pyflink-triton SQL shell...")
                return False
            with _interrupts_held() as pressed:
                text = self.substitute(statement)
                if words == ["HELP"]:
                    self._print(HELP)
                elif words == ["CLEAR"]:
                    self._print("\033[H\033[2J", end="")
                elif words[:1] in (["SET"], ["RESET"]):
                    self._set_or_reset(text)
                else:
                    self._show(text, self.session.execute_sql(text), pressed)
        except _Stop:
            raise
        except TritonError as exc:
            self._error(str(exc), exc)
        except Exception as exc:  # py4j and Flink errors: their own message, not a trace
            self._error(java_message(exc), exc)
        return True

    def _show(self, statement: str, result: Any, pressed: list[bool]) -> None:
        if has_content(result):
            self._until_done(result, result.print, pressed)
        elif is_insert(statement) and self.wait_for_inserts:
            self._info("Running the INSERT job (Ctrl-C cancels it)...")
            if self._until_done(result, result.wait, pressed):
                self._info("Complete execution of the SQL update statement.")
        elif is_insert(statement):
            client = result.get_job_client()
            job = f"\nJob ID: {client.get_job_id()}" if client is not None else ""
            self._info(f"SQL update statement has been successfully submitted to the cluster:{job}")
        else:
            self._info("Execute statement succeeded.")

    def _until_done(self, result: Any, blocking: Callable[[], Any], pressed: list[bool]) -> bool:
        """Run ``blocking`` (printing rows, or waiting for a job) so that Ctrl-C can cancel the job.

        The call blocks in the JVM, where a signal cannot reach it: it runs on a thread, and
        this one waits for it, which a KeyboardInterrupt does interrupt. False if cancelled.
        """
        failure: list[BaseException] = []
        client = result.get_job_client()  # now, while this thread alone talks to the JVM

        def target() -> None:
            # Ctrl-C is the main thread's: a SIGINT the kernel gave this thread instead would not
            # wake the main thread from its wait (or, later, from reading the prompt's line).
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                blocking()
            except BaseException as exc:  # handed to the waiting thread
                failure.append(exc)

        self.out.flush()  # Flink prints from the JVM, on the same terminal
        worker = threading.Thread(target=target, name="pyflink-triton-shell-statement", daemon=True)
        try:
            with _interrupts_raised():
                if pressed:  # Ctrl-C while the statement was submitted
                    raise KeyboardInterrupt
                worker.start()
                worker.join()
        except KeyboardInterrupt:
            if client is not None:
                _cancel(client)
            if worker.is_alive():
                worker.join(_CANCEL_WAIT_S)
            self._info("Statement cancelled.", newline_before=True)
            if self._in_script:
                self.failures += 1
                raise _Stop from None
            return False
        if failure:
            raise failure[0]
        return True

    # -- SET and RESET ---------------------------------------------------------------------

    def _configuration(self) -> Any:
        return self.session.t_env.get_config().get_configuration()

    def _set_or_reset(self, statement: str) -> None:
        tokens = [t for t in tokenize(statement) if not t.trivia]
        command, rest = tokens[0].upper, tokens[1:]
        config = self._configuration()
        if command == "SET" and not rest:
            for key, value in sorted(config.to_dict().items()):
                self._print(f"'{key}' = '{value}'")
            return
        if command == "RESET":
            keys = [_option_text(rest)] if rest else sorted(set(config.to_dict()) | set(self._initial))
            for key in keys:
                if key in self._initial:
                    config.set_string(key, self._initial[key])
                else:
                    config.remove_config(key)
            self._info(
                "Session property has been reset."
                if rest
                else "All session properties have been set to their default values."
            )
            return
        split = next((i for i, t in enumerate(rest) if t.text == "="), None)
        if split is None or split == 0 or split == len(rest) - 1:
            raise TritonConfigError("SET takes 'key' = 'value' (or nothing, to list the properties)")
        config.set_string(_option_text(rest[:split]), _option_text(rest[split + 1 :]))
        self._info("Session property has been set.")

    # -- output ----------------------------------------------------------------------------

    def _print(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.out, flush=True)

    def _info(self, message: str, newline_before: bool = False) -> None:
        self._print(("\n" if newline_before else "") + f"[INFO] {message}")

    def _error(self, message: str, exc: BaseException | None = None) -> None:
        self.failures += 1
        self.out.flush()
        lines = self.explain(exc, message) if exc is not None and self.explain is not None else []
        print(f"[ERROR] Could not execute SQL statement. Reason:\n{message}", file=self.err, flush=True)
        for line in lines:
            print(line, file=self.err, flush=True)


def _unfinished(buffer: str) -> bool:
    """Whether ``buffer`` holds the start of a statement (not just blanks and comments)."""
    try:
        return any(not t.trivia for t in tokenize(buffer))
    except TritonConfigError:  # an open quote or comment
        return True


class _Stop(Exception):
    """A script's statement was cancelled: the script ends."""


def _option_text(tokens: list[Any]) -> str:
    """A key or value of SET/RESET: a ``'quoted'`` literal's value, else the text as written."""
    if len(tokens) == 1 and tokens[0].kind is Kind.STRING:
        return string_value(tokens[0])
    return "".join(t.text for t in tokens).strip()


def _cancel(client: Any) -> None:
    """Cancel a job; one that has ended already is no error."""
    with contextlib.suppress(Exception):
        client.cancel().result()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[list[bool]]:
    """Hold Ctrl-C while this thread talks to the JVM; the list says whether it was pressed.

    A KeyboardInterrupt inside a py4j call would abandon it half done (the statement's
    temporary views and functions made, the job perhaps submitted) and leave its connection
    behind; held, it cancels the job once the statement is submitted.
    """
    pressed: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return
    previous = signal.signal(signal.SIGINT, lambda *_: pressed.append(True))
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _interrupts_raised() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt again (inside :func:`_interrupts_held`)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def interactive_history(path: Path | None) -> Iterator[None]:
    """Line editing and history for a terminal: ``path`` read at start, written (mode 0600) at exit."""
    import readline  # only for a terminal: imported, it may write escape codes to stdout

    history = (path or DEFAULT_HISTORY_FILE).expanduser()
    readline.set_history_length(_HISTORY_LENGTH)
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    try:
        yield
    finally:
        try:
            # Typed statements may hold credentials: the file is the user's alone.
            os.close(os.open(history, os.O_WRONLY | os.O_CREAT, 0o600))
            readline.write_history_file(history)
        except OSError as exc:
            print(f"warning: cannot write the history file {history}: {exc.strerror}", file=sys.stderr)
