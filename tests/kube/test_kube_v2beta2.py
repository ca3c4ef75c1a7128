"""v2beta2 from Kubernetes: the fake API server serves the kinds cluster-scoped (from the CRDs `nm crds` writes), the
source lists and watches them, follows the Secrets of every namespace credentials name, and applies live changes."""

import copy
import logging
from pathlib import Path
from typing import Any

import nm_email
import pytest
import yaml
from fake_apiserver import FakeApiServer, rbac_authorizer
from kube_helpers import NS, Recorder, rolebinding, running, wait_until
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiException, CustomObjectsApi

from nmcore.kube import Backoff, KubernetesSource, kinds_for
from nmcore.kube.crds import v2_crd
from nmcore.testing import plugin_host
from nmcore.v2beta2 import SecretKeyRef

pytestmark = pytest.mark.anyio

V2 = "notification.kubesphere.io/v2beta2"
FEDERATED = "kubesphere-monitoring-federated"
FAST = Backoff(initial=0.05, cap=0.3)


def source_for(kubeconfig: Path) -> KubernetesSource:
    return KubernetesSource(kinds_for(plugin_host().channels), NS, kubeconfig=kubeconfig, debounce=0.1,
                            backoff=FAST, watch_timeout=30)


def v2(kind: str, name: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": V2, "kind": kind, "metadata": {"name": name, "labels": labels}, "spec": spec}


def secret(name: str, namespace: str, owner: str = "", **values: str) -> dict[str, Any]:
    labels = {"labels": {"user": owner}} if owner else {}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace, **labels},
            "stringData": values}


def bearer(name: str, namespace: str | None = None) -> dict[str, Any]:
    ref = {"name": name, "key": "token"} | ({"namespace": namespace} if namespace else {})
    return {"bearerToken": {"valueFrom": {"secretKeyRef": ref}}}


ALICE = v2("Receiver", "alice", {"type": "tenant", "user": "alice"},
           webhook={"url": "http://127.0.0.1:9/alice", "httpConfig": bearer("alice-token", FEDERATED)})
OPS = v2("Receiver", "ops", {"type": "global"}, webhook={"url": "http://127.0.0.1:9/ops"})


async def test_the_fake_serves_the_v2beta2_crds_cluster_scoped_and_validates_them(tmp_path: Path) -> None:
    channels = plugin_host().channels
    async with FakeApiServer() as server:
        for kind in ("Config", "Receiver", "NotificationManager", "Router", "Silence"):
            server.create(v2_crd(kind, channels))
        api = await config.new_client_from_config(str(server.kubeconfig(tmp_path / "kc")), persist_config=False)
        async with api:
            custom = CustomObjectsApi(api)
            created = await custom.create_cluster_custom_object("notification.kubesphere.io", "v2beta2", "receivers",
                                                                copy.deepcopy(OPS))
            assert created["metadata"].get("namespace") is None
            listed = await custom.list_cluster_custom_object("notification.kubesphere.io", "v2beta2", "receivers")
            assert [i["metadata"]["name"] for i in listed["items"]] == ["ops"]
            with pytest.raises(ApiException) as namespaced:
                await custom.create_namespaced_custom_object("notification.kubesphere.io", "v2beta2", NS,
                                                             "receivers", copy.deepcopy(OPS))
            assert namespaced.value.status == 404
            broken = v2("Receiver", "broken", {"type": "global"}, webhook={"url": 7})
            with pytest.raises(ApiException) as refused:
                await custom.create_cluster_custom_object("notification.kubesphere.io", "v2beta2", "receivers",
                                                          broken)
            assert refused.value.status == 422


async def test_initial_sync_waits_for_the_secrets_of_every_namespace_credentials_name(
        apiserver: FakeApiServer, kubeconfig: Path) -> None:
    for obj in (ALICE, OPS, secret("alice-token", FEDERATED, "alice", token="a1"), rolebinding("rb", "demo", "alice"),
                secret("unrelated", "kube-system", token="x")):
        apiserver.apply(obj)
    recorder = Recorder()
    async with running(source_for(kubeconfig), recorder) as published:
        await wait_until(lambda: published.snapshots, timeout=10, what="the first publish")
    first = published.snapshots[0]
    assert first.problems == (), [str(p) for p in first.problems]
    alice = first.targets["Receiver/alice:webhook"].receiver
    assert first.secret(alice, SecretKeyRef(namespace=FEDERATED, name="alice-token", key="token")) == "a1"
    assert await published.who_gets("demo", first) == {"Receiver/alice:webhook", "Receiver/ops:webhook"}
    assert await published.who_gets("kube-system", first) == {"Receiver/ops:webhook"}
    secrets_read = {path for method, path, _ in apiserver.requests if method == "GET" and path.endswith("/secrets")}
    assert secrets_read == {f"/api/v1/namespaces/{NS}/secrets", f"/api/v1/namespaces/{FEDERATED}/secrets"}
    receivers_read = {path for method, path, _ in apiserver.requests if path.endswith("/receivers")}
    assert receivers_read == {"/apis/notification.kubesphere.io/v2beta2/receivers"}, "cluster-scoped"


async def test_live_changes_apply_within_seconds(apiserver: FakeApiServer, kubeconfig: Path) -> None:
    for obj in (ALICE, OPS, secret("alice-token", FEDERATED, "alice", token="a1"), rolebinding("rb", "demo", "alice")):
        apiserver.apply(obj)
    recorder = Recorder(plugin_host([nm_email]))
    async with running(source_for(kubeconfig), recorder) as published:
        await wait_until(lambda: published.snapshots, timeout=10, what="the first publish")
        # A block added to a Receiver is a receiver of its own.
        apiserver.patch(V2, "Receiver", None, "ops", {"spec": {"email": {"to": ["ops@example.com"]}}})
        await wait_until(lambda: "Receiver/ops:email" in {r.ref for r in published.latest.receivers}, timeout=5,
                         what="the new block")
        # Another tenant, by a label change (its Secret handed over too: a tenant uses only its own Secrets).
        apiserver.apply(secret("alice-token", FEDERATED, "bob", token="a1"))
        apiserver.patch(V2, "Receiver", None, "alice", {"metadata": {"labels": {"user": "bob"}}})
        await wait_until(lambda: published.latest.targets.get("Receiver/alice:webhook")
                         and published.latest.targets["Receiver/alice:webhook"].tenant == "bob", timeout=5,
                         what="the new owner")
        # A rotated Secret in the other namespace.
        apiserver.apply(secret("alice-token", FEDERATED, "bob", token="a2"))
        await wait_until(lambda: published.latest.secret(
            published.latest.targets["Receiver/alice:webhook"].receiver,
            SecretKeyRef(namespace=FEDERATED, name="alice-token", key="token")) == "a2", timeout=5,
            what="the rotated token")
        # A credential naming a new namespace: its Secrets are followed, and no snapshot says they are missing.
        apiserver.apply(secret("carol-token", "team-carol", "carol", token="c1"))
        before = len(published.snapshots)
        apiserver.apply(v2("Receiver", "carol", {"type": "tenant", "user": "carol"},
                           webhook={"url": "http://127.0.0.1:9/carol", "httpConfig": bearer("carol-token", "team-carol")}))
        await wait_until(lambda: "Receiver/carol:webhook" in published.latest.targets, timeout=5, what="carol")
        assert not any("carol-token" in p.message for s in published.snapshots[before:] for p in s.problems), \
            "no snapshot ever says the Secret is missing: the publish waited for team-carol's Secrets"
        # The NotificationManager changes who owns what, live.
        apiserver.apply(v2("NotificationManager", "nm", {}, receivers={
            "tenantKey": "user", "tenantReceiverSelector": {"matchLabels": {"type": "team"}},
            "globalReceiverSelector": {"matchLabels": {"type": "global"}}}))
        await wait_until(lambda: "Receiver/carol:webhook" in published.latest.skipped, timeout=5,
                         what="carol no longer a tenant's")
        apiserver.delete(V2, "Receiver", None, "carol")
        await wait_until(lambda: "Receiver/carol:webhook" not in {r.ref for r in published.latest.receivers}, timeout=5,
                         what="carol deleted")
        await wait_until(lambda: ("team-carol", "carol-token") not in published.latest.secrets.found, timeout=5,
                         what="team-carol's Secrets no longer followed once no credential names them")


async def test_a_namespace_whose_secrets_cannot_be_read_holds_nothing_back(
        apiserver: FakeApiServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifests = list(yaml.safe_load_all((Path(__file__).parents[2] / "deploy" / "10-rbac.yaml").read_text()))
    apiserver.tokens["sa"] = rbac_authorizer(manifests, NS, "notification-manager")
    locked = v2("Receiver", "locked", {"type": "global"},
                webhook={"url": "http://127.0.0.1:9/x", "httpConfig": bearer("t", "locked-ns")})
    for obj in (ALICE, OPS, locked, secret("alice-token", FEDERATED, "alice", token="a1"),
                secret("t", "locked-ns", token="z")):
        apiserver.apply(obj)
    caplog.set_level(logging.WARNING)
    async with running(source_for(apiserver.kubeconfig(tmp_path / "kc", token="sa"))) as published:
        await wait_until(lambda: published.snapshots, timeout=10, what="a publish despite the forbidden namespace")
    snapshot = published.latest
    assert "Receiver/alice:webhook" in snapshot.targets, "the federated namespace is readable with deploy/'s RBAC"
    missing = "Secret 't' not found in namespace 'locked-ns' @ $.spec.httpConfig.bearerToken"
    assert [p.message for p in snapshot.problems] == [missing, f"will not send: {missing}"]
    assert "Secret in namespace locked-ns: HTTP 403" in caplog.text and "count as missing meanwhile" in caplog.text


async def test_a_problem_of_a_cluster_scoped_object_is_an_event_where_kubernetes_keeps_them(
        apiserver: FakeApiServer, kubeconfig: Path) -> None:
    apiserver.apply(v2("Receiver", "typo", {"type": "global"}, webhok={"url": "http://x"}))
    async with running(source_for(kubeconfig)):
        await wait_until(lambda: apiserver.events("default"), timeout=10, what="an Event")
    [event] = apiserver.events("default")
    assert event["involvedObject"]["kind"] == "Receiver" and event["involvedObject"]["name"] == "typo"
    assert "unknown channel block 'webhok' (did you mean 'webhook'?)" in event["message"]
