"""ObjectStoreSource: the library path, fed by another controller's informers instead of nmcore's watches."""

import base64

import anyio
import pytest
from kube_helpers import GLOBAL_RECEIVER, NS, TENANT_RECEIVER, receiver, running, seed_objects, wait_until

from nmcore.kube import ObjectStoreSource

pytestmark = pytest.mark.anyio

KINDS = ["WebhookConfig", "WebhookReceiver", "Secret", "RoleBinding"]


async def test_publishes_once_every_kind_has_synced_then_follows_changes():
    reported = []
    store = ObjectStoreSource(KINDS, debounce=0.05, report=lambda problem, obj: reported.append((problem, obj)))
    async with running(store) as published:
        for obj in seed_objects():
            store.upsert(obj)
        for kind in KINDS[:-1]:
            store.mark_synced(kind)
        await anyio.sleep(0.2)
        assert published.snapshots == [] and not store.ready
        store.mark_synced("RoleBinding")
        await wait_until(lambda: published.snapshots)
        assert store.ready and set(published.latest.targets) == {TENANT_RECEIVER, GLOBAL_RECEIVER}

        store.delete("RoleBinding", "demo", "test-user-admin")
        await wait_until(lambda: not published.latest.rolebinding_users("demo"), what="a delete")
        store.replace("WebhookReceiver", [receiver("only", None)])
        await wait_until(lambda: set(published.latest.targets) == {f"WebhookReceiver/{NS}/only"}, what="a replace")
        published_so_far = len(published.snapshots)
        store.replace("WebhookReceiver", [receiver("only", None)])
        await anyio.sleep(0.2)
        assert len(published.snapshots) == published_so_far, "a relist that changes nothing publishes nothing"
    assert reported == []


async def test_problems_are_reported_once_and_binary_secrets_are_fine_until_used_as_text():
    reported = []
    store = ObjectStoreSource(debounce=0.05, report=lambda problem, obj: reported.append((problem, obj)))
    keystore = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keystore", "namespace": NS},
                "data": {"store.p12": base64.b64encode(b"\x30\x82\xff\xfe").decode()}}
    for obj in [*seed_objects(), keystore]:
        store.upsert(obj)
    async with running(store) as published:
        await wait_until(lambda: published.snapshots)
        assert reported == [], "a binary Secret is valid; only a key used as a credential must be text"

        config = next(o for o in seed_objects() if o["metadata"]["name"] == "default-webhook-config")
        config["spec"]["httpConfig"]["bearerToken"]["valueFrom"]["secretKeyRef"] = {"name": "keystore", "key": "store.p12"}
        store.upsert(config)
        await wait_until(lambda: reported, what="the config that uses the binary key as text")
        [(problem, obj)] = [(p, o) for p, o in reported if o["kind"] == "WebhookConfig"]
        assert obj["metadata"]["name"] == "default-webhook-config"
        assert problem.message == ("Secret 'keystore': data.store.p12 is not base64 of UTF-8 text "
                                   "@ $.spec.httpConfig.bearerToken")
        assert {o["metadata"]["name"] for _, o in reported} == {"default-webhook-config", "global-webhook-receiver"}, \
            "and the receiver that would send with it cannot"

        count = len(reported)
        store.upsert(receiver("another", None, url="http://127.0.0.1:9/another"))
        await wait_until(lambda: f"WebhookReceiver/{NS}/another" in published.latest.targets)
        assert len(reported) == count, "the same problems are not reported again"
