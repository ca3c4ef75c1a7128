"""Group robot mode: a receiver with `chatbot.webhook` posts to the robot, with or without an application."""

import logging

import nm_wechat
import pytest

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import alert, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

RECEIVER = "WechatReceiver/kubesphere-monitoring-system/robot"


def robot_request(webhook: str, extra: str = "", alerts=()):
    manifests = f"""
apiVersion: v1
kind: Secret
metadata: {{name: robot-webhook}}
stringData: {{url: "{webhook}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatReceiver
metadata: {{name: robot, labels: {{type: global}}}}
spec:
  chatbot:
    webhook: {{valueFrom: {{secretKeyRef: {{name: robot-webhook, key: url}}}}}}
{extra}
"""
    snapshot = snapshot_from_yaml(manifests, plugins=[nm_wechat])
    assert not snapshot.problems, [str(p) for p in snapshot.problems]
    assert snapshot.targets[RECEIVER].config is None  # a robot needs no WechatConfig
    return send_request(snapshot, RECEIVER, alerts)


def webhook_of(wechat, key: str | None = None) -> str:
    return f"{wechat.url}webhook/send?key={key or wechat.robot_key}"


async def test_robot_gets_the_text_with_mentions(wechat, sender):
    request = robot_request(webhook_of(wechat), "    atUsers: zhangsan | lisi\n    atMobiles: ['13800001111']")

    assert await sender.send(request) is None

    [message] = wechat.robot_messages
    assert message["msgtype"] == "text" and message["text"]["content"] == request.message.text
    assert message["text"]["mentioned_list"] == ["zhangsan", "lisi"]
    assert message["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert wechat.calls["gettoken"] == 0 and wechat.messages == []


async def test_long_markdown_is_split_at_the_robot_limit_and_mentions_come_last(wechat, sender):
    alerts = [alert(annotations={"summary": f"节点 node-{i} 磁盘空间不足。请尽快清理"}, node=f"node-{i}")
              for i in range(60)]
    request = robot_request(webhook_of(wechat), "    atUsers: [zhangsan]\n  msgType: markdown", alerts)

    await sender.send(request)

    contents = [m["markdown"]["content"] for m in wechat.robot_messages]
    assert len(contents) > 1 and all(len(c.encode()) <= 4096 for c in contents)
    assert "".join(contents) == request.message.markdown + "\n<@zhangsan>"


async def test_invalid_robot_key_is_permanent_and_the_key_is_not_shown(wechat, sender, caplog):
    caplog.set_level(logging.DEBUG)
    wrong_key = "not-the-robot-key-7c1d"
    with pytest.raises(PermanentError) as caught:
        await sender.send(robot_request(webhook_of(wechat, wrong_key)))
    assert "93000" in str(caught.value) and "chatbot.webhook" in str(caught.value)
    assert wrong_key not in str(caught.value) and wrong_key not in caplog.text


async def test_robot_rate_limit_is_transient(wechat, sender):
    wechat.robot_rate_limit = 0
    with pytest.raises(TransientError, match="45009"):
        await sender.send(robot_request(webhook_of(wechat)))


async def test_a_receiver_with_users_and_a_robot_gets_both(wechat, sender, seed_yaml):
    receiver = f"""
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatReceiver
metadata: {{name: both, labels: {{type: global}}}}
spec:
  toUser: user1
  chatbot: {{webhook: {{value: "{webhook_of(wechat)}"}}}}
"""
    snapshot = snapshot_from_yaml(seed_yaml() + receiver, plugins=[nm_wechat])

    await sender.send(send_request(snapshot, "WechatReceiver/kubesphere-monitoring-system/both"))

    assert [m["touser"] for m in wechat.messages] == ["user1"] and len(wechat.robot_messages) == 1


def test_mobile_mentions_need_text_messages():
    manifests = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatReceiver
metadata: {name: robot, labels: {type: global}}
spec:
  msgType: markdown
  chatbot: {webhook: {value: "http://127.0.0.1:1/"}, atMobiles: ["13800001111"]}
"""
    [problem] = snapshot_from_yaml(manifests, plugins=[nm_wechat]).problems
    assert "atMobiles needs msgType text" in problem.message and problem.message.endswith("@ $.spec")
