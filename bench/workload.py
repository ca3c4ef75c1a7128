"""The alerts and configurations every scenario uses, so nmcore and its peers get exactly the same input.

Tenant i is user `u{i}`, owns namespace `ns{i}` (a RoleBinding) and one webhook receiver posting to `/t/u{i}`;
the global receiver posts to `/global`. Alert n is in namespace `ns{n % namespaces}` and carries a unique
`alert_id` label, so the sink can count each alert-delivery once and see a misrouted or duplicated one.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

STARTS_AT = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
GLOBAL_PATH = "/global"
SENT = "bench_sent"
"""Annotation holding the load generator's time.monotonic() when it POSTed the alert (latency runs)."""


def user(i: int) -> str:
    return f"u{i}"


def namespace(i: int) -> str:
    return f"ns{i}"


def tenant_path(i: int) -> str:
    return f"/t/{user(i)}"


def entitled(path: str, alert_namespace: str) -> bool:
    """Whether a receiver path may get an alert of this namespace (the sink's isolation check)."""
    if path.startswith("/t/u"):
        return alert_namespace == "ns" + path[4:]
    return True


def labels(n: int, namespaces: int) -> dict[str, str]:
    return {"alertname": "KubePodCrashLooping", "namespace": namespace(n % namespaces), "pod": f"web-{n}",
            "severity": "warning", "alert_id": str(n)}


def annotations(n: int, sent: float | None = None) -> dict[str, str]:
    found = {"summary": f"Pod web-{n} is crash looping", "runbook_url": "https://runbooks.example.com/crashloop"}
    if sent is not None:
        found[SENT] = f"{sent:.6f}"
    return found


def prometheus_alert(n: int, namespaces: int, sent: float | None = None) -> dict[str, Any]:
    """What Prometheus POSTs to Alertmanager's /api/v2/alerts."""
    return {"labels": labels(n, namespaces), "annotations": annotations(n, sent), "startsAt": STARTS_AT,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up"}


def webhook_body(ns: list[int], namespaces: int, sent: float | None = None) -> dict[str, Any]:
    """What Alertmanager POSTs to nmcore: its webhook body (version 4) holding alerts `ns`."""
    alerts: list[dict[str, Any]] = []
    for n in ns:
        alert_labels = labels(n, namespaces)
        alerts.append({
            "status": "firing", "labels": alert_labels, "annotations": annotations(n, sent),
            "startsAt": STARTS_AT, "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": hashlib.sha256(json.dumps(sorted(alert_labels.items())).encode()).hexdigest()[:16],
        })
    first: dict[str, str] = alerts[0]["labels"]
    common = {k: v for k, v in first.items() if all(a["labels"].get(k) == v for a in alerts)}
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "nmcore",
            "groupLabels": {}, "commonLabels": common, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": alerts}


def _dump(path: Path, documents: list[dict]) -> None:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": "kubesphere-monitoring-system", "labels": labels}


def write_tenants(folder: Path, tenants: int, sink_url: str) -> None:
    """S1/S5: `tenants` users, each with a RoleBinding on its namespace and a webhook receiver, plus a global one."""
    folder.mkdir(parents=True, exist_ok=True)
    subject = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io"}
    _dump(folder / "rolebindings.yaml", [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": f"{user(i)}-admin", "namespace": namespace(i)},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
         "subjects": [{**subject, "name": user(i)}]}
        for i in range(tenants)
    ])
    receiver = {"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "WebhookReceiver"}
    _dump(folder / "receivers.yaml", [
        {**receiver, "metadata": _meta("global-webhook", type="global"), "spec": {"url": sink_url + GLOBAL_PATH}},
        *({**receiver, "metadata": _meta(f"{user(i)}-webhook", type="tenant", user=user(i)),
           "spec": {"url": sink_url + tenant_path(i)}} for i in range(tenants)),
    ])


def write_batching(folder: Path, group_labels: list[str], wait: str, size: int) -> None:
    """A NotificationManager regrouping by `group_labels` and holding each batch up to `wait` (batchMaxWait) or
    until `size` alerts wait (batchMaxSize)."""
    _dump(folder / "notification-manager.yaml", [
        {"apiVersion": "notification.kubesphere.io/v2beta2", "kind": "NotificationManager",
         "metadata": {"name": "notification-manager"},
         "spec": {"groupLabels": group_labels, "batchMaxWait": wait, "batchMaxSize": size}}])


def write_config_scale(folder: Path, tenants: int, sink_url: str, files: int = 10) -> None:
    """S4: per tenant a Secret, a WebhookConfig using it for a bearer token, and a receiver selecting that config."""
    folder.mkdir(parents=True, exist_ok=True)
    api = "notification.kubesphere.io/v1alpha1"
    per_file = -(-tenants // files)
    for part in range(files):
        documents: list[dict] = []
        for i in range(part * per_file, min(tenants, (part + 1) * per_file)):
            documents += [
                {"apiVersion": "v1", "kind": "Secret", "metadata": _meta(f"{user(i)}-token", app="nm", user=user(i)),
                 "stringData": {"token": f"token-of-{user(i)}"}},
                {"apiVersion": api, "kind": "WebhookConfig", "metadata": _meta(f"{user(i)}-config", type="tenant",
                                                                                user=user(i)),
                 "spec": {"url": sink_url + tenant_path(i), "httpConfig": {"bearerToken": {"valueFrom": {
                     "secretKeyRef": {"name": f"{user(i)}-token", "key": "token"}}}}}},
                {"apiVersion": api, "kind": "WebhookReceiver",
                 "metadata": _meta(f"{user(i)}-webhook", type="tenant", user=user(i)),
                 "spec": {"webhookConfigSelector": {"matchLabels": {"type": "tenant", "user": user(i)}}}},
            ]
        if documents:
            _dump(folder / f"tenants-{part:02d}.yaml", documents)


def alertmanager_config(sink_url: str, group_wait: str) -> dict[str, Any]:
    """The peer's configuration delivering the same alert-deliveries as nmcore: one group per alert
    (`group_by: ['...']`), every alert to a tenant receiver and (continue: true) to a global one."""
    webhook = {"send_resolved": True, "max_alerts": 0}
    return {
        "route": {
            "receiver": "unrouted", "group_by": ["..."], "group_wait": group_wait,
            "group_interval": "5m", "repeat_interval": "24h",
            "routes": [
                {"receiver": "tenant", "matchers": ['namespace=~".+"'], "continue": True},
                {"receiver": "global"},
            ],
        },
        "receivers": [
            {"name": "unrouted"},
            {"name": "tenant", "webhook_configs": [{**webhook, "url": sink_url + "/tenant"}]},
            {"name": "global", "webhook_configs": [{**webhook, "url": sink_url + GLOBAL_PATH}]},
        ],
    }
