"""End to end through nmcore's Manager: Alertmanager's payload in, DingTalk messages out, tenants apart, and
a robot's 20 a minute honoured by the core's retry without a message lost or doubled."""

import nm_dingtalk
import pytest
from nm_dingtalk import chatbot

from nmcore import Manager, ManagerSettings, RetryPolicy
from nmcore.sdk import Rate
from nmcore.testing import alertmanager_body, rolebinding_yaml, snapshot_from_yaml

pytestmark = pytest.mark.anyio

CHAT = "chat894f9f4d634eb283933af6c7102977b2"
TENANT = "DingTalkReceiver/kubesphere-monitoring-system/test-user-dingtalk-receiver"
GLOBAL = "DingTalkReceiver/kubesphere-monitoring-system/global-dingtalk-receiver"
ROLEBINDING = rolebinding_yaml("test-user", "demo")


async def test_the_seed_like_manifests_validate(seed):
    text, _, _ = seed
    snapshot = snapshot_from_yaml(text, plugins=[nm_dingtalk])
    assert snapshot.problems == () and set(snapshot.targets) == {TENANT, GLOBAL}
    assert snapshot.targets[TENANT].config.ref.endswith("/test-user-dingtalk-config")


async def test_tenant_alerts_reach_the_tenants_robot_and_every_alert_the_global_robot_and_chat(dingtalk, seed):
    text, global_robot, tenant_robot = seed
    async with Manager.from_yaml(text + ROLEBINDING, plugins=[nm_dingtalk]) as manager:
        await manager.submit_payload(alertmanager_body("demo", "other-team", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)

    assert sorted((o.receiver, o.ok) for o in manager.outcomes) == [(GLOBAL, True), (TENANT, True)]
    [tenant_text] = tenant_robot.texts()
    assert "容器 web-0 反复崩溃" in tenant_text and "other-team" not in tenant_text and "web-1" not in tenant_text
    [global_text] = global_robot.texts()  # signed: the fake checked timestamp and sign
    [chat_text] = dingtalk.chat_texts(CHAT)
    for everything in (global_text, chat_text):
        assert "容器 web-0 反复崩溃" in everything and "容器 web-1 反复崩溃" in everything


async def test_a_notification_over_the_robots_rate_is_held_and_then_finished_in_order(dingtalk, seed, monkeypatch):
    """With the robot's rate shrunk to 3 a second, a notification of several messages waits in the core's
    retry (its retry_after) instead of being refused or dropped; none is sent twice."""
    monkeypatch.setattr(chatbot, "RATE", Rate(3, 1.0))
    text, _, tenant_robot = seed
    summary = "容器 {pod} 反复崩溃。最近十分钟内重启了十二次。请检查镜像、探针与资源限制。" * 40
    policy = RetryPolicy(initial_delay=0.05, max_delay=1.5, jitter=0.0)
    settings = ManagerSettings(retry=policy)
    async with Manager.from_yaml(text + ROLEBINDING, plugins=[nm_dingtalk], settings=settings) as manager:
        await manager.submit_payload(alertmanager_body(*["demo"] * 20, summary=summary))
        await manager.drain(timeout=30)

    tenant = next(o for o in manager.outcomes if o.receiver == TENANT)
    assert tenant.ok and tenant.attempts >= 2
    texts = tenant_robot.texts()
    assert len(texts) > 3 and dingtalk.replies[130101] == 0
    assert len(set(texts)) == len(texts)  # nothing twice
    assert ["容器" in t for t in texts]  # (content checked whole below)
    joined = "".join(t.removesuffix("\n\n[Keywords] kubesphere") for t in texts)
    positions = [joined.index(f"容器 web-{i} 反复崩溃") for i in range(20)]
    assert positions == sorted(positions)


V2BETA2 = """
apiVersion: v1
kind: Secret
metadata: {{name: dingtalk-secrets, namespace: kubesphere-monitoring-system}}
stringData: {{appkey: {appkey}, appsecret: {appsecret}, ops-robot: "{ops}"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: alice-dingtalk, namespace: kubesphere-monitoring-system, labels: {{user: alice}}}}
stringData: {{alice-robot: "{alice}"}}
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Config
metadata: {{name: default-config, labels: {{type: default}}}}
spec:
  dingtalk:
    conversation:
      appkey: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: dingtalk-secrets, key: appkey}}}}}}
      appsecret: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: dingtalk-secrets, key: appsecret}}}}}}
      apiUrl: {api}
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Receiver
metadata: {{name: platform-oncall, labels: {{type: global}}}}
spec:
  dingtalk:
    chatbot:
      webhook: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: dingtalk-secrets, key: ops-robot}}}}}}
      keywords: [kubesphere]
      atMobiles: ["13800001111"]
    conversation: {{chatids: [{chat}]}}
    tmplType: markdown
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Receiver
metadata: {{name: alice, labels: {{type: tenant, user: alice}}}}
spec:
  dingtalk:
    chatbot:
      webhook: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: alice-dingtalk, key: alice-robot}}}}}}
      keywords: [kubesphere]
"""


async def test_v2beta2_receivers_deliver_the_global_robot_and_chat_everything_and_the_tenant_its_own(dingtalk):
    ops, ops_url = dingtalk.robot("ops", keywords=("kubesphere",))
    alice, alice_url = dingtalk.robot("alice", keywords=("kubesphere",))
    manifests = V2BETA2.format(appkey=dingtalk.appkey, appsecret=dingtalk.appsecret, ops=ops_url, alice=alice_url,
                               api=dingtalk.url, chat=CHAT) + rolebinding_yaml("alice", "demo")
    async with Manager.from_yaml(manifests, plugins=[nm_dingtalk]) as manager:
        assert manager.snapshot.problems == ()
        await manager.submit_payload(alertmanager_body("demo", "other-team", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)

    assert sorted((o.receiver, o.ok) for o in manager.outcomes) == [
        ("Receiver/alice:dingtalk", True), ("Receiver/platform-oncall:dingtalk", True)]
    [alice_text] = alice.texts()
    assert "容器 web-0 反复崩溃" in alice_text and "web-1" not in alice_text
    [ops_message] = ops.messages
    assert ops_message["msgtype"] == "markdown" and ops_message["at"]["atMobiles"] == ["13800001111"]
    [chat_text] = dingtalk.chat_texts(CHAT)
    for everything in (ops.texts()[0], chat_text):
        assert "容器 web-0 反复崩溃" in everything and "容器 web-1 反复崩溃" in everything
