"""The entry module for ``flink run -pym pyflink_triton.job``: a SQL script as a Flink Python job.

::

    flink run -pym pyflink_triton.job -pyfs pyflink_triton.zip --script job.sql [--set k=v ...]

The script runs through the same SQL layer as ``pyflink-triton run`` (``CREATE MODEL`` with
``'provider' = 'triton'``, ``ML_PREDICT``, ``${VAR}`` from the environment), but the cluster, the
parallelism and the shipped files are ``flink run``'s business (``-m``, ``-p``, ``-pyfs``,
``-pyexec``), or the Flink Kubernetes Operator's (``args`` of a ``FlinkDeployment``'s ``job``,
with ``jarURI: local:///opt/flink/opt/flink-python-<version>.jar``). No local Triton is started:
the variables a script uses must be set. Each ``INSERT`` is waited for, so that ``flink run``
(attached) reports the job's outcome and an application cluster lives as long as its job;
``--no-wait`` submits and returns.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .cli import add_batch_options, report_error, substitute_variables
from .flink.context import JOB_PARAMETER
from .sql.lexer import is_insert

__all__ = ["main", "parser", "run_script"]


def parser() -> argparse.ArgumentParser:
    """The arguments after ``-pym pyflink_triton.job`` (the Kubernetes example's ``args`` too)."""
    p = argparse.ArgumentParser(
        prog="flink run -pym pyflink_triton.job",
        description="Run a SQL script with triton models (CREATE MODEL, ML_PREDICT) as a Flink job.",
    )
    p.add_argument("--script", required=True, help="the .sql script (a path where the client runs)")
    p.add_argument("--mode", choices=("streaming", "batch"), default="streaming")
    add_batch_options(p)
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a Flink configuration option, applied last"
    )
    p.add_argument("--no-wait", action="store_true", help="submit the INSERT jobs and return")
    return p


def run_script(args: argparse.Namespace, err: TextIO = sys.stderr) -> int:
    """Run ``args.script``; 0 when every statement (and every waited-for job) succeeded."""
    from .sql import TritonSql, has_content, split_statements, table_environment

    path = Path(args.script)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=err)
        return 2
    try:
        statements = split_statements(substitute_variables(text, dict(os.environ)))
        with tempfile.TemporaryDirectory(prefix="pyflink-triton-") as workdir:
            # parallelism None: flink run's -p (or the FlinkDeployment's) decides.
            t_env = table_environment(
                mode=args.mode,
                parallelism=None,
                batch_size=args.batch_size,
                max_latency_ms=args.max_latency_ms,
                settings=[*_naming(path, args.set), *args.set],
                workdir=Path(workdir),
            )
            session = TritonSql(t_env)
            for statement in statements:
                result = session.execute_sql(statement)
                if is_insert(statement):
                    if not args.no_wait:
                        result.wait()
                elif has_content(result):
                    result.print()
        return 0
    except Exception as exc:
        return report_error(exc, err)


def _naming(script: Path, settings: Sequence[str]) -> list[str]:
    """Job name and request-id job part from the script's name, unless ``settings`` set them."""
    keys = {item.partition("=")[0].strip() for item in settings}
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", script.stem)  # ':' and ',' would break the map
    named = []
    if "pipeline.name" not in keys:
        named.append(f"pipeline.name={name}")
    if "pipeline.global-job-parameters" not in keys:
        named.append(f"pipeline.global-job-parameters={JOB_PARAMETER}:{name}")
    return named


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pyflink_triton.job``, as ``flink run -pym`` starts it."""
    return run_script(parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
