"""The fake API server behaves as kube-apiserver does where the source depends on it (through kubernetes_asyncio)."""

import json
import time
from pathlib import Path

import aiohttp
import anyio
import pytest
from fake_apiserver import FakeApiServer, parse_label_selector
from kube_helpers import NS, receiver, seed_objects
from kubernetes_asyncio import config, watch
from kubernetes_asyncio.client import ApiClient, ApiException, CoreV1Api, CustomObjectsApi

pytestmark = pytest.mark.anyio

GROUP, VERSION = "notification.kubesphere.io", "v1alpha1"


async def client_for(kubeconfig: Path) -> ApiClient:
    return await config.new_client_from_config(str(kubeconfig), persist_config=False)


async def collect(stream, limit: int = 100) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of each event until the stream ends."""
    seen = []
    async for event in stream:
        meta = event["raw_object"]["metadata"]
        seen.append((event["type"], meta.get("name", ""), meta["resourceVersion"]))
        if len(seen) >= limit:
            break
    return seen


async def test_lists_carry_resource_versions_and_writes_bump_them(apiserver: FakeApiServer, kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    async with await client_for(kubeconfig) as api:
        core, custom = CoreV1Api(api), CustomObjectsApi(api)
        secrets = await core.list_namespaced_secret(NS, _preload_content=False)
        body = json.loads(await secrets.read())
        assert body["metadata"]["resourceVersion"] == str(apiserver.revision)
        assert body["items"] and all("kind" not in i and "apiVersion" not in i for i in body["items"])
        default = next(i for i in body["items"] if i["metadata"]["name"] == "default-webhook-secret")
        assert default["data"] == {"token": "ZGVmYXVsdC10b2tlbg=="} and "stringData" not in default

        receivers = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers")
        assert {i["kind"] for i in receivers["items"]} == {"WebhookReceiver"}

        created = await custom.create_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers",
                                                               receiver("bob", "bob", url="http://x"))
        version = int(created["metadata"]["resourceVersion"])
        assert version == apiserver.revision and created["metadata"]["uid"] and created["metadata"]["generation"] == 1

        same = await custom.replace_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob", created)
        assert same["metadata"]["resourceVersion"] == str(version), "a no-op update keeps the version"

        changed = await custom.patch_namespaced_custom_object(
            GROUP, VERSION, NS, "webhookreceivers", "bob", {"spec": {"url": "http://y"}},
            _content_type="application/merge-patch+json")
        assert int(changed["metadata"]["resourceVersion"]) > version and changed["metadata"]["generation"] == 2

        ops = [{"op": "test", "path": "/spec/url", "value": "http://y"}, {"op": "add", "path": "/spec/x", "value": 1}]
        patched = await custom.patch_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob", ops)
        assert patched["spec"] == {"url": "http://y", "x": 1}
        with pytest.raises(ApiException) as failed_test:
            await custom.patch_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob",
                                                        [{"op": "test", "path": "/spec/url", "value": "http://z"}])
        assert failed_test.value.status == 422

        with pytest.raises(ApiException) as conflict:
            await custom.replace_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob", created)
        assert conflict.value.status == 409
        with pytest.raises(ApiException) as exists:
            await custom.create_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", receiver("bob", "b"))
        assert exists.value.status == 409
        with pytest.raises(ApiException) as smp:  # CRs take no strategic merge patch; the client's default for dicts
            await custom.patch_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob", {"spec": {}})
        assert smp.value.status == 400

        await custom.delete_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob")
        with pytest.raises(ApiException) as missing:
            await custom.get_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", "bob")
        assert missing.value.status == 404
        with pytest.raises(ApiException) as unknown:
            await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "emailthings")
        assert unknown.value.status == 404


async def test_watch_resumes_from_a_version_and_ends_at_timeout(apiserver: FakeApiServer, kubeconfig: Path):
    apiserver.apply(receiver("a", "alice"))
    listed = str(apiserver.revision)
    apiserver.apply(receiver("b", "bob"))
    apiserver.delete(f"{GROUP}/{VERSION}", "WebhookReceiver", NS, "a")
    async with await client_for(kubeconfig) as api, watch.Watch() as w:
        custom = CustomObjectsApi(api)
        started = time.monotonic()
        events = await collect(w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                                        resource_version=listed, timeout_seconds=1))
        assert 0.9 < time.monotonic() - started < 3
        assert [(t, n) for t, n, _ in events] == [("ADDED", "b"), ("DELETED", "a")]
        assert events[-1][2] == str(apiserver.revision)

        events = await collect(w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                                        timeout_seconds=1))
        assert [(t, n) for t, n, _ in events] == [("ADDED", "b")], "without a version: the current state as ADDED"


async def test_watch_on_a_compacted_version_answers_410(apiserver: FakeApiServer, kubeconfig: Path):
    apiserver.apply(receiver("a", "alice"))
    old = str(apiserver.revision)
    apiserver.apply(receiver("b", "bob"))
    apiserver.compact()
    async with await client_for(kubeconfig) as api, watch.Watch() as w:
        custom = CustomObjectsApi(api)
        with pytest.raises(ApiException) as gone:
            await collect(w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                                   resource_version=old, timeout_seconds=1))
        assert gone.value.status == 410 and "too old resource version" in gone.value.reason


async def test_history_is_bounded(tmp_path: Path):
    async with FakeApiServer(history=3) as server:
        first = str(server.revision)
        for n in range(5):
            server.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{n}", "namespace": "x"}})
        async with await client_for(server.kubeconfig(tmp_path / "kc")) as api, watch.Watch() as w:
            with pytest.raises(ApiException) as gone:
                await collect(w.stream(CoreV1Api(api).list_namespaced_config_map, "x", resource_version=first,
                                       timeout_seconds=1))
            assert gone.value.status == 410
            recent = str(server.revision - 2)
            events = await collect(w.stream(CoreV1Api(api).list_namespaced_config_map, "x", resource_version=recent,
                                            timeout_seconds=1))
            assert [n for _, n, _ in events] == ["c3", "c4"]


async def test_label_selectors_filter_lists_and_watches(apiserver: FakeApiServer, kubeconfig: Path):
    apiserver.apply(receiver("t1", "alice"))
    apiserver.apply(receiver("g1", None))
    start = str(apiserver.revision)
    apiserver.patch(f"{GROUP}/{VERSION}", "WebhookReceiver", NS, "g1", {"metadata": {"labels": {"type": "tenant"}}})
    apiserver.patch(f"{GROUP}/{VERSION}", "WebhookReceiver", NS, "t1", {"metadata": {"labels": {"type": "global"}}})
    async with await client_for(kubeconfig) as api, watch.Watch() as w:
        custom = CustomObjectsApi(api)
        listed = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers",
                                                            label_selector="type in (tenant),user")
        assert [i["metadata"]["name"] for i in listed["items"]] == []
        listed = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers",
                                                            label_selector="type=global,!user")
        assert [i["metadata"]["name"] for i in listed["items"]] == []
        listed = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers",
                                                            label_selector="type!=tenant")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["t1"]
        events = await collect(w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                                        resource_version=start, label_selector="type=tenant", timeout_seconds=1))
        assert [(t, n) for t, n, _ in events] == [("ADDED", "g1"), ("DELETED", "t1")], \
            "entering the selection is ADDED, leaving it DELETED"
    assert parse_label_selector("a notin (x, y)")({"a": "z"}) and not parse_label_selector("a notin (x,y)")({"a": "x"})


async def test_bookmarks_only_when_allowed(apiserver: FakeApiServer, kubeconfig: Path):
    async with await client_for(kubeconfig) as api, watch.Watch() as w:
        custom = CustomObjectsApi(api)
        stream = w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                          allow_watch_bookmarks=True, timeout_seconds=1)
        types = [t for t, _, _ in await collect(stream)]
        assert types and set(types) == {"BOOKMARK"}
        stream = w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                          timeout_seconds=1)
        assert await collect(stream) == []


async def test_lowercase_watch_parameter_is_a_watch_too(apiserver: FakeApiServer):
    apiserver.apply(receiver("a", "alice"))
    url = f"{apiserver.url}/apis/{GROUP}/{VERSION}/namespaces/{NS}/webhookreceivers?watch=true&timeoutSeconds=1"
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer admin-token"}) as http, http.get(url) as reply:
        lines = [json.loads(line) async for line in reply.content if line.strip()]
    assert [e["type"] for e in lines] == ["ADDED"]


async def test_dropping_connections_and_restarting(apiserver: FakeApiServer, kubeconfig: Path):
    port = apiserver.port
    async with await client_for(kubeconfig) as api:
        custom = CustomObjectsApi(api)
        w = watch.Watch()

        async def drop_soon() -> None:
            await anyio.sleep(0.2)
            apiserver.drop_connections()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(drop_soon)
            with pytest.raises(aiohttp.ClientError):
                await collect(w.stream(custom.list_namespaced_custom_object, GROUP, VERSION, NS, "webhookreceivers",
                                       timeout_seconds=30))
        await w.close()

        await apiserver.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers")
        apiserver.apply(receiver("while-down", "alice"))
        await apiserver.start()
        assert apiserver.port == port
        listed = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["while-down"]


async def test_tokens_and_rbac(apiserver: FakeApiServer, tmp_path: Path):
    apiserver.tokens["limited"] = lambda verb, group, plural, ns: plural == "secrets" and verb == "list" and ns == NS
    async with await client_for(apiserver.kubeconfig(tmp_path / "kc", token="limited")) as api:
        await CoreV1Api(api).list_namespaced_secret(NS)
        with pytest.raises(ApiException) as denied:
            await CoreV1Api(api).list_namespaced_secret("default")
        assert denied.value.status == 403
        assert 'cannot list resource "secrets"' in json.loads(denied.value.body)["message"]
    async with await client_for(apiserver.kubeconfig(tmp_path / "kc2", token="wrong")) as api:
        with pytest.raises(ApiException) as unauthorized:
            await CoreV1Api(api).list_namespaced_secret(NS)
        assert unauthorized.value.status == 401


async def test_paged_lists_show_one_snapshot_and_expire_with_compaction(apiserver: FakeApiServer, kubeconfig: Path):
    for name in "abcde":
        apiserver.apply(receiver(name, "alice", url="http://x"))
    snapshot = str(apiserver.revision)
    before = apiserver.list_objects(f"{GROUP}/{VERSION}", "WebhookReceiver", NS)
    async with await client_for(kubeconfig) as api:
        custom = CustomObjectsApi(api)

        async def page(**params) -> dict:
            return await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers", limit=2, **params)

        first = await page()
        assert [i["metadata"]["name"] for i in first["items"]] == ["a", "b"]
        assert first["metadata"]["resourceVersion"] == snapshot and first["metadata"]["remainingItemCount"] == 3

        apiserver.apply(receiver("bb", "bob", url="http://x"))  # sorts into the next page
        apiserver.patch(f"{GROUP}/{VERSION}", "WebhookReceiver", NS, "c", {"spec": {"url": "http://changed"}})
        apiserver.delete(f"{GROUP}/{VERSION}", "WebhookReceiver", NS, "d")
        second = await page(_continue=first["metadata"]["continue"])
        assert second["items"] == before[2:4], "c and d as they were at the first page; no bb"
        assert second["metadata"]["resourceVersion"] == snapshot and second["metadata"]["remainingItemCount"] == 1
        third = await page(_continue=second["metadata"]["continue"])
        assert [i["metadata"]["name"] for i in third["items"]] == ["e"]
        assert third["metadata"] == {"resourceVersion": snapshot}, "the last page: no continue, nothing remaining"

        now = await custom.list_namespaced_custom_object(GROUP, VERSION, NS, "webhookreceivers")
        assert [i["metadata"]["name"] for i in now["items"]] == ["a", "b", "bb", "c", "e"]
        assert now["metadata"] == {"resourceVersion": str(apiserver.revision)}, "no limit: one page, as before"

        apiserver.compact()
        with pytest.raises(ApiException) as expired:
            await page(_continue=second["metadata"]["continue"])
        status = json.loads(expired.value.body)
        assert (expired.value.status, status["reason"], status["code"]) == (410, "Expired", 410)
        assert status["message"].startswith("The provided continue parameter is too old")
        fresh = await page()
        assert fresh["metadata"]["resourceVersion"] == str(apiserver.revision), "a new list starts a new snapshot"
        with pytest.raises(ApiException) as garbage:
            await page(_continue="not-a-token")
        assert garbage.value.status == 400
