"""The pyflink-triton CLI: every sql/ example run end to end (a real Flink mini-cluster in a
fresh process, the real Triton), with its output asserted; variables; failures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyflink_triton.cli import substitute_variables
from pyflink_triton.errors import TritonConfigError

from .conftest import clean_env

ROOT = Path(__file__).resolve().parent.parent
SQL = ROOT / "sql"


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyflink_triton.cli", *args],
        cwd=ROOT, env=clean_env(**(env or {})), capture_output=True, text=True, timeout=timeout,
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


def test_main_job_starts_its_own_triton_and_classifies_the_seed_reviews() -> None:
    # The README's main command: no TRITON_ENDPOINT, so the CLI starts a local Triton.
    result = run_cli("run", "sql/movie_reviews.sql")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "starting a local Triton" in result.stderr
    printed = re.findall(r"\+I\[(\d+), ([^,]+), (\w+), (\w+)\]", result.stdout)
    assert printed == [("1", "好电影", "positive", "positive"), ("2", "无聊的电影", "negative", "negative"),
                       ("3", "一般的电影", "neutral", "neutral")]
    assert "[done]" in result.stderr and "rows through Triton: 3" in result.stderr


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
    assert sorted(table_rows(result.stdout)) == [["1", "[1.2, 1.6]"], ["2", "[2.0, 0.0, 0.0]"],
                                                 ["3", "[0.0, 0.0, 2.0, 0.0]"]]


def test_stateful_sequence_example(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/stateful_sequence.sql", env={**endpoint, "SEQUENCE_ID": "cli-test-1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert table_rows(result.stdout) == [["1", "10", "10"], ["2", "5", "15"], ["3", "20", "35"], ["4", "1", "36"]]


def test_multi_io_example(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/multi_io.sql", env=endpoint)
    assert result.returncode == 0, result.stderr[-3000:]
    header = next(line for line in result.stdout.splitlines() if line.startswith("| op"))
    assert [c.strip() for c in header.strip("|").split("|")][1:] == [
        "k", "s", "v", "is_long", "id_times_two", "text_upper", "text_length", "vec_sum", "vec_scaled", "is_long0"]
    # A VALUES of array expressions is a UNION ALL of one branch per row: its order is not fixed.
    assert sorted(table_rows(result.stdout)) == [
        ["1", "hi", "[1.0, 2.0, 3.0]", "n/a", "2", "HI", "2", "6.0", "[0.5, 1.0, 1.5]", "FALSE"],
        ["2", "hello world", "[0.5, 0.5, 0.5]", "n/a", "4", "HELLO WORLD", "11", "1.5", "[0.25, 0.25, 0.25]", "TRUE"]]


def test_advanced_options_example_keeps_the_token_secret(endpoint: dict[str, str]) -> None:
    secret = "tok-3x4mple-S3CRET"
    result = run_cli("run", "sql/advanced_options.sql", env={**endpoint, "TRITON_TOKEN": secret})
    assert result.returncode == 0, result.stderr[-3000:]
    assert [r[-1] for r in table_rows(result.stdout)] == [
        "positive", "negative", "neutral", "positive", "negative", "neutral"]
    assert secret not in result.stdout and secret not in result.stderr


def test_streaming_datagen_example_reports_progress(endpoint: dict[str, str]) -> None:
    result = run_cli("run", "sql/streaming_datagen.sql", env={**endpoint, "ROWS": "30000"})
    assert result.returncode == 0, result.stderr[-3000:]
    done = re.search(r"\[done\].*rows through Triton: ([\d,]+)\s+([\d,]+) rows/s", result.stderr)
    assert done and done.group(1) == "30,000" and int(done.group(2).replace(",", "")) > 0


def test_failures_exit_non_zero_with_the_message(tmp_path: Path, endpoint: dict[str, str]) -> None:
    script = tmp_path / "bad.sql"
    script.write_text("CREATE TEMPORARY MODEL m INPUT (a STRING) OUTPUT (b STRING) WITH ("
                      "'provider' = 'triton', 'endpoint' = '${TRITON_ENDPOINT}', 'model-name' = 'x', "
                      "'timeout' = 'soon');\nSELECT 1;\n")
    result = run_cli("run", str(script), env=endpoint)
    assert result.returncode == 1
    assert "error: CREATE MODEL m: Invalid value for option 'timeout': 'soon'" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("run", str(tmp_path / "nope.sql"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_serve_starts_a_local_triton_until_sigterm() -> None:
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "pyflink_triton.cli", "serve"], cwd=ROOT, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
