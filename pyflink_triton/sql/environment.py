"""The ``TableEnvironment`` a SQL script runs in: a local mini-cluster, or a remote cluster
that needs this package and Flink's Python operators shipped with each job."""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pyflink.table import EnvironmentSettings, TableEnvironment

from ..errors import TritonConfigError
from ..flink import DEFAULT_BATCH_SIZE, configure_inference

__all__ = ["table_environment"]

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def table_environment(
    *,
    mode: str = "streaming",
    parallelism: int | None = 1,
    batch_size: int | None = None,
    max_latency_ms: int | None = None,
    jobmanager: str | None = None,
    python_executable: str | None = None,
    settings: Sequence[str] = (),
    workdir: Path,
    log_file: Path | None = None,
) -> Any:
    """A ``TableEnvironment`` set up for inference jobs.

    :param parallelism: ``parallelism.default``; None leaves it to the caller (``flink run -p``).
    :param jobmanager: ``HOST:PORT`` of a cluster's REST endpoint; None runs locally.
    :param settings: Flink options as ``key=value``, applied after ours.
    :param workdir: where the package archive shipped to a cluster is written.
    :param log_file: where a local JVM appends its log (Flink's default: a file under
        ``FLINK_LOG_DIR``); a ``LOG4J_PROPERTIES`` of the user's own decides for itself.
    :raises TritonConfigError: for a malformed ``jobmanager`` or setting.
    """
    with _worker_environments_unlogged(workdir, log_file):  # the first call to PyFlink starts the JVM
        env_settings = (
            EnvironmentSettings.in_batch_mode() if mode == "batch" else EnvironmentSettings.in_streaming_mode()
        )
        t_env = TableEnvironment.create(env_settings)
    config = t_env.get_config()
    if parallelism is not None:
        config.set("parallelism.default", str(parallelism))
    batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
    configure_inference(t_env, batch_size=batch_size, max_latency_ms=max_latency_ms)
    if jobmanager:
        _submit_to(config, jobmanager, python_executable, workdir)
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise TritonConfigError(f"--set takes key=value, got {item!r}")
        config.set(key.strip(), value.strip())
    if jobmanager:
        _ship_flink_python(config)
    return t_env


#: Beam's bundle factory logs a Python worker's whole environment, every variable of the process
#: that started Flink (exported tokens and passwords among them), at INFO when it closes the
#: worker ("Closing environment ... beam:env:process:v1") and at WARN when that fails. No Flink
#: or PyFlink option turns this off; the logger's level does.
_ENVIRONMENT_LOGGER = "org.apache.beam.runners.fnexecution.control.DefaultJobBundleFactory"


@contextlib.contextmanager
def _worker_environments_unlogged(workdir: Path, log_file: Path | None = None) -> Iterator[None]:
    """Start a local JVM with Flink's log4j configuration plus :data:`_ENVIRONMENT_LOGGER` at ERROR.

    PyFlink launches the JVM with ``LOG4J_PROPERTIES`` or ``$FLINK_CONF_DIR/log4j-cli.properties``;
    a configuration of the user's own (``LOG4J_PROPERTIES``) is left as it is.
    """
    config = None if "LOG4J_PROPERTIES" in os.environ else _quiet_log_config(workdir, log_file)
    if config is not None:
        os.environ["LOG4J_PROPERTIES"] = str(config)
    try:
        yield
    finally:
        if config is not None:
            os.environ.pop("LOG4J_PROPERTIES", None)


def _quiet_log_config(workdir: Path, log_file: Path | None = None) -> Path | None:
    from pyflink.find_flink_home import _find_flink_home

    conf_dir = Path(os.environ.get("FLINK_CONF_DIR") or Path(_find_flink_home()) / "conf")
    try:
        lines = (conf_dir / "log4j-cli.properties").read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    # The copy lives as long as the workdir: log4j must not watch it (monitorInterval).
    lines = [line for line in lines if not line.strip().startswith("monitorInterval")]
    if log_file is not None:
        # Appended to, not truncated: the CLI's own log lines share the file (cli/run_log.py).
        lines = [
            f"appender.file.fileName = {log_file}"
            if line.strip().startswith("appender.file.fileName")
            else "appender.file.append = true"
            if line.strip().startswith("appender.file.append")
            else line
            for line in lines
        ]
    lines += [
        "",
        "# pyflink-triton: Python worker environments (exported secrets among them) stay out of the log.",
        f"logger.pyflink_triton_worker_env.name = {_ENVIRONMENT_LOGGER}",
        "logger.pyflink_triton_worker_env.level = ERROR",
        "",
    ]
    path = workdir / "log4j-cli.properties"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _submit_to(config: Any, jobmanager: str, python_executable: str | None, workdir: Path) -> None:
    host, _, port = jobmanager.rpartition(":")
    if not host or not port.isdigit():
        raise TritonConfigError(f"--jobmanager must be HOST:PORT (the REST port), got {jobmanager!r}")
    # A client-side environment starts as a local one, which runs a "loopback" worker pool in
    # this process and records its address in the configuration: shipped with the job, it
    # makes the cluster's Python workers call back into this client (only possible on the
    # same host) instead of running the UDFs themselves. Drop it.
    config.get_configuration().remove_config("python.loopback-server.address")
    config.set("execution.target", "remote")
    config.set("rest.address", host)
    config.set("rest.port", port)
    config.set("python.client.executable", sys.executable)
    config.set("python.executable", python_executable or sys.executable)
    config.set("python.files", str(_package_archive(workdir)))


def _ship_flink_python(config: Any) -> None:
    # Python operators (ArrowPythonScalarFunctionOperator, ...) live in flink-python, which a
    # cluster's lib/ lacks (it is in opt/): ship it with the job, as `flink run -py` does.
    jar = _flink_python_jar()
    jars = [j for j in (config.get("pipeline.jars", "")).split(";") if j]
    if jar and not any("flink-python" in j for j in jars):
        config.set("pipeline.jars", ";".join([*jars, jar]))


def _package_archive(directory: Path) -> Path:
    """Zip this package so a cluster's Python workers can import it (``python.files``)."""
    archive = directory / "pyflink_triton.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in _PACKAGE_ROOT.rglob("*.py"):
            zf.write(path, Path("pyflink_triton") / path.relative_to(_PACKAGE_ROOT))
    return archive


def _flink_python_jar() -> str | None:
    """``file:`` URL of the client's flink-python jar (``FLINK_HOME/opt``), or None when absent."""
    from pyflink.find_flink_home import _find_flink_home

    opt = Path(os.environ.get("FLINK_OPT_DIR") or Path(_find_flink_home()) / "opt")
    jars = sorted(opt.glob("flink-python*.jar"))
    return jars[0].resolve().as_uri() if jars else None
