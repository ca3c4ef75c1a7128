"""A Manager on KubernetesSource follows the cluster live: who gets an alert changes as objects change."""

from pathlib import Path
from typing import Any

import pytest
from fake_apiserver import FakeApiServer
from kube_helpers import NS, receiver, rolebinding, seed_objects, wait_until

from nmcore.kube import Backoff, KubernetesSource, kinds_for
from nmcore.manager import Manager
from nmcore.testing import plugin_host

pytestmark = pytest.mark.anyio


def payload(alertname: str, namespace: str) -> dict[str, Any]:
    labels = {"alertname": alertname, "namespace": namespace, "severity": "warning"}
    return {"receiver": "prometheus", "status": "firing", "version": "4", "groupKey": f"{{}}:{alertname}",
            "groupLabels": {"alertname": alertname}, "commonLabels": labels, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"{alertname} fired"},
                        "startsAt": "2026-11-24T05:53:21.974712798Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": f"fp-{alertname}"}]}


async def deliveries(manager: Manager, sink: Any, alertname: str, namespace: str) -> dict[str, str]:
    """Submit one alert and wait for it; path → Authorization header of what each sink path received."""
    before = len(sink.received)
    await manager.submit_payload(payload(alertname, namespace))
    await manager.drain(timeout=5)
    return {r["path"]: r["headers"].get("Authorization", "") for r in sink.received[before:]}


async def test_a_manager_follows_the_cluster_live(apiserver: FakeApiServer, kubeconfig: Path, sink: Any):
    for obj in seed_objects():
        if obj["kind"] == "WebhookConfig":
            obj["spec"]["url"] = sink.url(obj["metadata"]["name"])
        apiserver.apply(obj)
    host = plugin_host()
    source = KubernetesSource(kinds_for(host.channels), NS, kubeconfig=kubeconfig, debounce=0.05,
                              backoff=Backoff(initial=0.05, cap=0.3))
    async with Manager(source, host=host) as manager:
        await manager.wait_ready(timeout=5)
        assert manager.snapshot.problems == ()
        assert await deliveries(manager, sink, "DiskFull", "demo") == {
            "/test-user-config": "Bearer test", "/default-webhook-config": "Bearer default-token"}

        apiserver.apply(rolebinding("alice-view", "team-a", "alice"))
        apiserver.apply(receiver("alice", "alice", url=sink.url("alice")))
        await wait_until(lambda: f"WebhookReceiver/{NS}/alice" in manager.snapshot.targets
                         and manager.snapshot.rolebinding_users("team-a"), what="alice's receiver and RoleBinding")
        assert set(await deliveries(manager, sink, "PodCrash", "team-a")) == {"/alice", "/default-webhook-config"}

        apiserver.apply({"apiVersion": "v1", "kind": "Secret",
                         "metadata": {"name": "test-user-webhook-secret", "namespace": NS,
                                      "labels": {"user": "test-user"}},
                         "stringData": {"token": "rotated"}})
        apiserver.delete("rbac.authorization.k8s.io/v1", "RoleBinding", "demo", "test-user-admin")
        apiserver.apply(rolebinding("test-user-team-a", "team-a", "test-user"))
        await wait_until(lambda: manager.snapshot.rolebinding_users("team-a") == {"alice", "test-user"},
                         what="the RoleBinding changes")
        assert await deliveries(manager, sink, "Latency", "demo") == {"/default-webhook-config": "Bearer default-token"}
        got = await deliveries(manager, sink, "Errors", "team-a")
        assert set(got) == {"/alice", "/test-user-config", "/default-webhook-config"}
        assert got["/test-user-config"] == "Bearer rotated", "the rotated Secret is used without a restart"
        assert all(o.ok for o in manager.outcomes)


async def test_nm_run_kubernetes_serves_the_cluster_configuration(apiserver: FakeApiServer, kubeconfig: Path,
                                                                    sink: Any, tmp_path: Path):
    """The command the Deployment runs: `nm run --kubernetes --kubeconfig FILE`, as a process."""
    import sys

    import anyio
    import httpx

    from tests.support import free_port

    for obj in seed_objects():
        if obj["kind"] == "WebhookConfig":
            obj["spec"]["url"] = sink.url(obj["metadata"]["name"])
        apiserver.apply(obj)
    port = free_port()
    command = [sys.executable, "-m", "nmcore", "run", "--kubernetes", "--kubeconfig", str(kubeconfig),
               "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state")]
    async with await anyio.open_process(command) as process, httpx.AsyncClient() as client:
        try:
            async def ready() -> bool:
                try:
                    return (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            with anyio.fail_after(20):
                while not await ready():
                    await anyio.sleep(0.1)
            reply = await client.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=payload("DiskFull", "demo"))
            assert reply.status_code == 200
            with anyio.fail_after(10):
                while {"/test-user-config", "/default-webhook-config"} - {r["path"] for r in sink.received}:
                    await anyio.sleep(0.05)
        finally:
            process.terminate()
            with anyio.fail_after(10):
                assert await process.wait() == 0
