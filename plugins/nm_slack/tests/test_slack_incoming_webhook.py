"""The second mode: a SlackReceiver with its own incoming-webhook URL (a credential), no SlackConfig."""

import logging
import re
from urllib.parse import quote

import nm_slack
import pytest

from nmcore import AlertGroup
from nmcore.manager import Manager
from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import EndlessReply, alert, send_request, serving, snapshot_from_yaml

pytestmark = pytest.mark.anyio

RECEIVER = "SlackReceiver/kubesphere-monitoring-system/ops-webhook"
HOOK_PATH = "/services/T0001/B0001/abcdefSECRETpath"


def webhook_yaml(url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: ops-slack-webhook}}
stringData: {{url: "{url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackReceiver
metadata:
  name: ops-webhook
  labels: {{type: global}}
spec:
  webhookUrl:
    valueFrom:
      secretKeyRef: {{name: ops-slack-webhook, key: url}}
"""


def request_for(url: str, alerts=()):
    snapshot = snapshot_from_yaml(webhook_yaml(url), plugins=[nm_slack])
    assert snapshot.problems == ()
    return send_request(snapshot, RECEIVER, alerts)


async def test_a_webhook_receiver_posts_to_the_webhooks_channel(slack, sender):
    await sender.send(request_for(slack.url + HOOK_PATH, [alert(namespace="demo", pod="<b>web-1</b>")]))
    [message] = slack.in_channel("alert")
    assert "• pod: `&lt;b&gt;web-1&lt;/b&gt;`" in message.blocks[1]["text"]["text"]


async def test_200_alerts_through_a_webhook_arrive_complete_and_in_order(slack, sender):
    alerts = [alert(namespace="demo", pod=f"pod-{i:03d}") for i in range(200)]
    await sender.send(request_for(slack.url + HOOK_PATH, alerts))
    texts = "\n".join(b["text"]["text"] for m in slack.in_channel("alert") for b in m.blocks)
    assert re.findall(r"pod-\d{3}", texts) == [f"pod-{i:03d}" for i in range(200)]


async def test_a_removed_webhook_is_permanent_with_advice_and_without_the_url(slack, sender):
    url = slack.url + "/services/T0001/B0001/revokedSECRETpath"
    with pytest.raises(PermanentError) as caught:
        await sender.send(request_for(url, [alert()]))
    message = str(caught.value)
    assert "HTTP 404 no_service" in message
    assert f"put its URL into webhookUrl of {RECEIVER}" in message
    assert "SECRET" not in message and slack.url not in message


async def test_a_rate_limited_webhook_is_transient_with_the_delay(slack, sender):
    slack.fail_next(status=429, retry_after=30, body="rate_limited")
    with pytest.raises(TransientError) as caught:
        await sender.send(request_for(slack.url + HOOK_PATH, [alert()]))
    assert caught.value.retry_after == 30
    assert "SECRET" not in str(caught.value)


async def test_a_huge_reply_to_a_webhook_post_is_not_read_whole(sender):
    server = EndlessReply(200, content_type="text/plain")
    async with serving(server.app()) as url:
        await sender.send(request_for(url + HOOK_PATH, [alert()]))  # 200 is delivered; the body is not needed
    assert server.written < 32 * 1024 * 1024, f"{server.written:,} bytes of the reply were taken"


@pytest.mark.parametrize("httpx_level", [None, logging.DEBUG], ids=["default", "httpx-at-debug"])
async def test_the_webhook_url_is_never_logged(slack, caplog, httpx_level):
    """httpx logs every request URL at INFO, and this URL is the credential: not at the default level, nor when
    an operator turns httpx's log up (then the line is scrubbed)."""
    httpx_log = logging.getLogger("httpx")
    saved = httpx_log.level
    httpx_log.setLevel(httpx_level or logging.NOTSET)
    caplog.set_level(logging.DEBUG)
    secret_url = slack.url + HOOK_PATH
    try:
        async with Manager.from_yaml(webhook_yaml(secret_url), plugins=[nm_slack]) as manager:
            await manager.wait_ready(5)
            await manager.submit(AlertGroup(alerts=(alert(namespace="demo"),)))
            await manager.drain(10)
    finally:
        httpx_log.setLevel(saved)
    assert len(slack.in_channel("alert")) == 1
    if httpx_level is not None:
        assert "HTTP Request: POST <redacted>" in caplog.text, "the line is there, scrubbed"
    for form in (HOOK_PATH, "abcdefSECRETpath", quote(secret_url, safe="")):
        assert form not in caplog.text
