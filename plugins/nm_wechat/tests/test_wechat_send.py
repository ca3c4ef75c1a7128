"""Sending through the fake WeChat Work API: what arrives, and what an operator is told when it does not."""

import asyncio
import base64
import json
import logging

import nm_wechat
import pytest

from nmcore.sdk import PermanentError, SendReport, TransientError
from nmcore.testing import EndlessReply, alert, send_request, serving, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "WechatReceiver/kubesphere-monitoring-system/test-user-wechat"
GLOBAL = "WechatReceiver/kubesphere-monitoring-system/global-wechat-wechat"
SECRET = "s3cr3t-of-the-wechat-application"


def receiver_yaml(api_url: str, spec: str, secret: str = "test") -> str:
    """A default WechatConfig for the fake and one global receiver with `spec`."""
    encoded = base64.b64encode(secret.encode()).decode()
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: wechat-app}}
data: {{wechat: {encoded}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatConfig
metadata: {{name: app, labels: {{type: default}}}}
spec:
  wechatApiUrl: {api_url}
  wechatApiSecret: {{name: wechat-app, key: wechat}}
  wechatApiCorpId: wwfd76b24f06513578
  wechatApiAgentId: 1000002
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
{spec}
"""


def ops_request(api_url: str, spec: str, secret: str = "test", alerts=()):
    snapshot = snapshot_from_yaml(receiver_yaml(api_url, spec, secret), plugins=[nm_wechat])
    assert not snapshot.problems, [str(p) for p in snapshot.problems]
    return send_request(snapshot, "WechatReceiver/kubesphere-monitoring-system/ops", alerts)


async def test_seed_tenant_receiver_delivers_to_its_users_parties_and_tags(wechat, sender, seed_snapshot):
    request = send_request(seed_snapshot, TENANT, [alert(namespace="demo", pod="web-1")])

    assert await sender.send(request) is None

    [message] = wechat.messages
    assert (message["touser"], message["toparty"], message["totag"]) == ("user1|user2", "party1|party2", "tag1|tag2")
    assert message["agentid"] == 1000002 and message["msgtype"] == "text" and message["safe"] == 0
    assert message["text"]["content"] == request.message.text
    assert "pod = web-1" in message["text"]["content"]


async def test_seed_global_receiver_uses_the_default_config(wechat, sender, seed_snapshot):
    await sender.send(send_request(seed_snapshot, GLOBAL))

    [message] = wechat.messages
    assert (message["touser"], message["toparty"], message["totag"]) == ("global", "global", "global")


async def test_markdown_receiver_sends_the_markdown_rendering(wechat, sender):
    request = ops_request(wechat.url, "  toUser: [user1]\n  msgType: markdown")

    await sender.send(request)

    [message] = wechat.messages
    assert message["msgtype"] == "markdown" and message["markdown"]["content"] == request.message.markdown
    assert "touser" in message and "toparty" not in message and "totag" not in message


async def test_unknown_recipients_are_reported_as_warnings(wechat, sender):
    request = ops_request(wechat.url, "  toUser: user1 | ghost\n  toTag: tag1 | no-such-tag")

    report = await sender.send(request)

    assert isinstance(report, SendReport)
    assert len(wechat.messages) == 1
    assert any("users" in w and w.endswith(": ghost") for w in report.warnings), report.warnings
    assert any("tags" in w and w.endswith(": no-such-tag") for w in report.warnings), report.warnings


async def test_all_recipients_unknown_is_a_permanent_error_with_a_hint(wechat, sender):
    with pytest.raises(PermanentError) as caught:
        await sender.send(ops_request(wechat.url, "  toUser: ghost"))
    assert "81013" in str(caught.value) and "visible range" in str(caught.value)


async def test_rate_limit_is_transient_and_waits(wechat, sender):
    wechat.rate_limit = 0
    with pytest.raises(TransientError) as caught:
        await sender.send(ops_request(wechat.url, "  toUser: user1"))
    assert "45009" in str(caught.value) and "api freq out of limit" in str(caught.value)
    assert caught.value.retry_after and caught.value.retry_after >= 60


async def test_system_busy_is_transient(wechat, sender):
    wechat.fail_with = (-1, "system busy")
    with pytest.raises(TransientError, match="system busy"):
        await sender.send(ops_request(wechat.url, "  toUser: user1"))


@pytest.mark.parametrize(("code", "errmsg", "hint"), [
    (60020, "not allow to access from your ip, from ip: 127.0.0.1", "trusted IPs"),
    (301002, "not allow to operate another agent", "same application"),
])
async def test_configuration_errors_are_permanent_with_what_to_change(wechat, sender, code, errmsg, hint):
    wechat.fail_with = (code, errmsg)
    with pytest.raises(PermanentError) as caught:
        await sender.send(ops_request(wechat.url, "  toUser: user1"))
    message = str(caught.value)
    assert str(code) in message and errmsg in message and hint in message
    assert "WechatConfig/kubesphere-monitoring-system/app" in message


async def test_wrong_agent_id_is_named(wechat, sender):
    wechat.agent_id = 1000003
    with pytest.raises(PermanentError, match=r"40056.*wechatApiAgentId"):
        await sender.send(ops_request(wechat.url, "  toUser: user1"))


async def test_wrong_secret_is_permanent_and_never_shown(wechat, sender, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentError) as caught:
        await sender.send(ops_request(wechat.url, "  toUser: user1", secret=SECRET))
    message = str(caught.value)
    assert "40001" in message and "wechatApiSecret" in message
    assert "WechatConfig/kubesphere-monitoring-system/app" in message
    assert SECRET not in message and SECRET not in caplog.text
    assert wechat.messages == []


async def test_neither_secret_nor_token_reach_the_logs(wechat, sender, caplog):
    wechat.secret = SECRET
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; an operator may turn it up

    await sender.send(ops_request(wechat.url, "  toUser: user1", secret=SECRET))

    [token] = wechat._live
    assert "HTTP Request: GET" in caplog.text  # httpx did log the URLs ...
    assert "corpsecret=<redacted>" in caplog.text and "access_token=<redacted>" in caplog.text
    assert SECRET not in caplog.text and token not in caplog.text  # ... without the values


async def test_malformed_reply_is_transient_and_hides_secret_and_token(sender):
    """aiohttp, under the core's client, raises its own error for a bad status line, with the URL and its query."""
    token = "the-access-token-of-the-application"

    async def broken_send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"GET /cgi-bin/gettoken"):
            body = json.dumps({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}).encode()
            reply_head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d"
            writer.write(reply_head % len(body) + b"\r\n\r\n" + body)
        else:
            writer.write(b"HTTP/1.1 2xx garbage\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(broken_send, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(TransientError) as caught:
            await sender.send(ops_request(f"http://127.0.0.1:{port}/cgi-bin/", "  toUser: user1", secret=SECRET))
    finally:
        server.close()
        await server.wait_closed()
    message = str(caught.value)
    assert "message/send" in message and "access_token=<redacted>" in message
    assert SECRET not in message and token not in message
    assert caught.value.__suppress_context__  # the original error, URL included, is not chained for printing



async def test_api_url_that_is_not_wechat_work_is_permanent(wechat, sender):
    request = ops_request(wechat.url.replace("/cgi-bin/", "/elsewhere"), "  toUser: user1")
    with pytest.raises(PermanentError, match="HTTP 404"):
        await sender.send(request)


async def test_recipients_are_sent_in_batches_within_the_api_limits(wechat, sender):
    users = [f"u{i}" for i in range(2500)]
    parties = [f"p{i}" for i in range(150)]
    wechat.users = frozenset(users)
    wechat.parties = frozenset(parties)
    spec = f"  toUser: {' | '.join(users)}\n  toParty: [{', '.join(parties)}]"

    assert await sender.send(ops_request(wechat.url, spec)) is None

    batches = [(m.get("touser", "").split("|"), m.get("toparty", "").split("|")) for m in wechat.messages]
    assert [len(u) for u, _ in batches] == [1000, 1000, 500]
    assert [u for batch, _ in batches for u in batch] == users
    assert [p for _, batch in batches for p in batch if p] == parties
    assert [len([p for p in batch if p]) for _, batch in batches] == [100, 50, 0]


async def test_tmpl_type_markdown_and_an_own_template_shape_the_message(wechat, sender):
    """`tmplType` (v2beta2's name for msgType) picks the format; `template` is rendered in that format."""
    spec = "  toUser: [user1]\n  tmplType: markdown\n  language: zh-cn\n  template: \"**{{ alerts | length }}** 条\""
    request = ops_request(wechat.url, spec)

    assert await sender.send(request) is None

    [message] = wechat.messages
    assert message["msgtype"] == "markdown" and message["markdown"]["content"] == "**1** 条\n"


async def test_a_huge_reply_is_read_only_as_far_as_the_bound(sender):
    """An API URL answering 10 GB of garbage: a prefix is read, the send fails saying it is not WeChat Work."""
    server = EndlessReply(200, content_type="application/json")
    async with serving(server.app()) as url:
        request = ops_request(url + "/", "  toUser: user1")
        with pytest.raises(PermanentError, match="not a WeChat Work JSON reply"):
            await sender.send(request)
    assert server.requests == 1
    assert server.written < 32 * 1024 * 1024, f"{server.written:,} bytes of the reply were taken"
