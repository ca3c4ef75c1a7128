"""v2beta2 semantics as the Go original's, delivered over real sockets: one Receiver's blocks each deliver, the
NotificationManager decides who owns what, config choice by priority, `enabled: false`, credentials from Secrets
in any namespace (rotated without a restart), and v1alpha1 objects beside them."""

import base64
from pathlib import Path

import anyio
import nm_email
import nm_slack
import nm_wechat
import pytest

from nmcore.alerts import AlertGroup
from nmcore.attempt import send_once
from nmcore.channel import StartedChannel
from nmcore.manager import Manager
from nmcore.render import DefaultRenderer
from nmcore.sources import FolderSource
from nmcore.testing import alert, plugin_host, snapshot_from_yaml
from nmcore.verify import verification_notification
from tests.conftest import WebhookSink
from tests.v2support import DEFAULT, GLOBAL, NS, from_secret, rolebinding, secret, smtp_server, tenant, v2

pytestmark = pytest.mark.anyio
HOST = plugin_host([nm_email])


def email_config(port: int, name: str = "default-email", labels: dict | None = None, sender: str = "nm@example.com",
                 ) -> str:
    return v2("Config", name, labels or DEFAULT,
              email={"from": sender, "smartHost": {"host": "127.0.0.1", "port": port}, "requireTLS": False})


async def test_a_tenant_receivers_webhook_and_email_blocks_each_deliver_and_a_global_one_gets_everything(
        sink: WebhookSink) -> None:
    with smtp_server() as (port, smtp):
        manifests = (email_config(port)
                     + v2("Receiver", "alice", tenant("alice"), webhook={"url": sink.url("alice")},
                          email={"to": ["alice@example.com"]})
                     + v2("Receiver", "ops", GLOBAL, webhook={"url": sink.url("ops")})
                     + rolebinding("demo", "alice"))
        async with Manager.from_yaml(manifests, plugins=[nm_email]) as manager:
            await manager.wait_ready(5)
            assert manager.snapshot.problems == ()
            await manager.submit(AlertGroup(alerts=(alert(namespace="demo", alertname="InDemo"),
                                                    alert(namespace="kube-system", alertname="InKubeSystem"),
                                                    alert(alertname="ClusterWide"))))
            await manager.drain(20)
        [(recipients, message)] = smtp.messages
    assert recipients == ["alice@example.com"] and message["From"] == "nm@example.com"
    assert "InDemo" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert [a["labels"]["alertname"] for a in sink.alerts_by_path()["/alice"]] == ["InDemo"]
    assert sorted(a["labels"]["alertname"] for a in sink.alerts_by_path()["/ops"]) == [
        "ClusterWide", "InDemo", "InKubeSystem"]
    assert {b["receiver"] for b in sink.bodies("alice")} == {"Receiver/alice:webhook"}


def test_the_notification_manager_decides_ownership_with_its_own_selectors_and_tenant_key() -> None:
    nm = v2("NotificationManager", "nm", receivers={
        "tenantKey": "owner",
        "globalReceiverSelector": {"matchLabels": {"scope": "everyone"}},
        "tenantReceiverSelector": {"matchLabels": {"scope": "team", "kind": "receiver"}}},
        defaultConfigSelector={"matchLabels": {"scope": "fallback", "tier": "1"}})
    snapshot = snapshot_from_yaml(
        nm
        + v2("Receiver", "team-a", {"kind": "receiver", "owner": "alice"}, webhook={"url": "http://a"})
        + v2("Receiver", "ops", {"scope": "everyone"}, webhook={"url": "http://ops"})
        + v2("Receiver", "old-style", tenant("bob"), webhook={"url": "http://bob"})
        + v2("Receiver", "no-owner", {"scope": "team"}, webhook={"url": "http://x"}),
        host=HOST)
    owners = {ref: (t.receiver.scope, t.tenant) for ref, t in snapshot.targets.items()}
    assert owners == {"Receiver/team-a:webhook": ("tenant", "alice"), "Receiver/ops:webhook": ("global", "")}
    assert "neither global nor a tenant's" in snapshot.skipped["Receiver/old-style:webhook"]
    assert "with a 'owner' label" in snapshot.skipped["Receiver/no-owner:webhook"]


def test_without_a_notification_manager_the_defaults_of_the_originals_helm_chart_apply() -> None:
    snapshot = snapshot_from_yaml(v2("Receiver", "r", tenant("alice"), webhook={"url": "http://a"}), host=HOST)
    settings = snapshot.settings
    assert (settings.tenant_key, str(settings.global_selector), str(settings.tenant_selector),
            str(settings.default_config_selector), settings.secret_namespace, settings.source) == (
        "user", "type=global", "type=tenant", "type=default", NS, "")
    assert snapshot.targets["Receiver/r:webhook"].tenant == "alice"


def test_config_choice_per_block_follows_the_original() -> None:
    configs = (email_config(25, "tenant-late", tenant("alice") | {"priority": "5"}, sender="late@example.com")
               + email_config(25, "tenant-first", tenant("alice") | {"priority": "1"}, sender="first@example.com")
               + email_config(25, "bob-own", tenant("bob") | {"priority": "0"}, sender="bob@example.com")
               + email_config(25, "default-b", DEFAULT | {"team": "b", "priority": "2"})
               + email_config(25, "default-a", DEFAULT | {"team": "a", "priority": "9"}))
    receivers = (v2("Receiver", "alice", tenant("alice"), email={"to": ["a@example.com"]})
                 + v2("Receiver", "alice-b", tenant("alice"), email={
                     "to": ["a@example.com"], "emailConfigSelector": {"matchLabels": {"team": "b"}}})
                 + v2("Receiver", "carol", tenant("carol"), email={"to": ["c@example.com"]})
                 + v2("Receiver", "ops", GLOBAL, email={"to": ["o@example.com"]})
                 + v2("Receiver", "ops-a", GLOBAL, email={
                     "to": ["o@example.com"], "emailConfigSelector": {"matchLabels": {"team": "a"}}})
                 + v2("Receiver", "ops-none", GLOBAL, email={
                     "to": ["o@example.com"], "emailConfigSelector": {"matchLabels": {"team": "z"}}}))
    snapshot = snapshot_from_yaml(configs + receivers, host=HOST)
    chosen = {ref.split("/")[1]: t.config.name for ref, t in snapshot.targets.items() if t.config}
    assert chosen == {
        "alice:email": "tenant-first",   # its own tenant's, lowest priority
        "alice-b:email": "default-b",    # its selector matches none of its own: any default, lowest priority
        "carol:email": "default-b",      # no configs of its own
        "ops:email": "default-b",        # a global receiver: default configs only
        "ops-a:email": "default-a",      # ... that its selector matches
    }
    assert "no email Config matching its selector (team=z)" in snapshot.skipped["Receiver/ops-none:email"]


def test_a_disabled_block_is_off_without_being_a_problem_and_its_sibling_still_sends() -> None:
    snapshot = snapshot_from_yaml(v2("Receiver", "r", GLOBAL, webhook={"url": "http://a", "enabled": False},
                                     email={"to": ["x@example.com"]}) + email_config(25), host=HOST)
    assert snapshot.skipped == {"Receiver/r:webhook": "disabled (enabled: false)"}
    assert list(snapshot.targets) == ["Receiver/r:email"] and snapshot.problems == ()


def test_a_bad_block_is_located_and_the_objects_other_blocks_still_send() -> None:
    snapshot = snapshot_from_yaml(v2("Receiver", "r", GLOBAL, webhook={"url": "http://a"},
                                     email={"to": ["not an address"], "tmplType": "pdf"}), host=HOST)
    assert list(snapshot.targets) == ["Receiver/r:webhook"]
    assert [p.message for p in snapshot.problems] == ["tmplType must be 'html' or 'text', got 'pdf' @ $.spec.email.tmplType"]


def test_secret_references_take_their_namespace_then_default_secret_namespace_then_nms_own() -> None:
    hooks = v2("Receiver", "r", GLOBAL, webhook={"url": "http://a", "httpConfig": {
        "bearerToken": from_secret("named", "token", namespace="team-secrets"),
        "basicAuth": {"username": "u", "password": from_secret("unnamed", "password")}}})
    secrets = secret("named", "team-secrets", token="t") + secret("unnamed", "shared", password="p")
    without_nm = snapshot_from_yaml(hooks + secrets, host=HOST)
    missing = (f"Secret 'unnamed' not found in namespace '{NS}' "
               "@ $.spec.httpConfig.basicAuth.password")
    assert [p.message for p in without_nm.problems] == [missing, f"will not send: {missing}"]
    with_nm = snapshot_from_yaml(hooks + secrets + v2("NotificationManager", "nm", defaultSecretNamespace="shared"),
                                 host=HOST)
    assert with_nm.problems == () and with_nm.secret_namespace == "shared"


async def test_a_rotated_secret_is_used_from_the_next_send_without_a_restart(tmp_path: Path,
                                                                             sink: WebhookSink) -> None:
    (tmp_path / "receiver.yaml").write_text(v2("Receiver", "hook", GLOBAL, webhook={
        "url": sink.url("hook"), "httpConfig": {"bearerToken": from_secret("token", "value", "team-secrets")}}))
    (tmp_path / "secret.yaml").write_text(secret("token", "team-secrets", value="first-token"))
    async with Manager(FolderSource(tmp_path, settle=0.05), host=HOST) as manager:
        await manager.wait_ready(5)
        assert (await manager.verify("hook")).ok
        (tmp_path / "secret.yaml").write_text(secret("token", "team-secrets", value="second-token"))
        with anyio.fail_after(20):
            while manager.snapshot.secret(manager.snapshot.receivers[0], _ref("token", "value")) != "second-token":
                await anyio.sleep(0.05)
        assert (await manager.verify("hook")).ok
    assert [b["headers"]["Authorization"] for b in sink.received] == ["Bearer first-token", "Bearer second-token"]


def _ref(name: str, key: str):  # type: ignore[no-untyped-def]
    from nmcore.v2beta2 import SecretKeyRef

    return SecretKeyRef(namespace="team-secrets", name=name, key=key)


def test_both_api_versions_in_one_snapshot_each_choosing_configs_of_its_own_version() -> None:
    v1 = f"""---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {{name: v1-default, namespace: {NS}, labels: {{type: default}}}}
spec: {{from: v1@example.com, smartHost: {{host: 127.0.0.1, port: 25}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {{name: alice, namespace: {NS}, labels: {{type: tenant, user: alice}}}}
spec: {{to: [alice-v1@example.com]}}
"""
    snapshot = snapshot_from_yaml(v1 + email_config(25, "v2-default", sender="v2@example.com")
                                  + v2("Receiver", "alice", tenant("alice"), email={"to": ["alice-v2@example.com"]}),
                                  host=HOST)
    assert snapshot.problems == ()
    assert {ref: t.config.ref for ref, t in snapshot.targets.items() if t.config} == {
        f"EmailReceiver/{NS}/alice": f"EmailConfig/{NS}/v1-default",
        "Receiver/alice:email": "Config/v2-default:email"}
    assert sorted(t.receiver.ref for t in snapshot.targets_for_user("alice")) == [
        f"EmailReceiver/{NS}/alice", "Receiver/alice:email"]


def test_two_notification_managers_one_in_force_the_other_reported() -> None:
    snapshot = snapshot_from_yaml(v2("NotificationManager", "b", defaultSecretNamespace="b")
                                  + v2("NotificationManager", "a", defaultSecretNamespace="a"), host=HOST)
    assert snapshot.secret_namespace == "a"
    assert [str(p).split(": ", 1)[1] for p in snapshot.problems] == [
        "NotificationManager/b: only one NotificationManager is used; this one is ignored, "
        "NotificationManager/a is in force"]


async def test_notification_timeout_is_the_time_a_send_gets() -> None:
    seen: list[float] = []

    class Recording:
        async def send(self, request):  # type: ignore[no-untyped-def]
            seen.append(request.timeout)

        async def aclose(self) -> None:
            pass

    for options, expected in (({"webhook": {"notificationTimeout": 2}}, 2.0), ({}, 5.0)):
        snapshot = snapshot_from_yaml(v2("NotificationManager", "nm", receivers={"options": options})
                                      + v2("Receiver", "r", GLOBAL, webhook={"url": "http://a"}), host=HOST)
        target = snapshot.targets["Receiver/r:webhook"]
        started = StartedChannel(HOST.channels["webhook"].spec, Recording())
        result = await send_once(started, snapshot, target, verification_notification(target), DefaultRenderer())
        assert result.ok and seen[-1] == expected


def test_the_originals_one_minute_batch_wait_is_applied_and_pointed_out() -> None:
    """An object written under the Go original's CRD holds its default `batchMaxWait: 1m`: nmcore does wait, as the
    object says, and says so, since the user who took the install over may never have chosen it."""
    snapshot = snapshot_from_yaml(v2("NotificationManager", "nm", batchMaxWait="1m"), host=HOST)
    assert snapshot.settings.batch_max_wait == 60.0
    [notice] = snapshot.problems
    assert notice.notice and notice.message.startswith("spec.batchMaxWait 1m: every alert waits up to a minute")
    assert not snapshot_from_yaml(v2("NotificationManager", "nm", batchMaxWait="30s"), host=HOST).problems


@pytest.mark.parametrize(("spec", "problem"), [
    ({"batchMaxWait": "soon"}, "'soon' is not a duration (write it as Go does: 30s, 5m, 1h30m) @ $.spec.batchMaxWait"),
    ({"receivers": {"options": {"email": {"notificationTimeout": 0}}}},
     "must be a positive number of seconds, got 0 @ $.spec.receivers.options.email.notificationTimeout"),
    ({"receivers": {"options": {"emial": {}}}}, "unknown field 'emial' (did you mean 'email'?) @ $.spec.receivers.options"),
    ({"routePolicy": "Sometimes"},
     "routePolicy must be 'All', 'RouterFirst' or 'RouterOnly', got 'Sometimes' @ $.spec.routePolicy"),
])
def test_a_bad_notification_manager_field_is_located(spec: dict, problem: str) -> None:
    snapshot = snapshot_from_yaml(v2("NotificationManager", "nm", **spec), host=HOST)
    assert [p.message for p in snapshot.problems] == [problem]


def test_the_history_webhook_is_checked_against_the_webhook_block_schema() -> None:
    snapshot = snapshot_from_yaml(v2("NotificationManager", "nm", history={"webhook": {"enabled": True}}), host=HOST)
    assert [p.message for p in snapshot.problems] == ["must specify one of: `url` or `service` @ $.spec.history.webhook"]


def test_a_service_reference_becomes_the_url_the_original_builds() -> None:
    snapshot = snapshot_from_yaml(v2("Receiver", "r", GLOBAL, webhook={"service": {
        "name": "adapter", "namespace": NS, "port": 8080, "path": "alerts"}}), host=HOST)
    assert snapshot.targets["Receiver/r:webhook"].receiver.spec.target_url == f"http://adapter.{NS}:8080/alerts"


def test_an_inline_credential_value_never_shows_in_a_repr() -> None:
    snapshot = snapshot_from_yaml(v2("Receiver", "r", GLOBAL, webhook={"url": "http://a", "httpConfig": {
        "bearerToken": {"value": "inline-token-123"}}}), host=HOST)
    assert "inline-token-123" not in repr(snapshot.targets["Receiver/r:webhook"])
    assert base64.b64encode(b"inline-token-123").decode() not in repr(snapshot)


def test_the_v2beta2_examples_validate_and_mean_what_they_say() -> None:
    from nmcore.manifests import documents_from_paths
    from nmcore.snapshot import build_snapshot

    documents, problems = documents_from_paths([Path(__file__).parents[1] / "examples" / "v2beta2"])
    snapshot = build_snapshot(documents, plugin_host([nm_email, nm_slack, nm_wechat]).channels, problems=problems)
    assert snapshot.problems == ()
    assert {ref: (t.tenant, t.config.name if t.config else None) for ref, t in snapshot.targets.items()} == {
        "Receiver/alice:email": ("alice", "alice-mail"), "Receiver/alice:webhook": ("alice", None),
        "Receiver/platform-oncall:email": ("", "default-config"),
        "Receiver/platform-oncall:slack": ("", "default-config"), "Receiver/platform-oncall:webhook": ("", None)}
    assert snapshot.skipped == {"Receiver/alice:wechat": "disabled (enabled: false)"}
    assert snapshot.settings.notification_timeouts == {"email": 10.0, "webhook": 5.0}
    assert snapshot.secret_namespace == "kubesphere-monitoring-federated" and snapshot.settings.cluster == "host"
    assert [r.name for r in snapshot.routers] == ["audit-to-security"]
    assert [s.name for s in snapshot.silences] == ["nightly-maintenance"]
