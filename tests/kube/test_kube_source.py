"""KubernetesSource against the fake API server: initial sync, live changes, 410 relists, restarts, bad objects."""

import logging
from pathlib import Path

import anyio
import pytest
from fake_apiserver import FakeApiServer
from kube_helpers import (
    GLOBAL_RECEIVER,
    NS,
    TENANT_RECEIVER,
    Recorder,
    receiver,
    rolebinding,
    running,
    seed_objects,
    wait_until,
)

from nmcore.kube import Backoff, KubernetesSource, kinds_for
from nmcore.resources import SecretKeySelector
from nmcore.testing import plugin_host

pytestmark = pytest.mark.anyio

CR = "notification.kubesphere.io/v1alpha1"
FAST = Backoff(initial=0.05, cap=0.3)


def source_for(kubeconfig: Path, **options) -> KubernetesSource:
    options = {"debounce": 0.1, "backoff": FAST, "watch_timeout": 30} | options
    return KubernetesSource(kinds_for(plugin_host().channels), NS, kubeconfig=kubeconfig, **options)


def requests_for(apiserver: FakeApiServer, plural: str) -> list[dict[str, str]]:
    return [q for method, path, q in apiserver.requests if method == "GET" and path.endswith("/" + plural)]


async def test_initial_sync_publishes_the_whole_seed_once_ready(apiserver: FakeApiServer, kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    apiserver.apply({**receiver("elsewhere", "bob"), "metadata": {"name": "elsewhere", "namespace": "default",
                                                                  "labels": {"type": "global"}}})
    apiserver.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "other", "namespace": "default"}})

    source = source_for(kubeconfig)
    async with running(source) as published:
        await wait_until(lambda: published.snapshots, what="the first publish")
        await anyio.sleep(0.3)
    first = published.snapshots[0]
    assert len(published.snapshots) == 1, "nothing changed after the initial sync, so nothing more is published"
    assert first.problems == ()
    origins = sorted(d.origin for d in published.documents[0])
    assert f"k8s:WebhookReceiver/{NS}/test-user-receiver" in origins
    assert not any("default/" in o for o in origins), "only the manager's namespace is read (but RoleBindings)"
    assert first.targets[TENANT_RECEIVER].config.name == "test-user-config"
    assert first.targets[GLOBAL_RECEIVER].config.name == "default-webhook-config"
    default_config = first.targets[GLOBAL_RECEIVER].config
    assert default_config is not None
    assert first.secret(default_config, SecretKeySelector(name="default-webhook-secret", key="token")) == "default-token"
    assert await published.who_gets("demo") == {TENANT_RECEIVER, GLOBAL_RECEIVER}
    assert await published.who_gets("kube-system") == {GLOBAL_RECEIVER}
    watches = [q for q in requests_for(apiserver, "webhookreceivers") if q.get("watch")]
    assert watches and all(q["allowWatchBookmarks"].lower() == "true" and q["resourceVersion"] for q in watches)


async def test_not_ready_until_every_kind_has_listed(apiserver: FakeApiServer, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture):
    for obj in seed_objects():
        apiserver.apply(obj)
    allow_secrets = False
    apiserver.tokens["nmcore"] = lambda verb, group, plural, ns: plural != "secrets" or allow_secrets
    source = source_for(apiserver.kubeconfig(tmp_path / "kc", token="nmcore"))
    async with running(source) as published:
        await anyio.sleep(0.5)
        assert published.snapshots == [] and not source.ready
        assert "403 Forbidden" in caplog.text and "deploy/10-rbac.yaml" in caplog.text
        allow_secrets = True
        await wait_until(lambda: published.snapshots, what="ready once Secrets can be listed")
    assert published.latest.problems == ()


async def test_live_changes_change_who_gets_an_alert(apiserver: FakeApiServer, kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        who = published.who_gets

        apiserver.apply(rolebinding("alice-view", "demo", "alice"))
        apiserver.apply(receiver("alice", "alice", url="http://127.0.0.1:9/alice"))
        alice = f"WebhookReceiver/{NS}/alice"
        await wait_until(lambda: who("demo"), what="routing refreshed")
        await wait_until(async_equals(who, "demo", {TENANT_RECEIVER, GLOBAL_RECEIVER, alice}), what="alice added")

        apiserver.patch(CR, "WebhookReceiver", NS, "test-user-receiver",
                        {"spec": {"webhookConfigSelector": {"matchLabels": {"user": "nobody"}}}})
        await wait_until(lambda: published.latest.targets[TENANT_RECEIVER].config.name == "default-webhook-config",
                         what="a receiver update re-chose its config")

        apiserver.patch(CR, "WebhookConfig", NS, "default-webhook-config", {"spec": {"url": "http://127.0.0.1:9/new"}})
        await wait_until(lambda: published.latest.targets[GLOBAL_RECEIVER].config.spec.url.endswith("/new"),
                         what="a config update")

        token = SecretKeySelector(name="default-webhook-secret", key="token")
        apiserver.patch("v1", "Secret", NS, "default-webhook-secret", {"stringData": {"token": "rotated"}})
        await wait_until(lambda: published.latest.secret(published.latest.targets[GLOBAL_RECEIVER].config, token)
                         == "rotated", what="a Secret update")
        apiserver.delete("v1", "Secret", NS, "default-webhook-secret")
        await wait_until(lambda: any("default-webhook-secret" in p.message for p in published.latest.problems),
                         what="a deleted Secret reported on the config that uses it")
        assert GLOBAL_RECEIVER in published.latest.skipped, "its receiver cannot send any more"
        apiserver.apply(next(o for o in seed_objects() if o["metadata"]["name"] == "default-webhook-secret"))
        await wait_until(lambda: GLOBAL_RECEIVER in published.latest.targets, what="the Secret back")

        apiserver.delete("rbac.authorization.k8s.io/v1", "RoleBinding", "demo", "test-user-admin")
        await wait_until(async_equals(who, "demo", {GLOBAL_RECEIVER, alice}), what="a RoleBinding deleted")
        apiserver.apply(rolebinding("test-user-ops", "ops", "test-user"))
        await wait_until(async_equals(who, "ops", {GLOBAL_RECEIVER, TENANT_RECEIVER}), what="a RoleBinding created")

        apiserver.delete(CR, "WebhookReceiver", NS, "alice")
        await wait_until(async_equals(who, "demo", {GLOBAL_RECEIVER}), what="a receiver deleted")


async def test_a_clusterrolebinding_to_a_user_grants_every_namespace_live(apiserver: FakeApiServer,
                                                                          kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        who = published.who_gets
        assert await who("kube-system") == {GLOBAL_RECEIVER}
        binding = {**rolebinding("test-user-everywhere", "", "test-user"), "kind": "ClusterRoleBinding",
                   "metadata": {"name": "test-user-everywhere"}}
        apiserver.apply(binding)
        await wait_until(async_equals(who, "kube-system", {GLOBAL_RECEIVER, TENANT_RECEIVER}),
                         what="cluster-wide access for test-user")
        assert await who("any-namespace-at-all") == {GLOBAL_RECEIVER, TENANT_RECEIVER}
        apiserver.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", None, "test-user-everywhere")
        await wait_until(async_equals(who, "kube-system", {GLOBAL_RECEIVER}), what="the ClusterRoleBinding deleted")
    assert published.latest.problems == ()


async def test_bursts_are_published_together(apiserver: FakeApiServer, kubeconfig: Path):
    async with running(source_for(kubeconfig, debounce=0.2)) as published:
        await wait_until(lambda: published.snapshots)
        for n in range(30):
            apiserver.apply(receiver(f"r{n}", f"user{n}", url="http://127.0.0.1:9/x"))
        await wait_until(lambda: len(published.latest.targets) == 30, what="all 30 receivers")
        await anyio.sleep(0.3)
    assert len(published.snapshots) <= 3, "30 changes in a burst are a couple of publishes, not 30"


async def test_relists_after_410_and_sees_what_happened_meanwhile(apiserver: FakeApiServer, kubeconfig: Path,
                                                                  caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "nmcore.kube")
    for obj in seed_objects():
        apiserver.apply(obj)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        lists_before = [q for q in requests_for(apiserver, "webhookreceivers") if not q.get("watch")]
        apiserver.drop_connections()
        apiserver.delete(CR, "WebhookReceiver", NS, "test-user-receiver")
        apiserver.apply(receiver("bob", "bob", url="http://127.0.0.1:9/bob"))
        apiserver.compact()
        bob = f"WebhookReceiver/{NS}/bob"
        await wait_until(lambda: set(published.latest.targets) == {GLOBAL_RECEIVER, bob}, what="relisted state")
    lists_after = [q for q in requests_for(apiserver, "webhookreceivers") if not q.get("watch")]
    assert len(lists_after) == len(lists_before) + 1
    assert "410 Gone" in caplog.text


def add_receivers(apiserver: FakeApiServer, count: int) -> None:
    for n in range(count):
        apiserver.apply(receiver(f"r{n:04}", f"user{n}", url="http://127.0.0.1:9/x"))


def receiver_lists(apiserver: FakeApiServer) -> list[dict[str, str]]:
    return [q for q in requests_for(apiserver, "webhookreceivers") if not q.get("watch")]


async def test_a_large_kind_is_listed_in_pages_of_500(apiserver: FakeApiServer, kubeconfig: Path):
    add_receivers(apiserver, 1201)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots, timeout=10, what="ready")
    assert len(published.snapshots[0].targets) == 1201, "every page's objects, not only the first 500"
    lists = receiver_lists(apiserver)
    assert [q.get("limit") for q in lists] == ["500"] * 3
    assert "continue" not in lists[0] and lists[1]["continue"] != lists[2]["continue"]


async def test_writes_between_pages_come_by_the_watch_not_the_list(apiserver: FakeApiServer, kubeconfig: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    add_receivers(apiserver, 1201)
    written: list[dict] = []

    def write_once(page: dict) -> None:
        if page["kind"] == "WebhookReceiverList" and not written:
            written.append(apiserver.apply(receiver("zz-late", "late", url="http://127.0.0.1:9/late")))
            apiserver.delete(CR, "WebhookReceiver", NS, "r1200")  # on the last page, yet listed: it was there

    apiserver.between_pages = write_once
    source = source_for(kubeconfig)
    listed: dict[str, set[str]] = {}
    replace = source.store.replace

    def remember_lists(kind: str, objects, **where) -> None:
        objects = list(objects)
        listed[kind] = {o["metadata"]["name"] for o in objects}
        replace(kind, objects, **where)

    monkeypatch.setattr(source.store, "replace", remember_lists)
    late, gone = f"WebhookReceiver/{NS}/zz-late", f"WebhookReceiver/{NS}/r1200"
    async with running(source) as published:
        await wait_until(lambda: published.snapshots and late in published.latest.targets
                         and gone not in published.latest.targets, timeout=10, what="the watch's changes")
    assert len(listed["WebhookReceiver"]) == 1201 and "r1200" in listed["WebhookReceiver"]
    assert "zz-late" not in listed["WebhookReceiver"], "the list is the first page's snapshot"
    assert len(published.latest.targets) == 1201
    [first_watch, *_] = [q for q in requests_for(apiserver, "webhookreceivers") if q.get("watch")]
    assert int(first_watch["resourceVersion"]) < int(written[0]["metadata"]["resourceVersion"])


async def test_a_continue_token_expired_by_compaction_lists_again(apiserver: FakeApiServer, kubeconfig: Path,
                                                                  caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, "nmcore.kube")
    add_receivers(apiserver, 1201)
    compacted: list[bool] = []

    def compact_once(page: dict) -> None:
        if page["kind"] == "WebhookReceiverList" and not compacted:
            apiserver.apply(receiver("meanwhile", "m", url="http://127.0.0.1:9/m"))
            apiserver.compact()  # etcd compacts past the first page's revision
            compacted.append(True)

    apiserver.between_pages = compact_once
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots, timeout=10, what="ready")
    assert len(published.snapshots[0].targets) == 1202, "the whole list again, with what was written meanwhile"
    assert ["continue" in q for q in receiver_lists(apiserver)] == [False, True, False, True, True]
    assert "WebhookReceiver: the list's continue token expired (410 Gone); listing again" in caplog.text


async def test_a_dropped_watch_resumes_from_its_version_without_relisting(apiserver: FakeApiServer,
                                                                          kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        apiserver.apply(receiver("early", "e", url="http://127.0.0.1:9/e"))
        await wait_until(lambda: f"WebhookReceiver/{NS}/early" in published.latest.targets)
        before = len(requests_for(apiserver, "webhookreceivers"))
        apiserver.drop_connections()
        apiserver.apply(receiver("late", "l", url="http://127.0.0.1:9/l"))
        await wait_until(lambda: f"WebhookReceiver/{NS}/late" in published.latest.targets, what="change after a cut")
    resumed = requests_for(apiserver, "webhookreceivers")[before:]
    assert resumed and all(q.get("watch") and int(q["resourceVersion"]) > 0 for q in resumed), resumed


async def test_bookmarks_keep_a_quiet_watch_resumable(apiserver: FakeApiServer, kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        for n in range(5):  # writes to another kind move the global resourceVersion on
            apiserver.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{n}", "namespace": NS}})
        await anyio.sleep(apiserver.bookmark_interval * 3)
        apiserver.compact()  # only versions from now on can be resumed; the bookmark gave the watch one
        lists_before = len([q for q in requests_for(apiserver, "webhookreceivers") if not q.get("watch")])
        apiserver.drop_connections()
        apiserver.apply(receiver("after", "a", url="http://127.0.0.1:9/a"))
        await wait_until(lambda: f"WebhookReceiver/{NS}/after" in published.latest.targets)
    lists_after = len([q for q in requests_for(apiserver, "webhookreceivers") if not q.get("watch")])
    assert lists_after == lists_before, "resumed from the bookmark's version: no 410, no relist"


async def test_survives_the_api_server_restarting(apiserver: FakeApiServer, kubeconfig: Path):
    for obj in seed_objects():
        apiserver.apply(obj)
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        await apiserver.stop()
        apiserver.apply(rolebinding("alice-view", "demo", "alice"))
        apiserver.apply(receiver("alice", "alice", url="http://127.0.0.1:9/alice"))
        apiserver.delete(CR, "WebhookReceiver", NS, "global-webhook-receiver")
        await anyio.sleep(0.8)
        assert await published.who_gets("demo") == {TENANT_RECEIVER, GLOBAL_RECEIVER}, "the last state is kept"
        apiserver.compact()  # a restarted API server's watch cache starts now
        await apiserver.start()
        alice = f"WebhookReceiver/{NS}/alice"
        await wait_until(async_equals(published.who_gets, "demo", {TENANT_RECEIVER, alice}), what="caught up")


async def test_an_invalid_object_is_reported_once_and_the_rest_keeps_working(
        apiserver: FakeApiServer, kubeconfig: Path, caplog: pytest.LogCaptureFixture):
    for obj in seed_objects():
        apiserver.apply(obj)
    apiserver.apply(receiver("broken", "alice", urll="http://127.0.0.1:9/typo"))
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: apiserver.events(NS), what="an Event")
        assert await published.who_gets("demo") == {TENANT_RECEIVER, GLOBAL_RECEIVER}
        [event] = apiserver.events(NS)
        assert event["involvedObject"]["kind"] == "WebhookReceiver"
        assert event["involvedObject"]["name"] == "broken"
        assert event["involvedObject"]["uid"] == apiserver.get(CR, "WebhookReceiver", NS, "broken")["metadata"]["uid"]
        assert (event["type"], event["reason"]) == ("Warning", "InvalidConfiguration")
        assert "unknown field 'urll'" in event["message"] and "$.spec" in event["message"]
        assert f"WebhookReceiver/{NS}/broken" in caplog.text and "urll" in caplog.text

        for n in range(3):  # more publishes, the same problem: no more Events, no more warnings
            apiserver.apply(receiver(f"r{n}", f"u{n}", url="http://127.0.0.1:9/x"))
            await wait_until(lambda n=n: f"WebhookReceiver/{NS}/r{n}" in published.latest.targets)
        assert len(apiserver.events(NS)) == 1
        assert caplog.text.count("unknown field 'urll'") == 1

        apiserver.apply(receiver("broken", "alice", url="http://127.0.0.1:9/fixed"))
        await wait_until(lambda: f"WebhookReceiver/{NS}/broken" in published.latest.targets, what="fixed")
        assert published.latest.problems == ()
    assert len(apiserver.events(NS)) == 1


async def test_a_missing_crd_counts_as_empty_until_it_is_installed(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    from crd_schema import validator_for  # noqa: F401 - the fake serves installed CRDs with their schema

    from nmcore.builtins.webhook import WebhookConfigSpec
    from nmcore.kube.crds import crd_for

    async with FakeApiServer() as apiserver:
        apiserver.apply(crd_for("WebhookReceiver", plugin_host().channels["webhook"].spec.receiver_schema, "r"))
        for obj in seed_objects():
            if obj["kind"] != "WebhookConfig":
                apiserver.apply(obj)
        async with running(source_for(apiserver.kubeconfig(tmp_path / "kc"))) as published:
            await wait_until(lambda: published.snapshots, what="ready without the WebhookConfig CRD")
            assert "is its CRD installed?" in caplog.text
            assert published.latest.skipped[TENANT_RECEIVER].startswith("its selector")
            apiserver.apply(crd_for("WebhookConfig", WebhookConfigSpec, "c"))
            for obj in seed_objects():
                if obj["kind"] == "WebhookConfig":
                    apiserver.apply(obj)
            await wait_until(lambda: TENANT_RECEIVER in published.latest.targets, what="the CRD's objects")


async def test_the_deploy_rbac_is_enough_and_no_more(apiserver: FakeApiServer, tmp_path: Path):
    import yaml
    from fake_apiserver import rbac_authorizer

    manifests = list(yaml.safe_load_all((Path(__file__).parents[2] / "deploy" / "10-rbac.yaml").read_text()))
    allowed = rbac_authorizer(manifests, NS, "notification-manager")
    apiserver.tokens["sa"] = allowed
    for obj in seed_objects():
        apiserver.apply(obj)
    apiserver.apply(receiver("broken", "alice", urll="x"))
    async with running(source_for(apiserver.kubeconfig(tmp_path / "kc", token="sa"))) as published:
        await wait_until(lambda: apiserver.events(NS), what="an Event posted with the deployed permissions")
        assert await published.who_gets("demo") == {TENANT_RECEIVER, GLOBAL_RECEIVER}
    assert not allowed("list", "", "secrets", "kube-system"), "Secrets are readable only where credentials live"
    assert allowed("watch", "", "secrets", "kubesphere-monitoring-federated"), "the console's v2beta2 Secrets"
    assert not allowed("list", "", "secrets", None)
    assert allowed("create", "", "events", "default"), "Events of cluster-scoped (v2beta2) objects"
    assert allowed("watch", "notification.kubesphere.io", "receivers", None)
    assert not allowed("update", "notification.kubesphere.io", "webhookreceivers", NS)
    assert not allowed("create", "", "events", "kube-system")
    assert allowed("watch", "rbac.authorization.k8s.io", "rolebindings", None)
    assert allowed("watch", "rbac.authorization.k8s.io", "clusterrolebindings", None)


async def test_watches_that_end_at_once_do_not_hammer_the_api_server(apiserver: FakeApiServer, kubeconfig: Path):
    apiserver.max_watch_seconds = 0
    async with running(source_for(kubeconfig)) as published:
        await wait_until(lambda: published.snapshots)
        await anyio.sleep(1)
    watches = [q for q in requests_for(apiserver, "webhookreceivers") if q.get("watch")]
    assert 2 <= len(watches) <= 8, f"{len(watches)} watch requests in a second"


async def test_outside_a_pod_the_kubeconfig_comes_from_the_environment(apiserver: FakeApiServer, kubeconfig: Path,
                                                                        monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    for obj in seed_objects():
        apiserver.apply(obj)
    source = KubernetesSource(kinds_for(plugin_host().channels), NS, debounce=0.05)
    async with running(source) as published:
        await wait_until(lambda: published.snapshots)
    assert TENANT_RECEIVER in published.latest.targets


def async_equals(function, argument, expected):
    async def check() -> bool:
        return await function(argument) == expected

    return check


def test_an_unreachable_api_server_keeps_the_source_unready_and_says_so(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture):
    server = FakeApiServer()
    kubeconfig = server.kubeconfig(tmp_path / "kc")  # port 0: nothing listens there

    async def attempt() -> Recorder:
        source = source_for(kubeconfig)
        async with running(source) as published:
            await anyio.sleep(0.5)
            assert not source.ready
        return published

    published = anyio.run(attempt)
    assert published.snapshots == []
    assert "keeping the last configuration and retrying" in caplog.text
