"""The app: a tenant_access_token shared and refreshed, batch messages to users and departments in batches of
200, the frequency limit waited out as Feishu asks, unknown IDs reported."""

import json
import logging
from pathlib import Path

import nm_feishu
import pytest
import yaml
from nm_feishu.schema import FeishuConfigBlock, FeishuReceiverBlock

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import alert, block_request, send_all, send_request, snapshot_from_yaml, structure

pytestmark = pytest.mark.anyio

RECEIVER = "FeishuReceiver/kubesphere-monitoring-system/ops"


def app_request(feishu, receiver_spec: str, alerts=(), app_secret: str | None = None):
    manifests = f"""
apiVersion: v1
kind: Secret
metadata: {{name: feishu-app}}
stringData: {{appid: {feishu.app_id}, appsecret: {app_secret or feishu.app_secret}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: FeishuConfig
metadata: {{name: app, labels: {{type: default}}}}
spec:
  appID: {{valueFrom: {{secretKeyRef: {{name: feishu-app, key: appid}}}}}}
  appSecret: {{valueFrom: {{secretKeyRef: {{name: feishu-app, key: appsecret}}}}}}
  apiUrl: {feishu.api}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: FeishuReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
{receiver_spec}
"""
    snapshot = snapshot_from_yaml(manifests, plugins=[nm_feishu])
    assert not snapshot.problems, [str(p) for p in snapshot.problems]
    return send_request(snapshot, RECEIVER, alerts)


async def test_users_open_ids_and_departments_get_one_batch_message(feishu, sender):
    request = app_request(feishu, "  user: [test, ou_7d8a6e6df7621556ce0d21922b676706]\n  department: [dev]")

    assert await sender.send(request) is None

    [batch] = feishu.batches
    assert (batch["user_ids"], batch["open_ids"], batch["department_ids"]) == (
        ["test"], ["ou_7d8a6e6df7621556ce0d21922b676706"], ["dev"])
    assert batch["msg_type"] == "post" and batch["content"]["post"] == json.loads(request.message.post)


async def test_concurrent_sends_share_one_token_and_an_expired_one_is_fetched_again_once(feishu, sender):
    async def send_many(count: int) -> None:
        requests = [app_request(feishu, "  user: [test]", [alert(pod=f"web-{i}")]) for i in range(count)]
        assert await send_all(sender, requests) == []

    await send_many(10)
    assert feishu.calls["token"] == 1
    feishu.expire_tokens()
    await send_many(10)

    assert feishu.calls["token"] == 2 and feishu.replies[99991663] == 10 and len(feishu.batches) == 20


async def test_200_users_and_200_departments_go_in_one_request_and_more_are_refused(feishu, sender):
    users = [f"u{i}" for i in range(100)] + [f"ou_{i:032x}" for i in range(100)]
    departments = [f"od-{i:016x}" for i in range(200)]
    feishu.users, feishu.departments = frozenset(users), frozenset(departments)

    await sender.send(app_request(feishu, f"  user: {users}\n  department: {departments}"))

    [batch] = feishu.batches
    assert batch["user_ids"] + batch["open_ids"] == users and batch["department_ids"] == departments
    with pytest.raises(ValueError, match="user lists 201 entries; the most is 200"):
        nm_feishu.FeishuReceiverSpec(user=(*users, "one-more"))


async def test_unknown_ids_are_warnings_of_a_successful_send(feishu, sender):
    report = await sender.send(app_request(feishu, "  user: [test, left-the-company]\n  department: [dev, gone]"))

    assert report is not None and sorted(report.warnings) == [
        "Feishu did not deliver to departments unknown to the app: gone",
        "Feishu did not deliver to user IDs unknown to the app: left-the-company",
    ]


async def test_the_frequency_limit_is_waited_out_as_feishu_says(feishu, sender):
    feishu.rate_limit_next = 1
    with pytest.raises(TransientError, match="99991400") as caught:
        await sender.send(app_request(feishu, "  user: [test]"))
    assert caught.value.retry_after == 3.0  # x-ogw-ratelimit-reset


async def test_a_wrong_app_secret_is_permanent_and_never_shown(feishu, sender, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-app-secret-0c9f4a"
    with pytest.raises(PermanentError) as caught:
        await sender.send(app_request(feishu, "  user: [test]", app_secret=wrong))
    assert "10014" in str(caught.value) and "appSecret" in str(caught.value)
    assert "FeishuConfig/kubesphere-monitoring-system/app" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in caplog.text


async def test_a_long_notification_reaches_the_users_whole_in_order(feishu, sender):
    alerts = [alert(annotations={"summary": f"Pod web-{i} 内存使用率超过 90%"}, pod=f"web-{i}") for i in range(300)]
    request = app_request(feishu, "  user: [test]\n  tmplType: text", alerts)

    await sender.send(request)

    assert len(feishu.batches) > 1
    assert "".join(feishu.text_of(b) for b in feishu.batches) == request.message.text


async def test_a_retry_after_the_limit_half_way_sends_only_the_rest(feishu, sender):
    alerts = [alert(annotations={"summary": f"Pod web-{i} 内存使用率超过 90%"}, pod=f"web-{i}") for i in range(300)]
    request = app_request(feishu, "  user: [test]", alerts)
    rows = next(iter(json.loads(request.message.post).values()))["content"]
    feishu.rate_limit_call = 2

    with pytest.raises(TransientError, match="99991400"):
        await sender.send(request)
    assert len(feishu.batches) == 1
    await sender.send(request)

    assert len(feishu.batches) > 2
    assert feishu.rows_of(feishu.batches) == rows  # once each, in order


async def test_the_documented_v2beta2_blocks_send_through_the_fake(feishu, sender):
    """config.md's and receiver.md's blocks as written, but for the robot's webhook and the API, the fake's."""
    docs = Path(__file__).parent / "docs"
    [config], [receiver] = ([yaml.safe_load((docs / f"{kind}-v2beta2-feishu.yaml").read_text())["spec"]["feishu"]]
                            for kind in ("config", "receiver"))
    config["apiUrl"] = feishu.api
    robot, webhook = feishu.robot("docs", secret="docs-robot-secret", keywords=("kubesphere",))
    secrets = {"defalut-config-secret": {"appkey": feishu.app_id, "appsecret": feishu.app_secret},
               "global-receiver-secret": {"webhook": webhook, "secret": "docs-robot-secret"}}
    request = block_request(structure(receiver, FeishuReceiverBlock, "$.spec.feishu"),
                            structure(config, FeishuConfigBlock, "$.spec.feishu"), channel="feishu", secrets=secrets)

    assert await sender.send(request) is None

    [message] = robot.messages  # text, as the block's tmplType says; signed: the fake checked it
    assert message["content"] == {"text": request.message.text + "\n\n[Keywords] kubesphere"}
    [batch] = feishu.batches
    assert (batch["user_ids"], batch["department_ids"], batch["content"]) == (
        ["test"], ["dev"], {"text": request.message.text})
