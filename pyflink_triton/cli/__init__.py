"""``pyflink-triton``: run SQL scripts with triton models, or serve a local Triton.

::

    pyflink-triton run FILE.sql [--jobmanager HOST:PORT [--detach]] [--mode streaming|batch] [--set k=v ...]
    pyflink-triton sql [-f FILE] [--history-file PATH] [--jobmanager HOST:PORT] [--mode ...] [--set k=v ...]
    pyflink-triton serve [--model-repository DIR] [--port N]
    pyflink-triton examples
    pyflink-triton --version

``run`` executes a script on a local mini-cluster (or a running cluster with
``--jobmanager``): SELECT results are printed as tables, INSERT jobs report their phases, then
rows, rows/s and failed rows while they run, on one line at a terminal and in a summary line
(:mod:`.progress`; with ``--detach``, only submitted: their JobIDs are printed), and a failure
exits non-zero with the error's own message (:mod:`.failure`). ``${VAR}`` and
``${VAR:-default}`` are taken from the environment, so endpoints and tokens need not be
written into scripts; the variables a script uses are taken out of the environment Flink and its
Python workers inherit (see :func:`~pyflink_triton.cli.variables.hidden_from_flink`). When a script uses
``${TRITON_ENDPOINT}`` and it is not set, a local Triton is started on the repository's models
for the run (and in ``sql``, at the first statement that uses it: one rule, in
:mod:`~pyflink_triton.cli.local_triton`). ``run`` also takes the name of an example script (``pyflink-triton run movie_reviews``):
``examples`` lists them, and the model repository ``serve`` uses by default; both come with the
installed package.
``sql`` is an interactive shell over the same session (see ``sql/shell.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..errors import TritonConfigError, TritonError
from .failure import failure_lines
from .local_triton import LOCAL_ENDPOINT_VARIABLE, LocalTriton
from .progress import PLANNING, STARTING, SUBMITTING, Display, JobWatch, StdoutPump
from .run_log import RunLog
from .variables import (
    check_secret_references,
    hidden_from_flink,
    located_statements,
    script_variables,
    secret_references,
    substitute_variables,
)

__all__ = ["main", "script_variables", "substitute_variables"]

# --help is plain text: the module docstring's reStructuredText markup would show as is.
_DESCRIPTION = "Run SQL scripts with triton models (CREATE MODEL, ML_PREDICT), or serve a local Triton."
_SHELL_DESCRIPTION = (
    "Type Flink SQL statements at the 'Flink SQL>' prompt; a statement ends with ';' and may span lines. "
    "HELP; lists the commands, Ctrl-C cancels a running statement, Ctrl-D or QUIT; exits. "
    "With -f FILE or a pipe (echo 'SELECT 1;' | pyflink-triton sql) the statements run without prompts, "
    "and the exit status is 1 if any of them failed. ${VAR} is taken from the environment."
)


def _make_env(args: argparse.Namespace, workdir: Path, log_file: Path | None = None) -> Any:
    from ..sql import table_environment

    return table_environment(
        mode=args.mode,
        parallelism=args.parallelism,
        batch_size=args.batch_size,
        max_latency_ms=args.max_latency_ms,
        jobmanager=args.jobmanager,
        python_executable=args.python_executable,
        settings=args.set or [],
        workdir=workdir,
        log_file=log_file,
    )


def _print_job_id(result: Any, out: TextIO) -> None:
    """Report a submitted job by its id, without waiting for it (``--detach``)."""
    client = result.get_job_client()
    job_id = client.get_job_id() if client is not None else "(unknown)"
    print(f"Job has been submitted with JobID {job_id}", file=out, flush=True)


def _script_path(name: str) -> Path:
    """``name`` itself when it exists, else the example script of that name."""
    from ..server.examples import example_script

    path = Path(name)
    if path.exists() or path.parent != Path("."):
        return path
    return example_script(name)


def run(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    from ..sql import TritonSql

    try:
        path = _script_path(args.file)
        text = path.read_text(encoding="utf-8")
    except TritonConfigError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=err)
        return 2
    with (
        StdoutPump.where_needed(err) as pump,  # before the JVM starts: it inherits stdout
        Display(err, pump) as display,
        RunLog("run", display.stream, verbose=args.verbose) as log,
        # --verbose: tracebacks (a local job's workers print them here) above the progress line.
        contextlib.redirect_stderr(display.stream) if args.verbose else contextlib.nullcontext(),
    ):
        local = LocalTriton(err=display.stream, outlived_by="--detach" if args.detach else None)
        where: dict[str, Any] = {}  # the statement running: its line, as written
        try:
            # Report a missing variable before anything slow starts.
            substitute_variables(text, {LOCAL_ENDPOINT_VARIABLE: "", **local.env})
            if not args.jobmanager:  # else the cluster's TaskManagers resolve secrets, with their environment
                check_secret_references(text, local.env)
            with (
                local,
                hidden_from_flink(script_variables(text) - secret_references(text)),
                tempfile.TemporaryDirectory(prefix="pyflink-triton-") as workdir,
            ):

                def make_env() -> Any:
                    return _make_env(args, Path(workdir), log.path)

                display.phase(STARTING)
                # The script is known whole: Triton starts while the JVM does (the two fixed costs overlap).
                t_env = local.start(make_env) if local.needed(text) else make_env()
                display.stop()
                session = TritonSql(t_env)
                for statement, line, written in located_statements(local.substitute(text), text):
                    where = {"line": line, "written": written}
                    _run_statement(session, statement, args, display, out)
            return 0
        except Exception as exc:
            display.stop()
            return report_error(exc, display.stream, log=log, **where)


def _run_statement(session: Any, statement: str, args: argparse.Namespace, display: Display, out: TextIO) -> None:
    """One statement of ``run``: a job's phases and rows on the progress line, a query's table
    (Flink prints it), an INSERT's JobID with ``--detach``."""
    from ..sql import has_content
    from ..sql.lexer import is_insert

    job = is_insert(statement) or _is_query(statement)
    if job:
        display.phase(PLANNING)
    result = session.execute_sql(statement, submitting=(lambda: display.phase(SUBMITTING)) if job else None)
    if is_insert(statement) and args.detach:
        display.stop()
        _print_job_id(result, out)
    elif is_insert(statement):
        JobWatch(result, display, rest=args.jobmanager, total=session.input_rows).wait()
    else:
        display.stop()
        if has_content(result):
            result.print()


def _is_query(statement: str) -> bool:
    from ..sql.lexer import tokenize

    first = next((t for t in tokenize(statement) if not t.trivia), None)
    return first is not None and first.is_word("SELECT", "WITH", "VALUES", "TABLE")


def report_error(
    exc: BaseException, err: TextIO, *, log: RunLog | None = None, line: int | None = None, written: str | None = None
) -> int:
    """Print a failure as its own message (ours, or Flink's innermost: not a trace), where it
    happened, what to try and the log holding the rest (:mod:`.failure`); exit status 1."""
    from ..sql import java_message

    message = str(exc) if isinstance(exc, TritonError) else java_message(exc)
    if log is not None:
        log.failure(exc, written)
    for text in failure_lines(
        exc, f"error: {message}", statement=written, line=line, log=log.path if log is not None else None
    ):
        print(text, file=err, flush=True)
    return 1


def examples(out: TextIO = sys.stdout) -> int:
    """Print the example model repository and the example scripts, one path a line."""
    from ..server.examples import example_scripts, model_repository

    try:
        print(f"model repository: {model_repository()}", file=out)
    except TritonError as exc:
        print(f"model repository: none ({exc})", file=out)
    for script in example_scripts():
        print(f"{script.stem:20} {script}", file=out)
    return 0


def shell(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``pyflink-triton sql``: the shell at a terminal, or the statements of ``-f FILE`` or a pipe."""
    from ..sql import TritonSql
    from ..sql.shell import SqlShell, interactive_history

    interactive = args.file is None and sys.stdin.isatty()
    try:
        text = "" if interactive else (Path(args.file).read_text(encoding="utf-8") if args.file else sys.stdin.read())
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc.strerror}", file=err)
        return 2
    # A statement that needs ${TRITON_ENDPOINT}, unset, starts the local Triton: as `run` does.
    outlived_by = f"the shell's jobs run on at {args.jobmanager}" if args.jobmanager else None
    try:
        with (
            RunLog("sql", err, verbose=args.verbose) as log,
            LocalTriton(err=err, outlived_by=outlived_by) as local,
            hidden_from_flink(script_variables(text) - secret_references(text)),
            tempfile.TemporaryDirectory(prefix="pyflink-triton-") as workdir,
        ):

            def explain(exc: BaseException, message: str) -> list[str]:
                log.failure(exc)
                return failure_lines(exc, message, log=log.path)[1:]

            t_env = _make_env(args, Path(workdir), log.path)
            sql = SqlShell(
                TritonSql(t_env),
                substitute=local.substitute,
                wait_for_inserts=not args.jobmanager,
                out=out,
                err=err,
                explain=explain,
            )
            if not interactive:
                return 0 if sql.run_script(text) else 1
            where = f"the cluster at {args.jobmanager}" if args.jobmanager else "a local mini-cluster"
            print(
                f"pyflink-triton SQL shell: Flink {args.mode} mode on {where}. Enter 'HELP;' to list the "
                "commands, 'QUIT;' or Ctrl-D to exit; Ctrl-C cancels a running statement.\n",
                file=out,
                flush=True,
            )
            with interactive_history(args.history_file):
                sql.interact()
            return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report_error(exc, err)


def add_batch_options(p: argparse.ArgumentParser) -> None:
    """``--batch-size`` and ``--max-latency-ms``, as ``run`` and ``pyflink_triton.job`` both take them."""
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per Arrow batch handed to the UDF (default: 20000, see the README's Tuning)",
    )
    p.add_argument("--max-latency-ms", type=int, default=None, help="python.fn-execution.bundle.time")


def _job_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobmanager", metavar="HOST:PORT", help="submit to a running cluster (its REST address)")
    p.add_argument("--mode", choices=("streaming", "batch"), default="streaming")
    p.add_argument("--parallelism", type=int, default=1)
    add_batch_options(p)
    p.add_argument("--python-executable", default=None, help="Python of the cluster's workers")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a Flink configuration option")
    p.add_argument(
        "--verbose",
        action="store_true",
        help="tracebacks on the terminal too (they always go to the log file a failure names)",
    )


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="pyflink-triton", description=_DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a SQL script (local mini-cluster, or --jobmanager)")
    r.add_argument("file", help="the .sql script, or the name of an example (see `examples`)")
    _job_options(r)
    r.add_argument(
        "--detach",
        action="store_true",
        help="with --jobmanager: submit INSERT jobs, print their JobIDs and return without waiting",
    )
    q = sub.add_parser(
        "sql",
        help="an interactive SQL shell, as Flink's SQL client (or statements from a pipe)",
        description=_SHELL_DESCRIPTION,
    )
    _job_options(q)
    q.add_argument("-f", "--file", help="run the statements of this file, then exit (no prompt)")
    q.add_argument(
        "--history-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="where a terminal session keeps its history (default: ~/.pyflink_triton_history)",
    )
    s = sub.add_parser("serve", help="serve a model repository with a local Triton")
    s.add_argument("--model-repository", default=None)
    s.add_argument("--port", type=int, default=None)
    sub.add_parser("examples", help="list the example SQL scripts and model repository")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The ``pyflink-triton`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "run" and args.detach and not args.jobmanager:
        parser.error("--detach needs --jobmanager (a local mini-cluster ends with the CLI)")
    if args.command == "serve":
        from ..server import main as serve

        forwarded = []
        if args.model_repository:
            forwarded += ["--model-repository", args.model_repository]
        if args.port:
            forwarded += ["--port", str(args.port)]
        return serve(forwarded)
    if args.command == "examples":
        return examples()
    if args.command == "sql":
        return shell(args)
    return run(args)
