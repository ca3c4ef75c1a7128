"""Shared pieces of the Kubernetes tests: the seed's setup with webhook kinds, a publish recorder, waiting."""

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import yaml
from fake_apiserver import FakeApiServer, ResourceType

from nmcore.alerts import AlertGroup
from nmcore.kube.kinds import V2_KINDS, channel_kinds
from nmcore.plugins import PluginHost
from nmcore.routing import Router
from nmcore.snapshot import Document, Problem, Snapshot, build_snapshot
from nmcore.sources import ConfigSource
from nmcore.testing import alert, plugin_host

NS = "kubesphere-monitoring-system"

# The seed document's tenant and global setup (Secret, tenant Config + Receiver with a selector, default Config,
# global Receiver), written with the built-in webhook kinds, plus the RoleBinding that gives test-user "demo".
SEED = f"""
apiVersion: v1
kind: Secret
metadata: {{name: test-user-webhook-secret, namespace: {NS}, labels: {{app: notification-manager, user: test-user}}}}
data: {{token: dGVzdA==}}
type: Opaque
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata:
  name: test-user-config
  namespace: {NS}
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  url: http://127.0.0.1:9/test-user
  httpConfig:
    bearerToken: {{valueFrom: {{secretKeyRef: {{name: test-user-webhook-secret, key: token}}}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata:
  name: test-user-receiver
  namespace: {NS}
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  webhookConfigSelector:
    matchLabels: {{type: tenant, user: test-user}}
---
apiVersion: v1
kind: Secret
metadata: {{name: default-webhook-secret, namespace: {NS}, labels: {{app: notification-manager}}}}
stringData: {{token: default-token}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata:
  name: default-webhook-config
  namespace: {NS}
  labels: {{app: notification-manager, type: default}}
spec:
  url: http://127.0.0.1:9/default
  httpConfig:
    bearerToken: {{valueFrom: {{secretKeyRef: {{name: default-webhook-secret, key: token}}}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata:
  name: global-webhook-receiver
  namespace: {NS}
  labels: {{app: notification-manager, type: global}}
spec: {{}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: test-user-admin, namespace: demo}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}
subjects: [{{kind: User, name: test-user, apiGroup: rbac.authorization.k8s.io}}]
"""

TENANT_RECEIVER = f"WebhookReceiver/{NS}/test-user-receiver"
GLOBAL_RECEIVER = f"WebhookReceiver/{NS}/global-webhook-receiver"


def seed_objects() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(SEED) if d]


def register_channel_kinds(server: FakeApiServer, host: PluginHost | None = None) -> None:
    """Serve the channels' kinds and the v2beta2 kinds (cluster-scoped) as if their CRDs (without validation)
    were installed."""
    for kind in channel_kinds((host or plugin_host()).channels):
        server.add_resource(ResourceType(kind.group, kind.version, kind.plural, kind.kind))
    for kind in V2_KINDS:
        server.add_resource(ResourceType(kind.group, kind.version, kind.plural, kind.kind, namespaced=False))


def receiver(name: str, user: str | None, **spec: Any) -> dict[str, Any]:
    labels = {"app": "notification-manager", "type": "tenant", "user": user} if user else {"type": "global"}
    return {"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "WebhookReceiver",
            "metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": spec}


def rolebinding(name: str, namespace: str, *users: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in users]}


class Recorder:
    """A manager's `publish`, keeping every snapshot built."""

    def __init__(self, host: PluginHost | None = None):
        self.host = host or plugin_host()
        self.snapshots: list[Snapshot] = []
        self.documents: list[Sequence[Document]] = []

    def publish(self, documents: Sequence[Document], problems: Sequence[Problem]) -> Snapshot:
        snapshot = build_snapshot(documents, self.host.channels, problems=problems)
        self.documents.append(list(documents))
        self.snapshots.append(snapshot)
        return snapshot

    @property
    def latest(self) -> Snapshot:
        assert self.snapshots, "nothing published yet"
        return self.snapshots[-1]

    async def who_gets(self, namespace: str, snapshot: Snapshot | None = None) -> set[str]:
        """The receivers an alert from `namespace` is routed to, with the rbac tenant resolver."""
        router = Router(self.host, self.host.tenant_resolver("rbac"))
        routed = await router.route(AlertGroup(alerts=(alert(namespace=namespace),)), snapshot or self.latest)
        return {r.target.receiver.ref for r in routed}


@asynccontextmanager
async def running(source: ConfigSource, recorder: Recorder | None = None) -> AsyncIterator[Recorder]:
    recorder = recorder or Recorder()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(source.run, recorder.publish)
        yield recorder
        tasks.cancel_scope.cancel()


async def wait_until(condition: Callable[[], Any], timeout: float = 2.0, what: str = "") -> None:
    """Poll `condition` (sync or async) until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or condition}")
        await anyio.sleep(0.02)
