"""``python -m pyflink_triton.job`` (what ``flink run -pym`` starts): arguments and the errors it
reports before Flink starts. The job on a cluster is in test_cluster.py
(``test_flink_run_pym_runs_a_script_on_the_cluster``); the manifests that run it in test_kubernetes.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pyflink_triton.flink.context import JOB_PARAMETER
from pyflink_triton.job import _naming, parser, run_script


def test_arguments_as_the_kubernetes_example_passes_them() -> None:
    args = parser().parse_args(
        ["--script", "/opt/pyflink-triton/sql/movie_reviews.sql", "--set", "a=1", "--set", "b=2", "--mode", "batch"]
    )
    assert (args.script, args.set, args.mode, args.no_wait) == (
        "/opt/pyflink-triton/sql/movie_reviews.sql",
        ["a=1", "b=2"],
        "batch",
        False,
    )
    with pytest.raises(SystemExit):
        parser().parse_args([])  # --script is required


def test_the_job_is_named_after_the_script_unless_set() -> None:
    assert _naming(Path("/x/my job:v2.sql"), []) == [
        "pipeline.name=my_job_v2",
        f"pipeline.global-job-parameters={JOB_PARAMETER}:my_job_v2",
    ]
    assert _naming(Path("a.sql"), ["pipeline.name = mine", "pipeline.global-job-parameters=k:v"]) == []


def test_a_missing_script_or_variable_fails_before_flink_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = io.StringIO()
    assert run_script(parser().parse_args(["--script", str(tmp_path / "none.sql")]), err) == 2
    assert "cannot read" in err.getvalue() and "none.sql" in err.getvalue()
    script = tmp_path / "job.sql"
    script.write_text(
        "CREATE MODEL m INPUT (x STRING) OUTPUT (y STRING) WITH (\n"
        "  'provider' = 'triton', 'endpoint' = '${NO_SUCH_ENDPOINT}', 'model-name' = 'm');\n"
    )
    monkeypatch.delenv("NO_SUCH_ENDPOINT", raising=False)
    err = io.StringIO()
    assert run_script(parser().parse_args(["--script", str(script)]), err) == 1
    assert err.getvalue().startswith("error: Variable ${NO_SUCH_ENDPOINT} (line 2) is not set")
