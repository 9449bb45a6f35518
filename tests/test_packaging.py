"""The package as a user gets it: ``python -m build`` on a clean copy of the tree, the wheel
installed (with its ``server`` extra) into a fresh virtual environment, and the installed
command run from a folder outside the checkout: ``--version``, ``--help``, ``examples``,
``serve`` (a real Triton on the packaged example models) and a small job (the packaged movie-review
example on a local Flink mini-cluster against that Triton).

The install is the slow part (apache-flink, Beam, pytriton: ~1 GB unpacked); pip's cache makes
reruns much faster. The module builds and installs once for all its tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import clean_env, free_port

# Builds and installs packages or runs the benchmark suite: outside the fast tier (`make check`).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
EXAMPLE_FOLDERS = ("model_repository", "sql")


def tracked_files() -> list[str]:
    """The files of the working tree that git knows or would add (uncommitted work included)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        )
        .stdout.decode()
        .split("\0")
    )
    return sorted(name for name in listed if name and (ROOT / name).is_file())


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tree as git sees it: no virtual environment, build output or caches."""
    copy = tmp_path_factory.mktemp("source") / "pyflink-triton"
    for name in tracked_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)
    return copy


def build(source: Path, out: Path, *flags: str) -> list[Path]:
    result = subprocess.run(
        [sys.executable, "-m", "build", *flags, "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return sorted(out.iterdir())


@pytest.fixture(scope="module")
def dist(source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``python -m build``: the sdist, and the wheel built from that sdist."""
    built = build(source, tmp_path_factory.mktemp("dist"))
    assert [p.name for p in built] == [f"pyflink_triton-{VERSION}-py3-none-any.whl", f"pyflink_triton-{VERSION}.tar.gz"]
    return {"wheel": built[0], "sdist": built[1]}


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {n for n in archive.namelist() if ".dist-info/" not in n}


def test_the_wheel_carries_the_package_and_the_examples(dist: dict[str, Path]) -> None:
    files = wheel_files(dist["wheel"])
    tracked = tracked_files()
    modules = {n for n in tracked if n.startswith("pyflink_triton/")}
    examples = {f"pyflink_triton/examples/{n}" for n in tracked if n.split("/")[0] in EXAMPLE_FOLDERS}
    assert modules and examples and files == modules | examples, sorted(files ^ (modules | examples))
    with zipfile.ZipFile(dist["wheel"]) as archive:
        metadata = archive.read(f"pyflink_triton-{VERSION}.dist-info/METADATA").decode()
        entry_points = archive.read(f"pyflink_triton-{VERSION}.dist-info/entry_points.txt").decode()
    assert f"Version: {VERSION}" in metadata and "Provides-Extra: server" in metadata
    assert "pyflink-triton = pyflink_triton.cli:main" in entry_points


def test_the_sdist_holds_the_sources_and_builds_the_same_wheel(
    source: Path, dist: dict[str, Path], tmp_path: Path
) -> None:
    prefix = f"pyflink_triton-{VERSION}/"
    with tarfile.open(dist["sdist"]) as archive:
        names = {m.name.removeprefix(prefix) for m in archive.getmembers() if m.isfile()}
    needed = {n for n in tracked_files() if n.startswith(("pyflink_triton/", *EXAMPLE_FOLDERS))}
    assert needed | {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md"} <= names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # The wheel of `python -m build` came from the sdist; one built straight from the tree matches it.
    (from_tree,) = build(source, tmp_path, "--wheel")
    assert wheel_files(from_tree) == wheel_files(dist["wheel"])


@pytest.fixture(scope="module")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel and its ``server`` extra installed."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys._base_executable, "-m", "venv", str(root)], check=True, timeout=120)  # type: ignore[attr-defined]
    started = time.monotonic()
    # --no-compile: byte-compiling Beam's and Flink's thousands of modules would take a third of the time.
    result = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile", f"{dist['wheel']}[server]"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"\ninstalling the wheel with the server extra took {time.monotonic() - started:.0f} s", file=sys.stderr)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def installed(
    venv: Path, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``pyflink-triton`` from ``cwd``, with only the fresh environment on PATH."""
    return subprocess.run(
        [str(venv / "bin" / "pyflink-triton"), *args],
        cwd=cwd,
        env=fresh_env(venv, **(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fresh_env(venv: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env(**extra).items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    # The fresh environment first; the test's own virtual environment nowhere (java and the rest stay).
    ours = str(Path(sys.prefix) / "bin")
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != ours]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *rest])
    return env


def site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3.*/site-packages")
    return found


def test_the_installed_command_reports_its_version_and_help(venv: Path, tmp_path: Path) -> None:
    version = installed(venv, "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"pyflink-triton {VERSION}", version
    helped = installed(venv, "--help", cwd=tmp_path)
    assert helped.returncode == 0 and all(c in helped.stdout for c in ("run", "serve", "examples")), helped
    module = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import pyflink_triton as p; print(p.__version__)"],
        cwd=tmp_path,
        env=fresh_env(venv),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert module.stdout.strip() == VERSION, module


def test_the_examples_come_with_the_installed_package(venv: Path, tmp_path: Path) -> None:
    result = installed(venv, "examples", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    packaged = site_packages(venv) / "pyflink_triton" / "examples"
    assert f"model repository: {packaged / 'model_repository'}" in result.stdout
    listed = dict(line.split(None, 1) for line in result.stdout.splitlines()[1:])
    assert listed == {p.stem: str(packaged / "sql" / p.name) for p in sorted((ROOT / "sql").glob("*.sql"))}
    unknown = installed(venv, "run", "no_such_example", cwd=tmp_path)
    assert unknown.returncode == 2 and "movie_reviews" in unknown.stderr, unknown


def wait_ready(url: str, process: subprocess.Popen[str], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"pyflink-triton serve exited {process.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/v2/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.2)  # a poll interval, not a wait for readiness: the loop checks it
    raise AssertionError(f"Triton at {url} was not ready within {deadline_s} s")


def test_serve_and_a_job_from_the_installed_package(venv: Path, tmp_path: Path) -> None:
    port = free_port()
    serve = subprocess.Popen(
        [str(venv / "bin" / "pyflink-triton"), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=fresh_env(venv),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, serve, 120)
        assert serve.stdout is not None
        assert serve.stdout.readline().strip() == f"Triton is serving at {url}"
        info = json.loads(serve.stdout.readline())
        assert info["model_repository"] == str(site_packages(venv) / "pyflink_triton" / "examples" / "model_repository")
        assert "text-classification" in info["models"]

        job = installed(
            venv, "run", "movie_reviews", cwd=tmp_path, env={"TRITON_ENDPOINT": f"{url}/v2/models"}, timeout=300
        )
        assert job.returncode == 0, job.stderr[-3000:]
        assert "starting a local Triton" not in job.stderr
        printed = re.findall(r"\+I\[(\d+), ([^,]+), (\w+), (\w+)\]", job.stdout)
        assert [(i, predicted) for i, _, predicted, _ in printed] == [
            ("1", "positive"),
            ("2", "negative"),
            ("3", "neutral"),
        ], job.stdout[-2000:]
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=60)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
    assert serve.returncode == 0, serve.stderr.read() if serve.stderr else ""
