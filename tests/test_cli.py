"""The pyflink-triton CLI: every sql/ example run end to end (a real Flink mini-cluster in a
fresh process, the real Triton), with its output asserted; variables; failures."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pyflink_triton.cli import script_variables, substitute_variables
from pyflink_triton.cli.variables import hidden_from_flink
from pyflink_triton.errors import TritonConfigError

from .conftest import clean_env

# Starts a JVM (PyFlink's TableEnvironment or the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyflink_triton.cli", *args],
        cwd=ROOT,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def table_rows(stdout: str) -> list[list[str]]:
    """The data rows of a printed result table, cells stripped ('op' column dropped)."""
    rows = []
    for line in stdout.splitlines():
        if line.startswith("| +I |"):
            rows.append([c.strip() for c in line.strip("|").split("|")][1:])
    return rows


def test_substitution() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute_variables("x=${A} y=${B:-two} z=${EMPTY:-d} ${A}", env) == "x=1 y=two z= 1"
    with pytest.raises(TritonConfigError, match=r"Variable \$\{MISSING\} \(line 2\) is not set"):
        substitute_variables("ok\n'${MISSING}'", env)


def test_the_variables_a_script_uses_are_hidden_from_flink(monkeypatch: pytest.MonkeyPatch) -> None:
    # Flink's JVM inherits the environment and hands it to every Python worker, whose whole
    # environment Beam logs: what a script substitutes stays out of it for the run.
    text = "'${TRITON_TOKEN}' '${SECRET_URL:-http://h}' ${HOME}/x ${FLINK_CONF_DIR:-c} ${UNSET:-d}"
    assert script_variables(text) == {"TRITON_TOKEN", "SECRET_URL", "HOME", "FLINK_CONF_DIR", "UNSET"}
    for name, value in [
        ("TRITON_TOKEN", "t0k"),
        ("SECRET_URL", "http://u:pw@h"),
        ("HOME", "/home/x"),
        ("FLINK_CONF_DIR", "/conf"),
        ("OTHER", "o"),
    ]:
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("UNSET", raising=False)
    with hidden_from_flink(script_variables(text)):
        assert "TRITON_TOKEN" not in os.environ and "SECRET_URL" not in os.environ
        assert (os.environ["HOME"], os.environ["FLINK_CONF_DIR"], os.environ["OTHER"]) == ("/home/x", "/conf", "o")
    assert (os.environ["TRITON_TOKEN"], os.environ["SECRET_URL"]) == ("t0k", "http://u:pw@h")


def test_the_local_jvm_logs_no_worker_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyflink_triton.sql import environment

    monkeypatch.delenv("LOG4J_PROPERTIES", raising=False)
    with environment._worker_environments_unlogged(tmp_path):
        config = Path(os.environ["LOG4J_PROPERTIES"])
        text = config.read_text(encoding="utf-8")
    assert "LOG4J_PROPERTIES" not in os.environ
    assert f"name = {environment._ENVIRONMENT_LOGGER}" in text and ".level = ERROR" in text
    assert "rootLogger" in text and "monitorInterval" not in text  # Flink's own, not watched
    # A configuration of the user's own is left alone.
    monkeypatch.setenv("LOG4J_PROPERTIES", "/mine.properties")
    with environment._worker_environments_unlogged(tmp_path / "other"):
        assert os.environ["LOG4J_PROPERTIES"] == "/mine.properties"
    assert os.environ["LOG4J_PROPERTIES"] == "/mine.properties"


def run_at_a_terminal(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> tuple[int, str]:
    """Run the CLI under a pseudo-terminal (its stdout and stderr both), 100 columns wide: its
    exit status and all it wrote, escape codes removed (a redrawn line's frames stay, each
    after the carriage return that began it)."""
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        ["-m", "pyflink_triton.cli", *args],
        cwd=str(ROOT),
        env=clean_env(**(env or {}), TERM="xterm", COLUMNS="100", LINES="40"),
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(40, 100),
        timeout=timeout,
    )
    try:
        child.expect(pexpect.EOF)
        written = child.before
    finally:
        child.close(force=True)
    return child.exitstatus, ANSI_ESCAPE.sub("", written)


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_main_job_starts_its_own_triton_and_shows_its_progress_at_a_terminal() -> None:
    # The README's main command, at a terminal: no TRITON_ENDPOINT, so the CLI starts a local
    # Triton; the progress line tells each phase, then the rows with a bar (the input is a
    # VALUES list: 3 rows), and the print sink's rows (the JVM's stdout) come out whole above it.
    status, written = run_at_a_terminal("run", "sql/movie_reviews.sql")
    assert status == 0, written[-3000:]
    frames = [f for f in re.split(r"[\r\n]+", written) if f.strip()]
    assert "TRITON_ENDPOINT is not set: starting a local Triton on the repository's models..." in frames, frames[:5]
    assert any(re.fullmatch(r"Triton is serving at http://127\.0\.0\.1:\d+", f) for f in frames), frames[:9]
    phases = ["starting Flink", "planning", "submitting", "waiting for the first rows", "rows through Triton"]
    firsts = [next(i for i, f in enumerate(frames) if phase in f) for phase in phases]
    assert firsts == sorted(firsts), list(zip(phases, firsts))
    counted = [f for f in frames if "rows through Triton" in f and "[done]" not in f]
    assert re.search(r"━+ 100% 3 of 3 rows  [\d,]+ rows/s  0 failed", counted[-1]), counted[-1]
    # Each printed row is a line of its own, never inside a progress frame.
    assert [f for f in frames if "+I[" in f] == [
        "+I[1, 好电影, positive, positive]",
        "+I[2, 无聊的电影, negative, negative]",
        "+I[3, 一般的电影, neutral, neutral]",
    ]
    assert re.fullmatch(r"\[done\] +[\d.]+s  rows through Triton: 3 of 3  [\d,]+ rows/s  failed rows: 0", frames[-1])


def test_iris_classifier_example(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/iris_classifier.sql", env=endpoint)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = table_rows(result.stdout)
    assert len(rows) == 4 and all(species == predicted for _, species, predicted in rows)


def test_vector_transform_example(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/vector_transform.sql", env=endpoint)
    assert result.returncode == 0, result.stderr[-3000:]
    # Flink plans a VALUES of arrays of different lengths as a UNION ALL of one branch per row,
    # whose interleaving is not deterministic: the rows' order is the source's, not ours.
    assert sorted(table_rows(result.stdout)) == [
        ["1", "[1.2, 1.6]"],
        ["2", "[2.0, 0.0, 0.0]"],
        ["3", "[0.0, 0.0, 2.0, 0.0]"],
    ]


def test_stateful_sequence_example(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/stateful_sequence.sql", env={**endpoint, "SEQUENCE_ID": "cli-test-1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_rows(result.stdout) == [["1", "10", "10"], ["2", "5", "15"], ["3", "20", "35"], ["4", "1", "36"]]


def test_multi_io_example(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/multi_io.sql", env=endpoint)
    assert result.returncode == 0, result.stderr[-3000:]
    header = next(line for line in result.stdout.splitlines() if line.startswith("| op"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [
        "k",
        "s",
        "v",
        "is_long",
        "id_times_two",
        "text_upper",
        "text_length",
        "vec_sum",
        "vec_scaled",
        "is_long0",
    ]
    # A VALUES of array expressions is a UNION ALL of one branch per row: its order is not fixed.
    assert sorted(table_rows(result.stdout)) == [
        ["1", "hi", "[1.0, 2.0, 3.0]", "n/a", "2", "HI", "2", "6.0", "[0.5, 1.0, 1.5]", "FALSE"],
        ["2", "hello world", "[0.5, 0.5, 0.5]", "n/a", "4", "HELLO WORLD", "11", "1.5", "[0.25, 0.25, 0.25]", "TRUE"],
    ]


def test_advanced_options_example_keeps_the_token_secret(endpoint: dict[str, str]) -> None:
    secret = "tok-3x4mple-S3CRET"
    result = run_cli("run", "sql/advanced_options.sql", env={**endpoint, "TRITON_TOKEN": secret})
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r[-1] for r in table_rows(result.stdout)] == [
        "positive",
        "negative",
        "neutral",
        "positive",
        "negative",
        "neutral",
    ]
    assert secret not in result.stdout and secret not in result.stderr


def _keep_reading_logs(root: Path, stop: threading.Event, found: dict[str, str]) -> None:
    """Read every ``*.log`` under ``root`` until ``stop``: Flink deletes a Python worker's boot
    log directory (``BOOT_LOG_DIR``, under ``io.tmp.dirs``) when the job ends."""
    while True:
        for path in root.rglob("*.log"):
            with contextlib.suppress(OSError):
                found[str(path)] = path.read_text(encoding="utf-8", errors="replace")
        if stop.wait(0.1):
            return


def test_secrets_reach_no_log_file(tmp_path: Path, endpoint: dict[str, str]) -> None:
    # The token and an endpoint password come from exported variables, as the examples advise;
    # a third secret is exported but not used by the script. Flink's log goes to tmp_path.
    token, password, unused = "tok-C4N4RY-71x", "pw-C4N4RY-93q", "other-C4N4RY-58z"
    address = endpoint["TRITON_ENDPOINT"].split("://", 1)[1]
    script = tmp_path / "secret.sql"
    script.write_text(
        (SQL / "advanced_options.sql")
        .read_text(encoding="utf-8")
        .replace("'${TRITON_ENDPOINT}'", "'http://alice:${TRITON_PASSWORD}@${TRITON_ADDRESS}'"),
        encoding="utf-8",
    )
    log_dir, tmp_dir = tmp_path / "log", tmp_path / "tmp"
    tmp_dir.mkdir()
    boot_logs: dict[str, str] = {}
    stop = threading.Event()
    reader = threading.Thread(target=_keep_reading_logs, args=(tmp_dir, stop, boot_logs))
    reader.start()
    try:
        result = run_cli(
            "run",
            str(script),
            "--set",
            f"io.tmp.dirs={tmp_dir}",
            env={
                "TRITON_TOKEN": token,
                "TRITON_PASSWORD": password,
                "TRITON_ADDRESS": address,
                "SERVICE_API_SECRET": unused,
                "FLINK_LOG_DIR": str(log_dir),
            },
        )
    finally:
        stop.set()
        reader.join()
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(table_rows(result.stdout)) == 6
    logs = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in log_dir.rglob("*") if p.is_file()}
    # The run wrote Flink's log, with the Python worker's lines in it, and the worker's boot log.
    assert any("PythonWorker" in text for text in logs.values()), sorted(logs)
    assert any(name.endswith("flink-python-udf-boot.log") for name in boot_logs), sorted(boot_logs)
    for name, text in [("stdout", result.stdout), ("stderr", result.stderr), *logs.items(), *boot_logs.items()]:
        for secret in (token, password, unused):
            assert secret not in text, f"{secret} in {name}"


def test_streaming_datagen_example_reports_progress(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/streaming_datagen.sql", env={**endpoint, "ROWS": "30000"})
    assert result.returncode == 0, result.stderr[-3000:]
    # Not at a terminal (a log, CI): no progress line, only the summary; the size is datagen's
    # 'number-of-rows'.
    done = re.fullmatch(
        r"\[done\] +[\d.]+s  rows through Triton: ([\d,]+) of 30,000  ([\d,]+) rows/s  failed rows: 0\n",
        result.stderr,
    )
    assert done and done.group(1) == "30,000" and int(done.group(2).replace(",", "")) > 0, result.stderr


def test_failures_exit_non_zero_with_the_message(tmp_path: Path, endpoint: dict[str, str]) -> None:
    script = tmp_path / "bad.sql"
    script.write_text(
        "CREATE TEMPORARY MODEL m INPUT (a STRING) OUTPUT (b STRING) WITH ("
        "'provider' = 'triton', 'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'x', "
        "'timeout' = 'soon');\nSELECT 1;\n"
    )
    result = run_cli("run", str(script), env=endpoint)
    assert result.returncode == 1
    assert "error: CREATE MODEL m: Invalid value for option 'timeout': 'soon'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("run", str(tmp_path / "nope.sql"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_serve_starts_a_local_triton_until_sigterm() -> None:
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "pyflink_triton.cli", "serve"],
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the server is ready (or the process ends)
        match = re.match(r"Triton is serving at (http://127\.0\.0\.1:\d+)", line)
        assert match, line + (proc.stderr.read() if proc.poll() is not None else "")
        import urllib.request

        with urllib.request.urlopen(match.group(1) + "/v2/health/ready", timeout=5) as resp:
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
