"""deploy/: the Service the seed's Alertmanager posts to reaches the Deployment, which runs `nm run --kubernetes`."""

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"
ALERTMANAGER_URL = "http://notification-manager-svc.kubesphere-monitoring-system.svc:19093/api/v2/alerts"


def manifests() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def test_the_seed_alertmanager_url_reaches_the_deployment():
    docs = manifests()
    service, deployment = docs["Service/notification-manager-svc"], docs["Deployment/notification-manager"]
    host, port = ALERTMANAGER_URL.split("//")[1].split("/")[0].split(":")
    name, namespace = host.split(".")[:2]
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == (name, namespace)
    [service_port] = service["spec"]["ports"]
    assert service_port["port"] == int(port)

    pod = deployment["spec"]["template"]
    assert deployment["metadata"]["namespace"] == namespace
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[service_port["targetPort"]] == int(port)
    assert container["args"][:2] == ["run", "--kubernetes"]
    probes = {kind: (container[kind]["httpGet"]["path"], ports[container[kind]["httpGet"]["port"]])
              for kind in ("livenessProbe", "readinessProbe")}
    assert probes == {"livenessProbe": ("/healthz", 19093), "readinessProbe": ("/readyz", 19093)}


def test_the_deployment_runs_as_the_service_account_the_rbac_binds():
    docs = manifests()
    pod = docs["Deployment/notification-manager"]["spec"]["template"]["spec"]
    account = docs[f"ServiceAccount/{pod['serviceAccountName']}"]
    for binding in (d for d in docs.values() if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                        "namespace": account["metadata"]["namespace"]}]
    assert pod["securityContext"]["runAsNonRoot"] is True
