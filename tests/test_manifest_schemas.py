"""``deploy/kubernetes/`` against the schemas Kubernetes and the Flink Kubernetes Operator apply.

Core objects (Deployment, Service, and the FlinkDeployment's pod template) go through
``kubernetes-validate``'s strict schemas of :data:`K8S_VERSION` (an unknown field is an error, as
``kubectl apply``'s default strict field validation makes it); the FlinkDeployment through the
``openAPIV3Schema`` of the operator's CRD stored in ``deploy/kubernetes/schemas/`` (its source in
the README there), closed the way the API server closes a structural schema: a field the schema
does not name is an error, except under ``x-kubernetes-preserve-unknown-fields``. Offline: both
schemas are on disk. Run with ``-s`` to see one line per object.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "deploy" / "kubernetes"
CRD_FILE = MANIFESTS / "schemas" / "flinkdeployments.flink.apache.org-v1.yml"
#: The Kubernetes version of the schemas (the newest kubernetes-validate ships).
K8S_VERSION = "1.37.0"
#: The operator build whose CRD is stored (schemas/README.md).
OPERATOR = "Flink Kubernetes Operator main@6e9caeb (1.16-SNAPSHOT) CRD"


def objects() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(MANIFESTS.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def _closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever the API server would prune or,
    under strict field validation, reject unknown fields."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def operator_validator(kind: str = "FlinkDeployment", version: str = "v1beta1") -> jsonschema.Draft7Validator:
    """The CRD's schema of ``kind``/``version`` as a validator (parsed once: the file is 0.5 MB)."""
    return jsonschema.Draft7Validator(operator_schema(kind, version))


def operator_schema(kind: str = "FlinkDeployment", version: str = "v1beta1") -> dict[str, Any]:
    crd = yaml.load(CRD_FILE.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert crd["spec"]["names"]["kind"] == kind
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = _closed(served["schema"]["openAPIV3Schema"])
    # The API server checks apiVersion/kind/metadata itself (ObjectMeta); the CRD leaves them out.
    schema["properties"].update(apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"type": "object"})
    return schema


def operator_errors(doc: dict[str, Any]) -> list[str]:
    """Every violation of the CRD schema, as ``path: message``."""
    validator = operator_validator()
    return [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]


def kubernetes_errors(doc: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path) or '<root>'}: {exc.message}"]
    return []


def pod_template_as_object(flink: dict[str, Any]) -> dict[str, Any]:
    """The FlinkDeployment's podTemplate as the core ``PodTemplate`` it is (the operator merges it
    into the pods it makes), for Kubernetes' own schema of pods."""
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": f"{flink['metadata']['name']}-pod-template"},
        "template": flink["spec"]["podTemplate"],
    }


def validate(doc: dict[str, Any]) -> tuple[str, list[str]]:
    """What ``doc`` was checked against, and the errors found."""
    if doc["apiVersion"].startswith("flink.apache.org/"):
        errors = operator_errors(doc) + kubernetes_errors(pod_template_as_object(doc))
        return f"{OPERATOR} + podTemplate against Kubernetes {K8S_VERSION}", errors
    return f"Kubernetes {K8S_VERSION} (strict)", kubernetes_errors(doc)


def test_every_manifest_is_valid_against_its_schema(capsys: pytest.CaptureFixture[str]) -> None:
    docs = objects()
    assert {d["kind"] for d in docs} >= {"FlinkDeployment", "Deployment", "Service"}
    lines, failures = [], []
    for doc in docs:
        against, errors = validate(doc)
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        lines.append(f"{name}: {'valid' if not errors else 'INVALID'} against {against}")
        failures += [f"{name}: {e}" for e in errors]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert not failures, "\n".join(failures)


def _mutated(kind: str, edit: Any) -> dict[str, Any]:
    (doc,) = [d for d in objects() if d["kind"] == kind]
    doc = copy.deepcopy(doc)
    edit(doc)
    return doc


def test_a_misspelt_field_is_named_by_the_operator_schema() -> None:
    def typo(doc: dict[str, Any]) -> None:
        doc["spec"]["taskManager"]["resource"]["memroy"] = doc["spec"]["taskManager"]["resource"].pop("memory")

    errors = operator_errors(_mutated("FlinkDeployment", typo))
    assert len(errors) == 1 and errors[0].startswith("spec.taskManager.resource:"), errors
    assert "'memroy' was unexpected" in errors[0]


def test_a_wrong_value_is_named_by_the_operator_schema() -> None:
    def old(doc: dict[str, Any]) -> None:
        doc["spec"]["flinkVersion"] = "v2_9"

    (error,) = operator_errors(_mutated("FlinkDeployment", old))
    assert error.startswith("spec.flinkVersion: 'v2_9' is not one of"), error


def test_a_misspelt_field_is_named_by_the_kubernetes_schema() -> None:
    def typo(doc: dict[str, Any]) -> None:
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        container["readinessProbe"]["httpGet"]["paht"] = container["readinessProbe"]["httpGet"].pop("path")

    (error,) = kubernetes_errors(_mutated("Deployment", typo))
    assert "spec.template.spec.containers.0.readinessProbe.httpGet" in error and "'paht'" in error, error

    def pod_typo(doc: dict[str, Any]) -> None:
        doc["spec"]["podTemplate"]["spec"]["volumes"][0]["secret"]["secretNmae"] = "x"

    (error,) = kubernetes_errors(pod_template_as_object(_mutated("FlinkDeployment", pod_typo)))
    assert "template.spec.volumes.0.secret" in error and "'secretNmae'" in error, error


def test_operator_expectations_are_in_the_manifests() -> None:
    """Scrape annotations on the reporter's port, requests and limits, probes, the token Secret."""
    (flink,) = [d for d in objects() if d["kind"] == "FlinkDeployment"]
    conf = flink["spec"]["flinkConfiguration"]
    assert (
        conf["metrics.reporter.prom.factory.class"] == "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
    )
    pod = flink["spec"]["podTemplate"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == conf["metrics.reporter.prom.port"] == "9249"
    (main,) = pod["spec"]["containers"]
    assert {"name": "metrics", "containerPort": 9249} in main["ports"]
    # The token file that docs/kubernetes.md and the manifest's comment name.
    (mount,) = [m for m in main["volumeMounts"] if m["name"] == "triton-auth"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "triton-auth"]
    assert volume["secret"]["secretName"] == "triton-auth" and mount["readOnly"] is True
    token_file = f"{mount['mountPath']}/token"
    assert token_file == "/var/run/secrets/triton/token"
    assert f"'auth-token-file' = '{token_file}'" in (ROOT / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    for role in ("jobmanager", "taskmanager"):
        assert conf[f"kubernetes.{role}.cpu.limit-factor"] == conf[f"kubernetes.{role}.memory.limit-factor"] == "1.0"
    (triton,) = [d for d in objects() if d["kind"] == "Deployment"]
    for container in (
        triton["spec"]["template"]["spec"]["containers"] + triton["spec"]["template"]["spec"]["initContainers"]
    ):
        assert set(container["resources"]) == {"requests", "limits"}, container["name"]
    (server,) = triton["spec"]["template"]["spec"]["containers"]
    assert server["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
