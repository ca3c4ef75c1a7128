"""Group robots: signed in the body, keywords, post and text, split within 20 KB, 5 a second without loss."""

import json
import logging

import anyio
import nm_feishu
import pytest

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import alert, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

SIGNING_SECRET = "qVMdq8R7Gm1Jp4cUoTtKdb"
RECEIVER = "FeishuReceiver/kubesphere-monitoring-system/robot"


def robot_request(webhook: str, extra: str = "", alerts=(), secret: str | None = None):
    signing = "\n    secret: {valueFrom: {secretKeyRef: {name: robot, key: secret}}}" if secret else ""
    manifests = f"""
apiVersion: v1
kind: Secret
metadata: {{name: robot}}
stringData: {{webhook: "{webhook}", secret: "{secret or ''}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: FeishuReceiver
metadata: {{name: robot, labels: {{type: global}}}}
spec:
  chatbot:
    webhook: {{valueFrom: {{secretKeyRef: {{name: robot, key: webhook}}}}}}{signing}
{extra}
"""
    snapshot = snapshot_from_yaml(manifests, plugins=[nm_feishu])
    assert not snapshot.problems, [str(p) for p in snapshot.problems]
    assert snapshot.targets[RECEIVER].config is None  # a robot needs no FeishuConfig
    return send_request(snapshot, RECEIVER, alerts)


def many_alerts(count: int) -> list:
    return [alert(annotations={"summary": f"节点 node-{i} 磁盘空间不足。请尽快清理 /var/lib/docker"}, node=f"node-{i}")
            for i in range(count)]


async def test_a_signed_robot_gets_a_post_with_the_subject_as_title(feishu, sender):
    robot, webhook = feishu.robot("ops", secret=SIGNING_SECRET)
    request = robot_request(webhook, secret=SIGNING_SECRET)

    assert await sender.send(request) is None

    [message] = robot.messages
    assert message["msg_type"] == "post"
    assert message["content"]["post"] == json.loads(request.message.post)  # as the post template renders it
    assert message["content"]["post"]["en_us"]["title"] == request.message.subject
    assert len(message["timestamp"]) == 10  # seconds, as Feishu wants them; the fake checked the sign


async def test_text_without_a_keyword_gets_the_keywords_line(feishu, sender):
    robot, webhook = feishu.robot("ops", keywords=("kubesphere",))
    request = robot_request(webhook, "    keywords: [kubesphere, 告警]\n  tmplType: text")

    await sender.send(request)

    [message] = robot.messages
    assert message == {"msg_type": "text", "content": {"text": request.message.text + "\n\n[Keywords] kubesphere,告警"}}


async def test_a_robot_whose_keyword_is_missing_refuses_and_says_what_to_set(feishu, sender):
    _, webhook = feishu.robot("ops", keywords=("告警",))
    with pytest.raises(PermanentError) as caught:
        await sender.send(robot_request(webhook))
    assert "19024" in str(caught.value) and "chatbot.keywords" in str(caught.value)
    assert str(caught.value).startswith(f"Feishu robot of {RECEIVER}")


async def test_a_wrong_signing_secret_is_permanent_and_never_shown(feishu, sender, caplog):
    caplog.set_level(logging.DEBUG)
    robot, webhook = feishu.robot("ops", secret=SIGNING_SECRET)
    wrong = "not-the-robot-secret-1123581321"

    with pytest.raises(PermanentError) as caught:
        await sender.send(robot_request(webhook, secret=wrong))

    assert "19021" in str(caught.value) and "chatbot.secret" in str(caught.value)
    for secret in (wrong, robot.hook):
        assert secret not in str(caught.value) and secret not in caplog.text


async def test_an_unreachable_robot_is_transient_and_its_hook_id_never_shown(sender, caplog):
    caplog.set_level(logging.DEBUG)
    hook = "2b5c7e1d-96f3-4f6a-a0c1-8f3e21d4c9b0"
    with pytest.raises(TransientError) as caught:
        await sender.send(robot_request(f"http://127.0.0.1:9/open-apis/bot/v2/hook/{hook}"))
    assert "Feishu robot unreachable" in str(caught.value)
    assert hook not in str(caught.value) and hook not in caplog.text


@pytest.mark.parametrize("tmpl_type", ["post", "text"])
async def test_a_long_notification_arrives_whole_in_order_within_20_kb(feishu, sender, tmpl_type):
    robot, webhook = feishu.robot("ops", secret=SIGNING_SECRET)
    request = robot_request(webhook, f"  tmplType: {tmpl_type}", alerts=many_alerts(300), secret=SIGNING_SECRET)

    await sender.send(request)

    assert len(robot.messages) > 2 and feishu.replies[9499] == 0
    if tmpl_type == "text":
        assert "".join(feishu.text_of(m) for m in robot.messages) == request.message.text  # whole, in order
    else:
        assert feishu.rows_of(robot.messages) == next(iter(json.loads(request.message.post).values()))["content"]


async def test_the_sixth_message_in_a_second_waits_instead_of_being_refused(feishu, sender):
    robot, webhook = feishu.robot("ops")
    for i in range(5):
        await sender.send(robot_request(webhook, alerts=[alert(pod=f"web-{i}")]))

    with pytest.raises(TransientError, match="5 per second") as caught:
        await sender.send(robot_request(webhook, alerts=[alert(pod="web-5")]))

    assert 0 < caught.value.retry_after <= 1.0
    assert len(robot.messages) == 5 and feishu.replies[9499] == 0


async def test_too_many_requests_from_feishu_is_transient(feishu, sender):
    """Another system on the same robot used up its minute: Feishu's 9499 is retried, as the original did."""
    _, webhook = feishu.robot("ops", per_minute=0)
    with pytest.raises(TransientError, match="9499") as caught:
        await sender.send(robot_request(webhook))
    assert caught.value.retry_after == 1.0


async def test_a_post_without_a_keyword_gets_the_keywords_row_and_a_chinese_receiver_a_chinese_post(feishu, sender):
    robot, webhook = feishu.robot("ops", keywords=("kubesphere",))
    request = robot_request(webhook, "    keywords: [kubesphere]\n  language: zh-cn")

    await sender.send(request)

    [message] = robot.messages
    [page] = message["content"]["post"].values()
    assert list(message["content"]["post"]) == ["zh_cn"] and page["content"][-1] == [
        {"tag": "text", "text": "[Keywords] kubesphere"}]
    assert page["content"][:-1] == json.loads(request.message.post)["zh_cn"]["content"]


async def test_an_alert_longer_than_a_message_is_cut_between_its_lines_and_arrives_whole(feishu, sender):
    robot, webhook = feishu.robot("ops")
    summary = "\n".join(f"第 {i} 行：磁盘 /dev/sda{i % 9} 的使用率已超过 95%，请尽快清理。" for i in range(1500))
    request = robot_request(webhook, alerts=[alert(annotations={"summary": summary})])

    for _ in range(5):  # more than 5 messages: the robot's rate holds the rest, as the core's retry would
        try:
            await sender.send(request)
            break
        except TransientError as exc:
            await anyio.sleep(exc.retry_after)

    assert len(robot.messages) > 5 and feishu.replies[9499] == 0  # each within 20 KB (the fake refuses more)
    [original] = [row for row in next(iter(json.loads(request.message.post).values()))["content"]
                  if summary[:20] in row[0]["text"]]
    received = "".join(row[0]["text"] for row in feishu.rows_of(robot.messages) if len(row) == 1)
    assert original[0]["text"] in received
