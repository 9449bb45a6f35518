"""``deploy/kubernetes/``: the manifests agree with the code they deploy.

No Kubernetes here: the YAML is parsed and each name, port, path, image and version it holds is
checked against what it refers to (the entry module and its parser, the scripts under ``sql/``,
the models under ``model_repository/``, the installed apache-flink, the project version, the
running Triton's health endpoints). Their schemas (Kubernetes' and the operator's CRD) are checked
by ``tests/test_manifest_schemas.py``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import re
import tomllib
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyflink
import pytest
import yaml

import pyflink_triton
from pyflink_triton.cli import script_variables
from pyflink_triton.config import TritonOptions
from pyflink_triton.job import parser

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
#: Where the Dockerfile puts the repository's sql/ and model_repository/ in the image.
IMAGE_ROOT = "/opt/pyflink-triton"
#: PythonDriver's own options that take a value (the rest goes to the module).
DRIVER_OPTIONS = {"-pyclientexec", "-pyexec", "-pyfs", "-pyarch", "-pyreq", "-pym", "-py"}


def documents() -> dict[str, dict[str, Any]]:
    """Every document of the manifests, by ``kind/name``."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


DOCS = documents()
FLINK = DOCS["FlinkDeployment/pyflink-triton"]
TRITON = DOCS["Deployment/triton"]
SERVICE = DOCS["Service/triton"]


def triton_container() -> dict[str, Any]:
    (container,) = [c for c in TRITON["spec"]["template"]["spec"]["containers"] if c["name"] == "triton"]
    return container


def flink_env() -> dict[str, str]:
    containers = FLINK["spec"]["podTemplate"]["spec"]["containers"]
    (main,) = [c for c in containers if c["name"] == "flink-main-container"]  # the operator's name
    return {e["name"]: e["value"] for e in main["env"]}


def driver_args() -> tuple[dict[str, str], list[str]]:
    """The job's args split into PythonDriver options and the module's own arguments."""
    args, options = list(FLINK["spec"]["job"]["args"]), {}
    while args and args[0] in DRIVER_OPTIONS:
        options[args[0]] = args[1]
        args = args[2:]
    return options, args


def image_path(path: str) -> Path:
    """The repository file an image path under :data:`IMAGE_ROOT` comes from."""
    assert path.startswith(IMAGE_ROOT + "/"), path
    return ROOT / path[len(IMAGE_ROOT) + 1 :]


def test_the_job_runs_the_entry_module_with_arguments_its_parser_takes() -> None:
    job = FLINK["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    options, module_args = driver_args()
    module = importlib.import_module(options["-pym"])
    assert module.__name__ == "pyflink_triton.job" and callable(module.main)
    parsed = parser().parse_args(module_args)
    script = image_path(parsed.script)
    assert script.is_file() and script.parent == ROOT / "sql", script
    config = FLINK["spec"]["flinkConfiguration"]
    assert options["-pyclientexec"] == config["python.client.executable"] == config["python.executable"]


def test_the_script_has_its_variables_and_its_models() -> None:
    script = image_path(parser().parse_args(driver_args()[1]).script).read_text(encoding="utf-8")
    needed = {m.group(1) for m in re.finditer(r"\$\{([A-Za-z_]\w*)\}", script)}  # no ':-default'
    assert needed and needed <= set(flink_env()), (needed, flink_env())
    assert script_variables(script) >= needed
    models = re.findall(r"'model-name'\s*=\s*'([^']+)'", script)
    assert models, "the script names no model"
    for model in models:
        assert (ROOT / "model_repository" / model / "config.pbtxt").is_file(), model
    # The models the Triton pod serves are copied from the image's copy of model_repository/.
    (init,) = TRITON["spec"]["template"]["spec"]["initContainers"]
    assert init["image"] == FLINK["spec"]["image"] and init["command"][-2] == f"{IMAGE_ROOT}/model_repository/."


def test_triton_endpoint_names_the_service_and_its_http_port() -> None:
    endpoint = flink_env()["TRITON_ENDPOINT"]
    TritonOptions.from_map({"endpoint": endpoint, "model-name": "m"})  # the code's own parser accepts it
    url = urlsplit(endpoint)
    ports = {p["name"]: p["port"] for p in SERVICE["spec"]["ports"]}
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "http",
        SERVICE["metadata"]["name"],
        ports["http"],
        "/v2/models",
    )


def test_the_service_selects_the_triton_pods_and_their_ports() -> None:
    labels = TRITON["spec"]["template"]["metadata"]["labels"]
    assert SERVICE["spec"]["selector"].items() <= labels.items()
    assert TRITON["spec"]["selector"]["matchLabels"].items() <= labels.items()
    container = triton_container()
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    for port in SERVICE["spec"]["ports"]:
        target = port["targetPort"]
        assert target in named or target in named.values(), port
        assert named.get(target, target) == port["port"], port  # same number inside and out
    # Triton listens where the container ports say.
    flags = dict(a.removeprefix("--").split("=", 1) for a in container["args"] if a.startswith("--"))
    assert {f"{k}-port": str(v) for k, v in named.items()} == {k: v for k, v in flags.items() if k.endswith("-port")}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert flags["model-repository"] in mounts


def test_probes_hit_endpoints_the_running_triton_answers(triton_url: str) -> None:
    container = triton_container()
    named = {p["name"] for p in container["ports"]}
    probes = [container["readinessProbe"], container["livenessProbe"]]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    for probe in probes:
        get = probe["httpGet"]
        assert get["port"] in named, get
        with urllib.request.urlopen(triton_url + get["path"], timeout=5) as resp:
            assert resp.status == 200, get


def test_versions_agree_with_the_project_flink_and_triton(triton_url: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert FLINK["spec"]["image"] == f"pyflink-triton:{project}" and pyflink_triton.__version__ == project
    flink = importlib.metadata.version("apache-flink")
    major, minor = flink.split(".")[:2]
    assert FLINK["spec"]["flinkVersion"] == f"v{major}_{minor}"
    jar = f"flink-python-{flink}.jar"
    assert FLINK["spec"]["job"]["jarURI"] == f"local:///opt/flink/opt/{jar}"
    assert (Path(pyflink.__file__).parent / "opt" / jar).is_file()  # the jar's name as Flink ships it
    # NGC's tritonserver YY.MM is Triton 2.N with N counted in months from 24.01 = 2.42.
    image, tag = triton_container()["image"].rsplit(":", 1)
    assert image == "nvcr.io/nvidia/tritonserver" and tag.endswith("-py3")
    year, month = (int(x) for x in tag.removesuffix("-py3").split("."))
    with urllib.request.urlopen(triton_url + "/v2", timeout=5) as resp:
        served = json.load(resp)["version"]  # the tests' Triton, from the wheel
    assert served.startswith(f"2.{(year - 24) * 12 + month - 1 + 42}."), (tag, served)


def test_the_dockerfile_provides_what_the_manifests_use() -> None:
    dockerfile = ROOT / "Dockerfile"
    if not dockerfile.is_file():
        pytest.skip("no Dockerfile in this checkout")
    text = dockerfile.read_text(encoding="utf-8")
    venv = str(Path(FLINK["spec"]["flinkConfiguration"]["python.executable"]).parent.parent)
    assert f"venv {venv}" in text, venv
    assert f"WORKDIR {IMAGE_ROOT}" in text and "COPY sql/" in text and "COPY model_repository/" in text
