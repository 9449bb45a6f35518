"""The CLI's text work without Flink: where each statement starts, shown as written (never with
a substituted secret), and the hint a failure gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyflink_triton.cli.failure import failure_lines
from pyflink_triton.cli.variables import (
    check_secret_references,
    located_statements,
    script_variables,
    secret_references,
    substitute_variables,
)
from pyflink_triton.errors import TritonConfigError, TritonConnectionError


def test_statements_are_located_and_shown_as_written() -> None:
    written = "-- setup\nCREATE MODEL m WITH ('endpoint' = '${TOKEN}');\n\n/* go */\nSELECT 1;\nSELECT\n  2"
    script = substitute_variables(written, {"TOKEN": "s3cr3t"})
    located = list(located_statements(script, written))
    assert [(line, shown) for _, line, shown in located] == [
        (2, "CREATE MODEL m WITH ('endpoint' = '${TOKEN}');"),
        (5, "SELECT 1;"),
        (6, "SELECT"),
    ]
    assert "s3cr3t" in located[0][0] and all("s3cr3t" not in shown for _, _, shown in located)


def test_secret_options_keep_their_references() -> None:
    """``${VAR}`` in a secret option's value is not substituted (the function resolves it where it
    opens); everywhere else it is, and unset variables there are still errors."""
    written = (
        "CREATE MODEL m WITH ('endpoint' = '${EP}', 'auth-token' = '${TOK}',\n"
        "  'TLS-CLIENT-KEY-PASSWORD' = 'x${PW:-none}', 'custom-headers' = 'X-A:${TOK}');\n"
        "ALTER MODEL m SET ('auth-token'='${TOK2}')"
    )
    out = substitute_variables(written, {"EP": "http://h:1", "TOK": "s3cr3t"})
    assert out == (
        "CREATE MODEL m WITH ('endpoint' = 'http://h:1', 'auth-token' = '${TOK}',\n"
        "  'TLS-CLIENT-KEY-PASSWORD' = 'x${PW:-none}', 'custom-headers' = 'X-A:s3cr3t');\n"
        "ALTER MODEL m SET ('auth-token'='${TOK2}')"
    )
    assert script_variables(written) == {"EP", "TOK"} and secret_references(written) == {"TOK", "PW", "TOK2"}
    try:
        substitute_variables(written, {"TOK": "s3cr3t"})
    except TritonConfigError as exc:
        assert "${EP}" in str(exc)
    else:
        raise AssertionError("an unset variable outside secret options must fail")
    # A local run checks the references too, before the JVM starts (its TaskManager has this environment).
    check_secret_references(written, {"TOK": "s3cr3t", "TOK2": "x"})
    try:
        check_secret_references(written, {"TOK": "s3cr3t"})
    except TritonConfigError as exc:
        assert str(exc).startswith("Variable ${TOK2} (line 3) is not set: export it") and "s3cr3t" not in str(exc)
    else:
        raise AssertionError("an unset secret reference must fail a local run")


def test_a_failure_is_its_message_the_statement_what_to_try_and_the_log() -> None:
    exc = TritonConnectionError("model metadata failed: refused", model="m", endpoint="http://h:1")
    assert failure_lines(exc, f"error: {exc}", statement="SELECT x", line=3, log=Path("/tmp/x.log")) == [
        "error: Triton model 'm' at http://h:1: model metadata failed: refused",
        "  statement: line 3: SELECT x",
        "  try: check that Triton is running at the model's 'endpoint' and answers there (`pyflink-triton serve` "
        "starts one; `pyflink-triton run` starts one itself when ${TRITON_ENDPOINT} is unset)",
        "  log: /tmp/x.log",
    ]
    # A message that says what to do already gets no hint; a long statement line is cut.
    unset = TritonConfigError("Variable ${X} (line 1) is not set: export it, or write ${X:-default}")
    assert failure_lines(unset, f"error: {unset}", statement="S" * 150, line=1) == [
        f"error: {unset}",
        "  statement: line 1: " + "S" * 97 + "...",
    ]


def _read_all(fd: int) -> str:
    import os
    import select

    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_the_progress_line_tells_phases_then_rows_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import pty
    import re

    from pyflink_triton.cli.progress import COUNTING, PLANNING, STARTING, SUBMITTING, WAITING, Display

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "xterm")
    master, slave = pty.openpty()
    with os.fdopen(slave, "w", encoding="utf-8") as terminal:
        display = Display(terminal)
        for phase in (STARTING, PLANNING, SUBMITTING, WAITING):
            display.phase(phase)
        display.say("warning: above the line")
        display.rows(2, 10.0, 0, total=4)
        display.rows(4, 10.0, 1, total=4)
        display.stop()
        display.say("[done] the summary")
        written = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _read_all(master))
    os.close(master)
    frames = [f for f in re.split(r"[\r\n]+", written) if f.strip()]
    firsts = [next(i for i, f in enumerate(frames) if text in f) for text in (STARTING, PLANNING, SUBMITTING, WAITING)]
    assert firsts == sorted(firsts), frames
    counted = [f for f in frames if COUNTING in f]
    assert re.search(r"━+  50% 2 of 4 rows  10 rows/s  0 failed", counted[0]), counted
    assert re.search(r"━+ 100% 4 of 4 rows  10 rows/s  1 failed", counted[-1]), counted
    assert "warning: above the line" in frames and frames[-1] == "[done] the summary"


def test_no_progress_line_where_the_output_is_no_terminal() -> None:
    import io

    from pyflink_triton.cli.progress import Display, summary

    log = io.StringIO()
    display = Display(log)
    display.phase("planning")
    display.rows(5, 2.0, 0, total=10)
    display.stop()
    display.say(summary(1.3, 5, 2.0, 0, total=10))
    assert log.getvalue() == "[done]    1.3s  rows through Triton: 5 of 10  2 rows/s  failed rows: 0\n"
