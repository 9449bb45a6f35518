"""What `pyflink-triton run` prints when it fails (issue 20, item 1): the whole terminal output of
the common failures, line by line; the traceback and Flink's log in the file it names, not on
the terminal. A real Flink mini-cluster in a fresh process, a real Triton, a fault server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port
from .test_cli import run_cli

# Starts a JVM (the CLI's jobs): outside the fast tier (`make check`).
pytestmark = pytest.mark.flink

TRY_SERVER = re.escape(
    "  try: check that Triton is running at the model's 'endpoint' and answers there (`pyflink-triton serve` "
    "starts one; `pyflink-triton run` starts one itself when ${TRITON_ENDPOINT} is unset)"
)
LOG = r"  log: (/\S+/pyflink-triton-run-\d{8}-\d{6}-\d+\.log)"
VIEW = "CREATE TEMPORARY VIEW v(id, x) AS VALUES (1, CAST(ARRAY[1.0, 2.0] AS ARRAY<FLOAT>));"


def model(
    endpoint: str, name: str, columns: str = "INPUT (x ARRAY<FLOAT>) OUTPUT (y ARRAY<FLOAT>)", **extra: str
) -> str:
    options = {"provider": "triton", "endpoint": endpoint, "model-name": name, **extra}
    return f"CREATE TEMPORARY MODEL m {columns} WITH (" + ", ".join(f"'{k}' = '{v}'" for k, v in options.items()) + ");"


def failed_run(tmp_path: Path, *lines: str, **env: str) -> tuple[list[str], str]:
    """Run a script of ``lines`` that fails: its stderr lines, and the text of the log it names."""
    script = tmp_path / "job.sql"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("run", str(script), env={"FLINK_LOG_DIR": str(tmp_path / "log"), **env})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "\tat " not in result.stderr, result.stderr
    log = re.fullmatch(LOG, result.stderr.splitlines()[-1])
    assert log and Path(log.group(1)).parent == tmp_path / "log", result.stderr
    return result.stderr.splitlines(), Path(log.group(1)).read_text(encoding="utf-8")


def match_lines(lines: list[str], patterns: list[str]) -> None:
    assert len(lines) == len(patterns), "\n".join(lines)
    for line, pattern in zip(lines, patterns):
        assert re.fullmatch(pattern, line), f"{line!r}\n  does not match\n{pattern!r}"


def test_no_server(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    lines, log = failed_run(
        tmp_path,
        model(url, "classifier", "INPUT (x ARRAY<FLOAT>) OUTPUT (c BIGINT)", **{"max-retries": "0"}),
        VIEW,
        "SELECT id, c",
        "FROM ML_PREDICT(TABLE v, MODEL m, DESCRIPTOR(x));",
    )
    cause = (
        re.escape(
            f"Triton model 'classifier' at {url}: model metadata failed: ClientConnectorError: Cannot connect to host 127.0.0.1:{port}"
        )
        + ".*"
    )
    # The cause once: the CREATE-time warning says what follows, the failure says why.
    match_lines(
        lines,
        [
            re.escape("warning: CREATE MODEL m: the server did not answer; its types are checked when a job starts"),
            "error: TritonConnectionError: " + cause,
            re.escape("  statement: line 3: SELECT id, c"),
            TRY_SERVER,
            LOG,
        ],
    )
    # The file holds what the terminal was spared: the worker's traceback, Flink's own log, and
    # what the server said at CREATE.
    assert "Traceback (most recent call last)" in log and "pyflink_triton.errors.TritonConnectionError" in log
    assert re.search(r"INFO  pyflink_triton\.sql\.model_schema - CREATE MODEL m: " + cause, log), log[:3000]
    assert "org.apache.flink.runtime" in log


def test_wrong_model_name(tmp_path: Path, triton_url: str) -> None:
    lines, _ = failed_run(tmp_path, model(triton_url, "no-such-model"), VIEW)
    match_lines(
        lines,
        [
            re.escape(
                f"error: CREATE MODEL m: Triton model 'no-such-model' at {triton_url}: model metadata failed with "
                "HTTP 404: Request for unknown model: 'no-such-model' is not found"
            ),
            re.escape("  statement: line 1: ") + re.escape(model(triton_url, "no-such-model")[:50]) + ".*",
            re.escape("  try: check the model's 'model-name' and 'model-version': the server has no such model loaded"),
            LOG,
        ],
    )


def test_wrong_types(tmp_path: Path, triton_url: str) -> None:
    lines, _ = failed_run(tmp_path, VIEW, model(triton_url, "classifier", "INPUT (x FLOAT) OUTPUT (c STRING)"))
    match_lines(
        lines,
        [
            re.escape(
                "error: CREATE MODEL m: the declared columns do not fit the model's tensors (declared <-> model):"
            ),
            re.escape("  input x FLOAT  <->  'features' FP32 per-row dims [4] (takes ARRAY<FLOAT>)"),
            re.escape("  output c STRING  <->  'class_id' INT64 per-row dims [1] (takes BIGINT)"),
            re.escape("  statement: line 2: CREATE TEMPORARY MODEL m INPUT (x FLOAT)") + ".*",
            re.escape(
                "  try: make the model's INPUT/OUTPUT types those of its tensors (shown above), or leave both "
                "clauses out: a triton model without them reads them from the server"
            ),
            LOG,
        ],
    )


def test_server_error_mid_job(tmp_path: Path, fault: Any) -> None:
    fault.actions = [("status", 500, "CUDA error: out of memory")] * 50
    lines, log = failed_run(
        tmp_path,
        model(fault.url, "m", **{"max-retries": "0"}),
        VIEW,
        "SELECT id, y FROM ML_PREDICT(TABLE v, MODEL m, DESCRIPTOR(x));",
    )
    match_lines(
        lines,
        [
            re.escape(
                f"error: TritonServiceError: Triton model 'm' at {fault.url}: inference failed with HTTP 500: "
                "CUDA error: out of memory"
            )
            + r"( \[request [\w-]+\])?",
            re.escape("  statement: line 3: SELECT id, y FROM ML_PREDICT(TABLE v, MODEL m, DESCRIPTOR(x));"),
            re.escape(
                "  try: the server failed on a request (its own log says why); 'max-retries' retries such failures, "
                "and ML_PREDICT's MAP['error-mode', 'column'] keeps the job going with the failed rows marked"
            ),
            LOG,
        ],
    )
    assert "CUDA error: out of memory" in log and "Traceback (most recent call last)" in log


def test_bad_option(tmp_path: Path, triton_url: str) -> None:
    lines, _ = failed_run(tmp_path, "-- a model", model(triton_url, "classifier", timeout="soon"))
    match_lines(
        lines,
        [
            re.escape("error: CREATE MODEL m: Invalid value for option 'timeout': 'soon'") + ".*",
            re.escape("  statement: line 2: CREATE TEMPORARY MODEL m") + ".*",
            re.escape(
                "  try: fix the option named above: docs/options.md lists each option with its type and an example"
            ),
            LOG,
        ],
    )


def test_verbose_keeps_the_traceback_on_the_terminal(tmp_path: Path, fault: Any) -> None:
    fault.actions = [("status", 500, "boom")] * 50
    script = tmp_path / "job.sql"
    script.write_text(
        "\n".join(
            [
                model(fault.url, "m", **{"max-retries": "0"}),
                VIEW,
                "SELECT id, y FROM ML_PREDICT(TABLE v, MODEL m, DESCRIPTOR(x));",
            ]
        ),
        encoding="utf-8",
    )
    result = run_cli("run", str(script), "--verbose", env={"FLINK_LOG_DIR": str(tmp_path / "log")})
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert re.fullmatch(LOG, result.stderr.splitlines()[-1]), result.stderr
