"""A failure at the terminal: what failed and why in one line, then where, what to try, and the log.

::

    error: TritonConnectionError: Triton model 'm' version '1' at http://127.0.0.1:1: model metadata failed: ...
      statement: line 24: SELECT id, movie_name, output AS predicted_sentiment, actual_sentiment
      try: check that Triton is running at the model's 'endpoint' (`pyflink-triton serve` starts one; ...)
      log: /tmp/pyflink-triton/pyflink-triton-run-20260101-120000-4242.log

The first line is the error's own message (ours name the model, version, endpoint or option;
a job's is the Python worker's last line, or Flink's innermost cause). The hint is chosen by the
kind of failure; the traceback is in the log, never here (:mod:`.run_log`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import TritonConfigError, TritonError

__all__ = ["failure_lines", "hint"]

_LOCAL_TRITON = (
    "`pyflink-triton serve` starts one; `pyflink-triton run` starts one itself when ${TRITON_ENDPOINT} is unset"
)

# (pattern on "Kind: message", what to try): the first that matches.
_HINTS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"^Triton(Connection|Timeout|Transport)Error\b|Cannot connect to host"),
        f"check that Triton is running at the model's 'endpoint' and answers there ({_LOCAL_TRITON})",
    ),
    (
        re.compile(r"HTTP 404|[Uu]nknown model|is not found"),
        "check the model's 'model-name' and 'model-version': the server has no such model loaded",
    ),
    (
        re.compile(r"declared columns do not fit|cannot be assigned to model input type|^TritonSchemaError\b"),
        "make the model's INPUT/OUTPUT types those of its tensors (shown above), or leave both "
        "clauses out: a triton model without them reads them from the server",
    ),
    (
        re.compile(r"^TritonServiceError\b|HTTP 5\d\d"),
        "the server failed on a request (its own log says why); 'max-retries' retries such failures, "
        "and ML_PREDICT's MAP['error-mode', 'column'] keeps the job going with the failed rows marked",
    ),
    (
        re.compile(r"Invalid value for option|Unsupported options found|option '"),
        "fix the option named above: docs/options.md lists each option with its type and an example",
    ),
]


def hint(exc: BaseException, message: str) -> str | None:
    """What to try for this failure, or None where the message says it already."""
    kind = type(exc).__name__ if isinstance(exc, TritonError) else ""
    text = f"{kind}: {message}" if kind else message
    if isinstance(exc, TritonConfigError) and "Variable ${" in message:
        return None  # "export it, or write ${VAR:-default}"
    for pattern, advice in _HINTS:
        if pattern.search(text):
            return advice
    return None


def failure_lines(
    exc: BaseException, message: str, *, statement: str | None = None, line: int | None = None, log: Path | None = None
) -> list[str]:
    """The terminal's account of a failure (see the module's docstring), line by line."""
    lines = [message]
    if statement is not None:
        first = statement.strip().splitlines()[0] if statement.strip() else ""
        if len(first) > 100:
            first = first[:97] + "..."
        lines.append(f"  statement: {f'line {line}: ' if line is not None else ''}{first}")
    advice = hint(exc, message)
    if advice:
        lines.append(f"  try: {advice}")
    if log is not None:
        lines.append(f"  log: {log}")
    return lines
