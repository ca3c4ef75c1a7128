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
