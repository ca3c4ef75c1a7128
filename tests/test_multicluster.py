"""Several clusters, one manager: the `cluster` label reaches the KubeSphere tenant API (`?cluster=&namespace=`, as
the original's sidecar takes it), and the same namespace in two clusters is two places with their own users."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from nmcore.alerts import AlertGroup
from nmcore.builtins.tenants import KubesphereResolver, RbacResolver
from nmcore.manager import Manager
from nmcore.routing import Router
from nmcore.settings import ManagerSettings
from nmcore.tenancy import TenantOptions
from nmcore.testing import alert, plugin_host, serving, snapshot_from_yaml
from tests.conftest import WebhookSink
from tests.v2support import GLOBAL, rolebinding, tenant, v2

pytestmark = pytest.mark.anyio

SIDECAR = {("host", "demo"): ["alice"], ("member-1", "demo"): ["bob"], ("", "demo"): ["carol"]}


@pytest.fixture
async def sidecar() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    asked: list[dict[str, str]] = []

    async def tenants(request: web.Request) -> web.Response:
        asked.append(dict(request.query))
        found = SIDECAR.get((request.query.get("cluster", ""), request.query["namespace"]))
        return web.json_response(found) if found is not None else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/api/v2/tenant", tenants)
    async with serving(app) as url:
        yield url, asked


RECEIVERS = "".join(v2("Receiver", user, tenant(user), webhook={"url": f"http://sink/{user}"})
                    for user in ("alice", "bob", "carol"))


async def test_alerts_of_two_clusters_with_the_same_namespace_go_to_each_clusters_tenants(sidecar) -> None:  # type: ignore[no-untyped-def]
    url, asked = sidecar
    snapshot = snapshot_from_yaml(RECEIVERS)
    router = Router(plugin_host(), KubesphereResolver(TenantOptions(kubesphere_url=url)))
    group = AlertGroup(alerts=(alert(namespace="demo", cluster="host", alertname="OnHost"),
                               alert(namespace="demo", cluster="member-1", alertname="OnMember"),
                               alert(namespace="demo", alertname="NoCluster")))
    routed = {r.notification.receiver: [a.labels["alertname"] for a in r.notification.alerts]
              for r in await router.route(group, snapshot)}
    assert routed == {"Receiver/alice:webhook": ["OnHost"], "Receiver/bob:webhook": ["OnMember"],
                      "Receiver/carol:webhook": ["NoCluster"]}
    assert sorted(asked, key=str) == sorted([{"cluster": "host", "namespace": "demo"},
                                             {"cluster": "member-1", "namespace": "demo"},
                                             {"namespace": "demo"}], key=str)


async def test_answers_are_cached_per_cluster_and_namespace(sidecar) -> None:  # type: ignore[no-untyped-def]
    url, asked = sidecar
    resolver = KubesphereResolver(TenantOptions(kubesphere_url=url, cache_ttl=60))
    snapshot = snapshot_from_yaml("")
    for _ in range(3):
        assert await resolver.users("demo", snapshot, cluster="host") == {"alice"}
        assert await resolver.users("demo", snapshot, cluster="member-1") == {"bob"}
    assert len(asked) == 2


async def test_this_clusters_rolebindings_say_nothing_about_another_clusters_namespace() -> None:
    snapshot = snapshot_from_yaml(RECEIVERS + rolebinding("demo", "alice")
                                  + v2("NotificationManager", "nm", receivers={"options": {"global": {"cluster": "host"}}}))
    resolver = RbacResolver()
    assert await resolver.users("demo", snapshot, cluster="host") == {"alice"}
    assert await resolver.users("demo", snapshot) == {"alice"}, "no cluster label: this cluster's"
    assert await resolver.users("demo", snapshot, cluster="member-1") == frozenset()


async def test_the_notification_managers_cluster_labels_alerts_without_one(sink: WebhookSink) -> None:
    manifests = (v2("NotificationManager", "nm", receivers={"options": {"global": {"cluster": "host"}}})
                 + v2("Receiver", "ops", GLOBAL, webhook={"url": sink.url("ops")}))
    async with Manager.from_yaml(manifests) as manager:
        await manager.wait_ready(5)
        await manager.submit(AlertGroup(alerts=(alert(alertname="A"), alert(alertname="B", cluster="member-1"))))
        await manager.drain(10)
    assert sorted(a["labels"]["cluster"] for a in sink.alerts_by_path()["/ops"]) == ["host", "member-1"]


async def test_cluster_flag_wins_over_the_notification_manager(sink: WebhookSink) -> None:
    manifests = (v2("NotificationManager", "nm", receivers={"options": {"global": {"cluster": "host"}}})
                 + v2("Receiver", "ops", GLOBAL, webhook={"url": sink.url("ops")}))
    async with Manager.from_yaml(manifests, settings=ManagerSettings(cluster="edge")) as manager:
        await manager.wait_ready(5)
        await manager.submit(AlertGroup(alerts=(alert(alertname="A"),)))
        await manager.drain(10)
    assert [a["labels"]["cluster"] for a in sink.alerts_by_path()["/ops"]] == ["edge"]
