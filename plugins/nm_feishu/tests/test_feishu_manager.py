"""End to end through nmcore's Manager: Alertmanager's payload in, Feishu messages out, tenants kept apart."""

import nm_feishu
import pytest

from nmcore import Manager
from nmcore.testing import alertmanager_body, rolebinding_yaml

pytestmark = pytest.mark.anyio

GLOBAL = "FeishuReceiver/kubesphere-monitoring-system/global-feishu-receiver"
TENANT = "FeishuReceiver/kubesphere-monitoring-system/test-user-feishu-receiver"
SIGNING_SECRET = "gS1bNmZ8rXqJtY4wKc2VhA"
ROLEBINDING = rolebinding_yaml("test-user", "demo")


async def test_the_tenants_department_gets_its_alerts_and_the_global_robot_and_users_all(feishu, seed):
    robot, webhook = feishu.robot("ops", secret=SIGNING_SECRET, keywords=("kubesphere",))
    manifests = seed(webhook, SIGNING_SECRET) + ROLEBINDING
    async with Manager.from_yaml(manifests, plugins=[nm_feishu]) as manager:
        await manager.submit_payload(alertmanager_body("demo", "other-team", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)

    assert sorted((o.receiver, o.ok) for o in manager.outcomes) == [(GLOBAL, True), (TENANT, True)]
    by_recipient = {(tuple(b["user_ids"]), tuple(b["open_ids"]), tuple(b["department_ids"])): feishu.text_of(b)
                    for b in feishu.batches}
    department = by_recipient[((), (), ("dev",))]
    assert "容器 web-0 反复崩溃" in department and "other-team" not in department and "web-1" not in department
    everything = by_recipient[(("ops-lead",), ("ou_7d8a6e6df7621556ce0d21922b676706",), ())]
    [robot_message] = robot.messages
    for text in (everything, feishu.text_of(robot_message)):
        assert "容器 web-0 反复崩溃" in text and "容器 web-1 反复崩溃" in text
    assert robot_message["msg_type"] == "post" and "[Keywords] kubesphere" in feishu.text_of(robot_message)
    assert feishu.calls["token"] == 1  # both receivers use the default app: one token


V2BETA2 = """
apiVersion: v1
kind: Secret
metadata: {{name: feishu-secrets, namespace: kubesphere-monitoring-system}}
stringData: {{appid: {app_id}, appsecret: {app_secret}, robot: "{robot}", sign: {sign}}}
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Config
metadata: {{name: default-config, labels: {{type: default}}}}
spec:
  feishu:
    appID: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: feishu-secrets, key: appid}}}}}}
    appSecret: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: feishu-secrets, key: appsecret}}}}}}
    apiUrl: {api}
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Receiver
metadata: {{name: platform-oncall, labels: {{type: global}}}}
spec:
  feishu:
    chatbot:
      webhook: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: feishu-secrets, key: robot}}}}}}
      secret: {{valueFrom: {{secretKeyRef: {{namespace: kubesphere-monitoring-system, name: feishu-secrets, key: sign}}}}}}
    user: [ops-lead]
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Receiver
metadata: {{name: test-user, labels: {{type: tenant, user: test-user}}}}
spec:
  feishu:
    department: [dev]
    tmplType: text
"""


async def test_v2beta2_receivers_deliver_the_global_robot_and_user_everything_and_the_tenant_its_own(feishu):
    robot, webhook = feishu.robot("ops", secret=SIGNING_SECRET)
    manifests = V2BETA2.format(app_id=feishu.app_id, app_secret=feishu.app_secret, robot=webhook,
                               sign=SIGNING_SECRET, api=feishu.api) + ROLEBINDING
    async with Manager.from_yaml(manifests, plugins=[nm_feishu]) as manager:
        assert manager.snapshot.problems == ()
        await manager.submit_payload(alertmanager_body("demo", "other-team", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)

    assert sorted((o.receiver, o.ok) for o in manager.outcomes) == [
        ("Receiver/platform-oncall:feishu", True), ("Receiver/test-user:feishu", True)]
    by_recipient = {(tuple(b["user_ids"]), tuple(b["department_ids"])): b for b in feishu.batches}
    department = by_recipient[((), ("dev",))]
    assert department["msg_type"] == "text" and "web-1" not in feishu.text_of(department)
    [robot_message] = robot.messages
    for message in (robot_message, by_recipient[(("ops-lead",), ())]):
        assert message["msg_type"] == "post"
        assert "容器 web-0 反复崩溃" in feishu.text_of(message) and "容器 web-1 反复崩溃" in feishu.text_of(message)
