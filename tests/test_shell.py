"""``pyflink-triton sql``: the real shell driven through a pseudo-terminal (pexpect), on a real
Flink mini-cluster and the real Triton; and the same statements read from a pipe.

One shell process serves the module's terminal tests, in file order (a JVM start costs ~10 s);
the last of them ends it with Ctrl-D.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from pyflink_triton.errors import TritonConfigError
from pyflink_triton.sql.lexer import complete_statements
from pyflink_triton.sql.shell import CONTINUATION, PROMPT

from .conftest import clean_env, iris_class

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

ROOT = Path(__file__).resolve().parent.parent

FLOWERS = {1: [5.1, 3.5, 1.4, 0.2], 2: [7.0, 3.2, 4.7, 1.4], 3: [6.3, 3.3, 6.0, 2.5], 4: [5.7, 2.8, 4.1, 1.3]}
# The statements as a user types them: a model over ${TRITON_ENDPOINT}, its input, a prediction.
CREATE_MODEL = [
    "CREATE TEMPORARY MODEL iris",
    "INPUT (features ARRAY<FLOAT>) OUTPUT (class_id BIGINT)",
    "WITH ('provider' = 'triton', 'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'classifier');",
]
CREATE_VIEW = (
    "CREATE TEMPORARY VIEW flowers(id, features) AS VALUES "
    + ", ".join(f"({i}, CAST(ARRAY{x} AS ARRAY<FLOAT>))" for i, x in FLOWERS.items())
    + ";"
)
PREDICT = "SELECT id, class_id FROM ML_PREDICT(TABLE flowers, MODEL iris, DESCRIPTOR(features));"
EXPECTED_CLASSES = sorted([str(i), str(iris_class(x))] for i, x in FLOWERS.items())
ERROR = "[ERROR] Could not execute SQL statement. Reason:"


def table_rows(output: str) -> list[list[str]]:
    """The data rows of the result tables Flink printed, cells stripped ('op' column dropped)."""
    return [
        [c.strip() for c in line.strip().strip("|").split("|")][1:]
        for line in output.splitlines()
        if line.startswith("| +I |")
    ]


def test_complete_statements_leave_what_has_not_ended() -> None:
    # What the shell reads lines for: the statements ended by a top-level ';', and the rest.
    assert complete_statements("SELECT 1; SELECT 'a;b' -- c;\n, 2") == (["SELECT 1"], " SELECT 'a;b' -- c;\n, 2")
    assert complete_statements("SELECT 1;\nSELECT 2 /* ; */;\n") == (["SELECT 1", "SELECT 2 /* ; */"], "\n")
    statement_set = "EXECUTE STATEMENT SET BEGIN INSERT INTO t SELECT 1; INSERT INTO t SELECT 2;"
    assert complete_statements(statement_set) == ([], statement_set)
    assert complete_statements(statement_set + " END;") == ([statement_set + " END"], "")
    with pytest.raises(TritonConfigError, match="Unclosed string literal"):
        complete_statements("SELECT 1; SELECT 'open")


class Shell:
    """The running shell: type lines, read what it printed until its next prompt."""

    def __init__(self, child: pexpect.spawn, history: Path) -> None:
        self.child = child
        self.history = history

    def type(self, *lines: str, timeout: float = 120) -> str:
        """Type ``lines`` (the shell shows its continuation prompt between them); what it
        printed up to the next ``Flink SQL>`` prompt."""
        printed = []
        for line in lines[:-1]:
            self.child.sendline(line)
            self.child.expect_exact(CONTINUATION, timeout=timeout)
            printed.append(self.child.before)
        self.child.sendline(lines[-1])
        self.child.expect_exact(PROMPT, timeout=timeout)
        return "".join([*printed, self.child.before])


@pytest.fixture(scope="module")
def shell(endpoint: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    home = tmp_path_factory.mktemp("shell-home")
    history = home / "history"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "pyflink_triton.cli", "sql", "--history-file", str(history)],
        cwd=str(ROOT),
        env=clean_env(**endpoint, HOME=str(home), TERM="dumb", INPUTRC=os.devnull),
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(50, 250),
        timeout=120,
    )
    try:
        child.expect_exact(PROMPT, timeout=180)  # the JVM has started
        assert "Enter 'HELP;'" in child.before
        yield Shell(child, history)
    finally:
        if child.isalive():
            child.terminate(force=True)
        child.close()


def test_a_statement_spans_lines_and_several_share_a_line(shell: Shell) -> None:
    out = shell.type("SELECT 41 + 1", "  AS answer;")
    assert table_rows(out) == [["42"]] and "answer" in out
    # Two statements on a line run in order; a ';' inside a literal or a comment ends nothing.
    out = shell.type("SELECT 'first' AS a; SELECT 'a;b' AS b -- not the end;", "/* nor ; this */ ;")
    assert table_rows(out) == [["first"], ["a;b"]]


def test_create_model_and_ml_predict_print_a_table(shell: Shell) -> None:
    out = shell.type(*CREATE_MODEL)
    assert "[INFO] Execute statement succeeded." in out and ERROR not in out
    assert "[INFO] Execute statement succeeded." in shell.type(CREATE_VIEW)
    out = shell.type(PREDICT)
    assert ERROR not in out, out
    assert sorted(table_rows(out)) == EXPECTED_CLASSES


def test_a_failed_statement_prints_its_error_and_the_shell_goes_on(shell: Shell) -> None:
    out = shell.type(
        "CREATE TEMPORARY MODEL bad INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'triton', "
        "'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'x', 'timeout' = 'soon');"
    )
    assert ERROR in out and "CREATE MODEL bad: Invalid value for option 'timeout': 'soon'" in out
    assert "Traceback" not in out
    out = shell.type("SELECT * FROM no_such_table;")
    assert ERROR in out and "no_such_table" in out and "Traceback" not in out
    out = shell.type("SELECT '${SHELL_TEST_UNSET_VARIABLE}' AS v;")
    assert ERROR in out and "Variable ${SHELL_TEST_UNSET_VARIABLE} (line 1) is not set" in out
    assert table_rows(shell.type("SELECT 'still here' AS s;")) == [["still here"]]


def test_help_set_and_reset(shell: Shell) -> None:
    out = shell.type("help;")
    assert "The following commands are available" in out and "RESET" in out and "QUIT" in out
    out = shell.type("SET 'table.local-time-zone' = 'Asia/Tokyo';")
    assert "[INFO] Session property has been set." in out
    assert "'table.local-time-zone' = 'Asia/Tokyo'" in shell.type("SET;")
    # The session's queries see it: the epoch is 09:00 in Tokyo.
    out = shell.type("SELECT CAST(TO_TIMESTAMP_LTZ(0, 0) AS STRING) AS t;")
    assert table_rows(out) == [["1970-01-01 09:00:00.000"]]
    assert "[INFO] Session property has been reset." in shell.type("RESET 'table.local-time-zone';")
    assert "Asia/Tokyo" not in shell.type("SET;")
    out = shell.type("SET 'no equals sign';")
    assert ERROR in out and "SET takes 'key' = 'value'" in out


def test_ctrl_c_cancels_a_running_query_and_clears_a_half_typed_one(shell: Shell) -> None:
    out = shell.type("CREATE TEMPORARY TABLE ticks (n BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '5');")
    assert "[INFO] Execute statement succeeded." in out
    shell.child.sendline("SELECT n FROM ticks;")  # unbounded: rows until cancelled
    shell.child.expect_exact("| +I |")
    shell.child.sendintr()
    shell.child.expect_exact("[INFO] Statement cancelled.")
    shell.child.expect_exact(PROMPT)
    # An open quote waits for more lines; Ctrl-C drops them.
    shell.child.sendline("SELECT 'half")
    shell.child.expect_exact(CONTINUATION)
    shell.child.sendintr()
    shell.child.expect_exact(PROMPT)
    assert table_rows(shell.type("SELECT 'whole' AS w;")) == [["whole"]]


def test_ctrl_d_exits_0_and_history_keeps_the_typed_text(shell: Shell, endpoint: dict[str, str]) -> None:
    # Flink's table cuts long cells: print what follows the host, which the typed text lacks.
    typed = "SELECT REPLACE('${TRITON_ENDPOINT}', 'http://127.0.0.1:', '') AS rest;"
    rest = endpoint["TRITON_ENDPOINT"].removeprefix("http://127.0.0.1:")
    assert table_rows(shell.type(typed)) == [[rest]]
    shell.child.sendeof()
    shell.child.expect(pexpect.EOF, timeout=60)
    shell.child.close()
    assert shell.child.exitstatus == 0, shell.child.before
    assert "Exiting the pyflink-triton SQL shell" in shell.child.before
    lines = shell.history.read_text(encoding="utf-8").splitlines()
    assert typed in lines and "  AS answer;" in lines and CREATE_MODEL[-1] in lines
    assert rest not in shell.history.read_text(encoding="utf-8")
    assert stat.S_IMODE(shell.history.stat().st_mode) == 0o600


def test_statements_from_a_pipe(endpoint: dict[str, str], tmp_path: Path) -> None:
    script = "\n".join(
        [
            *CREATE_MODEL,
            CREATE_VIEW,
            "SELECT * FROM no_such_table;",
            "CREATE TEMPORARY MODEL bad INPUT (a STRING) OUTPUT (b STRING) WITH ('provider' = 'triton',",
            "  'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'x', 'timeout' = 'soon');",
            PREDICT,
            "SELECT 'last, without its semicolon' AS s",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-m", "pyflink_triton.cli", "sql"],
        input=script,
        cwd=ROOT,
        env=clean_env(**endpoint, HOME=str(tmp_path), FLINK_LOG_DIR=str(tmp_path / "log")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr[-3000:]  # two statements failed
    # The whole of stderr: each failure's reason, what to try where there is a hint, the log.
    log = re.escape(str(tmp_path / "log")) + r"/pyflink-triton-sql-\d{8}-\d{6}-\d+\.log"
    patterns = [
        re.escape(ERROR),
        r".*Object 'no_such_table' not found.*",
        "  log: " + log,
        re.escape(ERROR),
        re.escape("CREATE MODEL bad: Invalid value for option 'timeout': 'soon'") + ".*",
        re.escape("  try: fix the option named above: docs/options.md lists each option with its type and an example"),
        "  log: " + log,
    ]
    lines = result.stderr.splitlines()
    assert len(lines) == len(patterns), result.stderr
    for line, pattern in zip(lines, patterns):
        assert re.fullmatch(pattern, line), f"{line!r}\n  does not match\n{pattern!r}"
    assert lines[2] == lines[-1]  # one log file for the session
    rows = table_rows(result.stdout)
    assert sorted(rows[:-1]) == EXPECTED_CLASSES and rows[-1] == ["last, without its semicolon"]
    assert PROMPT not in result.stdout and "Enter 'HELP;'" not in result.stdout
    assert result.stdout.count("[INFO] Execute statement succeeded.") == 2
    assert not (tmp_path / ".pyflink_triton_history").exists()


def test_a_file_that_cannot_be_read_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyflink_triton.cli", "sql", "-f", str(tmp_path / "nope.sql")],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot read" in result.stderr and "nope.sql" in result.stderr


def test_an_unset_endpoint_starts_a_local_triton_once_as_run_does(tmp_path: Path) -> None:
    # The endpoint statement second: the Triton started for the first serves it too.
    script = "\n".join(
        [*CREATE_MODEL, CREATE_VIEW, PREDICT, "SELECT REPLACE('${TRITON_ENDPOINT}', 'http://', '') AS e;"]
    )
    result = subprocess.run(
        [sys.executable, "-m", "pyflink_triton.cli", "sql"],
        input=script,
        cwd=ROOT,
        env=clean_env(HOME=str(tmp_path)),  # TRITON_ENDPOINT is not in it
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    starting = "TRITON_ENDPOINT is not set: starting a local Triton on the repository's models..."
    assert lines.count(starting) == 1, result.stderr
    serving = [m for line in lines if (m := re.fullmatch(r"Triton is serving at http://(127\.0\.0\.1:\d+)", line))]
    assert len(serving) == 1 and lines.index(starting) < lines.index(serving[0].group(0)), result.stderr
    address = serving[0].group(1)
    rows = table_rows(result.stdout)
    assert sorted(rows[:-1]) == EXPECTED_CLASSES and rows[-1] == [f"{address}/v2/models"]
    # Stopped when the shell ended: nothing listens at its address any more.
    host, port = address.split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()
