"""The kubesphere tenant resolver against a real HTTP server shaped like the KubeSphere tenant sidecar."""

from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web

from nmcore.alerts import AlertGroup
from nmcore.builtins.tenants import KubesphereResolver
from nmcore.errors import TenantLookupError
from nmcore.routing import Router
from nmcore.settings import ManagerSettings
from nmcore.tenancy import TenantOptions
from nmcore.testing import BOUNDED_READ_SLACK, EndlessReply, alert, plugin_host, serving, snapshot_from_yaml

pytestmark = pytest.mark.anyio


class TenantAPI:
    def __init__(self) -> None:
        self.tenants = {"team-a": ["alice", "admin"], "shared": ["alice", "bob"]}
        self.calls: list[str] = []
        self.delay = 0.0
        self.broken = False

    async def handle(self, request: web.Request) -> web.Response:
        namespace = request.query["namespace"]
        self.calls.append(namespace)
        await anyio.sleep(self.delay)
        if self.broken:
            return web.Response(status=500, text="boom")
        if namespace not in self.tenants:
            return web.Response(status=404, text="namespace not found")
        return web.json_response(self.tenants[namespace])


@pytest.fixture
async def tenant_api() -> AsyncIterator[tuple[TenantAPI, str]]:
    api = TenantAPI()
    app = web.Application()
    app.router.add_get("/api/v2/tenant", api.handle)
    async with serving(app) as url:
        yield api, url


SNAPSHOT = snapshot_from_yaml("")


async def test_users_are_fetched_once_for_many_concurrent_lookups_and_cached(tenant_api) -> None:  # type: ignore[no-untyped-def]
    api, url = tenant_api
    api.delay = 0.1
    resolver = KubesphereResolver(TenantOptions(kubesphere_url=url, cache_ttl=60))
    results = []

    async def lookup() -> None:
        results.append(await resolver.users("team-a", SNAPSHOT))

    async with anyio.create_task_group() as tasks:
        for _ in range(20):
            tasks.start_soon(lookup)
    assert results == [frozenset({"alice", "admin"})] * 20
    assert await resolver.users("team-a", SNAPSHOT) == {"alice", "admin"}
    assert api.calls == ["team-a"]


async def test_unknown_namespace_has_no_users(tenant_api) -> None:  # type: ignore[no-untyped-def]
    _, url = tenant_api
    assert await KubesphereResolver(TenantOptions(kubesphere_url=url)).users("ghost", SNAPSHOT) == frozenset()


async def test_the_cache_expires(tenant_api) -> None:  # type: ignore[no-untyped-def]
    api, url = tenant_api
    resolver = KubesphereResolver(TenantOptions(kubesphere_url=url, cache_ttl=0.1))
    await resolver.users("shared", SNAPSHOT)
    api.tenants["shared"] = ["carol"]
    await anyio.sleep(0.15)
    assert await resolver.users("shared", SNAPSHOT) == {"carol"}


@pytest.mark.parametrize(("setup", "message"), [
    ("slow", "did not answer within 0.2s"),
    ("broken", "answered HTTP 500 for namespace 'team-a'"),
])
async def test_failures_raise_and_say_why(tenant_api, setup: str, message: str) -> None:  # type: ignore[no-untyped-def]
    api, url = tenant_api
    api.delay, api.broken = (1.0, False) if setup == "slow" else (0.0, True)
    resolver = KubesphereResolver(TenantOptions(kubesphere_url=url, timeout=0.2))
    with pytest.raises(TenantLookupError, match=message):
        await resolver.users("team-a", SNAPSHOT)


async def test_when_the_tenant_api_is_down_global_receivers_still_get_the_alert() -> None:
    snapshot = snapshot_from_yaml("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: everyone, labels: {type: global}}
spec: {url: http://sink/global}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: alice, labels: {type: tenant, user: alice}}
spec: {url: http://sink/alice}
""")
    host = plugin_host()
    resolver = host.tenant_resolver("kubesphere", TenantOptions(kubesphere_url="http://127.0.0.1:9", timeout=0.5))
    routed = await Router(host, resolver).route(AlertGroup(alerts=(alert(namespace="team-a"),)), snapshot)
    assert [r.notification.receiver for r in routed] == ["WebhookReceiver/kubesphere-monitoring-system/everyone"]


async def test_tenant_lookup_failures_are_counted_in_the_metrics(sink) -> None:  # type: ignore[no-untyped-def]
    from nmcore.manager import Manager

    manifests = f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: everyone, labels: {{type: global}}}}
spec: {{url: "{sink.url('global')}"}}
"""
    options = TenantOptions(kubesphere_url="http://127.0.0.1:9", timeout=0.5)
    async with Manager.from_yaml(manifests, settings=ManagerSettings(tenant_resolver="kubesphere", tenant_options=options)) as manager:
        await manager.submit(AlertGroup(alerts=(alert(namespace="team-a"), alert(namespace="team-b"))))
        await manager.drain(5)
    assert manager.metrics.registry.get_sample_value("nmcore_tenant_lookup_failures_total") == 2
    assert len(sink.bodies("global")[0]["alerts"]) == 2


async def test_a_tenant_api_answering_an_endless_body_is_read_only_as_far_as_the_bound() -> None:
    server = EndlessReply(200)
    async with serving(server.app()) as url:
        with pytest.raises(TenantLookupError, match=r"failed|did not answer a JSON array"):
            await KubesphereResolver(TenantOptions(kubesphere_url=url)).users("team-a", SNAPSHOT)
    assert server.written < BOUNDED_READ_SLACK, f"{server.written:,} bytes of the reply were taken"
