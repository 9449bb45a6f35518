"""The auth token stays out of Flink's catalog and everything that prints it (issue 19, item 5):
``pyflink-triton sql`` driven through a pseudo-terminal, as a user types it, with ``TOK`` exported;
three models, one per form (``${TOK}`` in ``'auth-token'``, ``'auth-token-file'``,
``'auth-token-env'``). ``SHOW CREATE MODEL``, ``DESCRIBE MODEL``, ``EXPLAIN``, the terminal's
whole transcript (the typed lines' echo included) and the session's log file never show the
token; each model's ``ML_PREDICT`` job authenticates to a server that refuses any other token
(the fault server: a real Triton has no auth). One shell, one JVM.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from .conftest import clean_env
from .test_shell import CONTINUATION, PROMPT, table_rows

# Starts a JVM (the CLI's shell and its jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "supersecret-123"
ERROR = "[ERROR]"


def type_statement(child: pexpect.spawn, *lines: str) -> str:
    for line in lines[:-1]:
        child.sendline(line)
        child.expect_exact(CONTINUATION)
    child.sendline(lines[-1])
    child.expect_exact(PROMPT)
    return str(child.before)


def test_no_form_of_the_token_shows_and_each_authenticates(fault: Any, tmp_path: Path) -> None:
    fault.authorization = f"Bearer {TOKEN}"
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    forms = {
        "m_var": "'auth-token' = '${TOK}'",
        "m_file": f"'auth-token-file' = '{token_file}'",
        "m_env": "'auth-token-env' = 'TOK'",
    }
    log_dir = tmp_path / "log"
    child = pexpect.spawn(
        sys.executable,
        ["-m", "pyflink_triton.cli", "sql", "--history-file", str(tmp_path / "history")],
        cwd=str(ROOT),
        env=clean_env(TOK=TOKEN, HOME=str(tmp_path), TERM="dumb", INPUTRC=os.devnull, FLINK_LOG_DIR=str(log_dir)),
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(50, 250),
        timeout=120,
    )
    transcript: list[str] = []
    try:
        child.expect_exact(PROMPT, timeout=180)
        for name, form in forms.items():
            transcript.append(
                type_statement(
                    child,
                    f"CREATE TEMPORARY MODEL {name} INPUT (x ARRAY<FLOAT>) OUTPUT (y ARRAY<FLOAT>)",
                    f"WITH ('provider' = 'triton', 'endpoint' = '{fault.url}/v2/models', 'model-name' = 'm', {form});",
                )
            )
        transcript.append(
            type_statement(child, "CREATE TEMPORARY VIEW v(id, x) AS VALUES (1, ARRAY[CAST(1.5 AS FLOAT)]);")
        )
        shown = {name: type_statement(child, f"SHOW CREATE MODEL {name};") for name in forms}
        described = type_statement(child, "DESCRIBE MODEL m_var;")
        explained = type_statement(child, "EXPLAIN SELECT id, y FROM ML_PREDICT(TABLE v, MODEL m_var, DESCRIPTOR(x));")
        results = {
            name: type_statement(child, f"SELECT id, y FROM ML_PREDICT(TABLE v, MODEL {name}, DESCRIPTOR(x));")
            for name in forms
        }
        child.sendeof()
        child.expect(pexpect.EOF, timeout=60)
    finally:
        if child.isalive():
            child.terminate(force=True)
        child.close()
    everything = "".join([*transcript, *shown.values(), described, explained, *results.values()])
    print(f"\n--- SHOW CREATE MODEL m_var ---\n{shown['m_var'].strip()}")
    assert ERROR not in everything, everything
    for name, form in forms.items():
        assert form in shown[name], shown[name]  # the reference, as written
        assert table_rows(results[name]) == [["1", "[1.5]"]], results[name]
    assert "ARRAY<FLOAT>" in described and "== Abstract Syntax Tree ==" in explained, (described, explained)
    logs = "".join(p.read_text(encoding="utf-8", errors="replace") for p in log_dir.rglob("*") if p.is_file())
    assert TOKEN not in everything and TOKEN not in logs
    assert not (tmp_path / "history").exists() or TOKEN not in (tmp_path / "history").read_text()
    sent = {r.headers.get("Authorization") for r in fault.requests}
    assert sent == {f"Bearer {TOKEN}"} and len(fault.infer_requests) >= len(forms)
