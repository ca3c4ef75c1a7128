"""Sending to the fake Telegram Bot API: what arrives in which chat, and what the operator is told on failure."""

import logging
import re

import nm_telegram
import pytest

from nmcore.sdk import PermanentError, SendReport, TransientError
from nmcore.testing import alert, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "TelegramReceiver/kubesphere-monitoring-system/test-user-telegram"
GLOBAL = "TelegramReceiver/kubesphere-monitoring-system/global-telegram"
SECRET_TOKEN = "987654321:AAH-never-show-this-bot-token-anywhere"


def request_for(yaml_text: str, receiver: str = TENANT, alerts=()):
    snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_telegram])
    assert snapshot.problems == ()
    return send_request(snapshot, receiver, alerts)


def many_alerts(n: int, **extra: str):
    return [alert("firing", {"message": "restarted"}, namespace="demo", pod=f"pod-{i:03d}", **extra) for i in range(n)]


def pods_in(texts: list[str]) -> list[str]:
    return re.findall(r"pod = (pod-\d+)", "\n".join(texts))


async def test_the_tenant_receiver_sends_the_text_to_its_chat_with_the_configs_token(telegram, sender, seed):
    request = request_for(seed(telegram.url), alerts=[alert("firing", {"message": "restarted 5 times"},
                                                            alertname="KubePodCrashLooping", namespace="demo")])
    assert await sender.send(request) is None
    [text] = telegram.in_chat("@alert_room")
    assert text.startswith("[FIRING] KubePodCrashLooping: restarted 5 times in demo")
    assert "  namespace = demo" in text
    assert [s.token for s in telegram.sent] == [telegram.tokens.copy().pop()]


async def test_every_chat_gets_the_notification_and_mentions_are_plain_usernames(telegram, sender, seed):
    yaml_text = seed(telegram.url, tenant_chats="['@alert_room', 424242, '-1001000000003']",
                     mentions="[alice_ops, '@bob_sre']")
    assert await sender.send(request_for(yaml_text)) is None
    for chat in ("@alert_room", 424242, -1001000000003):
        [text] = telegram.in_chat(chat)
        assert text.endswith("\n\n@alice_ops @bob_sre")


async def test_200_alerts_arrive_complete_in_order_within_4096_utf16_units(telegram, sender, seed):
    alerts = many_alerts(200, note="📟 paged")  # each emoji is two UTF-16 units: a limit by len() would overflow
    request = request_for(seed(telegram.url, mentions="[alice_ops]"), alerts=alerts)
    assert await sender.send(request) is None
    texts = telegram.in_chat("@alert_room")
    assert len(texts) > 3
    assert pods_in(texts) == [f"pod-{i:03d}" for i in range(200)]
    assert [t.splitlines()[0] for t in texts] == [f"(part {i}/{len(texts)})" for i in range(1, len(texts) + 1)]
    assert all(len(t.encode("utf-16-le")) // 2 <= 4096 for t in texts)
    assert [t.count("@alice_ops") for t in texts] == [1] + [0] * (len(texts) - 1)


async def test_one_alert_longer_than_a_message_is_cut_not_truncated(telegram, sender, seed):
    words = " ".join(f"w{i}" for i in range(3000))
    await sender.send(request_for(seed(telegram.url), alerts=[alert("firing", {"message": words})]))
    texts = telegram.in_chat("@alert_room")
    assert len(texts) >= 8 and all(len(t) <= 4096 for t in texts)
    joined = "".join("".join(t.split("\n", 1)[1].split()) for t in texts)
    assert joined.count("".join(words.split())) == 2  # the subject line and the alert's own line


async def test_flood_control_part_way_waits_as_told_and_the_retry_sends_only_the_rest(telegram, sender, seed):
    request = request_for(seed(telegram.url), alerts=many_alerts(1000))
    with pytest.raises(TransientError, match=r"429 Too Many Requests: retry after \d+.*after 20 of \d+ messages") as caught:
        await sender.send(request)
    assert 1 <= caught.value.retry_after <= 60
    telegram.a_minute_passes()
    assert await sender.send(request) is None
    assert pods_in(telegram.in_chat("@alert_room")) == [f"pod-{i:03d}" for i in range(1000)]


async def test_a_bad_gateway_is_transient(telegram, sender, seed):
    telegram.outage = 1
    with pytest.raises(TransientError, match="HTTP 502"):
        await sender.send(request_for(seed(telegram.url)))


@pytest.mark.parametrize(("chats", "expected"), [
    ("[-1009999999999]", r"chat not found: check the chat in TelegramReceiver/.*/test-user-telegram.*/start"),
    ("['@gone_channel']", r"403 Forbidden: bot is not a member of the channel chat: add the bot"),
    ("[555]", r"403 Forbidden: bot was blocked by the user"),
    ("[-4000001]", r"now a supergroup; change chat -4000001 to -1001000000009 in TelegramReceiver/"),
])
async def test_permanent_refusals_say_what_to_change(telegram, sender, seed, chats, expected):
    with pytest.raises(PermanentError, match=expected):
        await sender.send(request_for(seed(telegram.url, tenant_chats=chats)))
    assert telegram.sent == []


@pytest.mark.parametrize("token", ["987654321:AAH-a-token-telegram-has-never-issued", "not-a-token"])
async def test_a_token_telegram_rejects_names_the_secret_to_fix(telegram, sender, seed, token):
    with pytest.raises(PermanentError, match=r"does not accept the bot token. Put the token @BotFather gave into "
                                             r"Secret 'test-user-telegram-secret' key 'token'"):
        await sender.send(request_for(seed(telegram.url, token=token)))


async def test_one_bad_chat_among_several_is_a_warning_and_the_others_get_it(telegram, sender, seed):
    report = await sender.send(request_for(seed(telegram.url, tenant_chats="['@alert_room', -1009999999999]")))
    assert isinstance(report, SendReport)
    [warning] = report.warnings
    assert "chat -1009999999999" in warning and "chat not found" in warning
    assert len(telegram.in_chat("@alert_room")) == 1


async def test_a_reply_that_is_not_the_bot_api_points_at_api_url(telegram, sender, seed):
    with pytest.raises(PermanentError, match=r"HTTP 404, not the Bot API's JSON.*check apiUrl of TelegramConfig/"):
        await sender.send(request_for(seed(telegram.url + "/nothing-here")))


async def test_the_token_in_the_url_path_is_hidden_in_the_request_log_and_every_refusal(telegram, sender, seed, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; an operator may turn it up
    telegram.tokens.add(SECRET_TOKEN)
    errors = []
    for prepare in (lambda: None, lambda: setattr(telegram, "outage", 1),
                    lambda: setattr(telegram, "group_per_minute", 0), lambda: telegram.tokens.discard(SECRET_TOKEN)):
        prepare()
        request = request_for(seed(telegram.url, token=SECRET_TOKEN))
        try:
            await sender.send(request)
        except (TransientError, PermanentError) as exc:
            errors.append(f"{exc} {exc!r}")
    assert len(errors) == 3 and "Unauthorized" in errors[-1]
    assert telegram.sent[0].token == SECRET_TOKEN
    assert "/<redacted>/sendMessage" in caplog.text  # the whole bot<token> path segment is hidden
    for text in [*errors, caplog.text, repr(sender), repr(request)]:
        assert SECRET_TOKEN not in text
        assert SECRET_TOKEN.split(":")[1] not in text


async def test_a_receivers_own_template_is_what_arrives(telegram, sender, seed):
    yaml_text = seed(telegram.url) + """
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramReceiver
metadata: {name: templated, namespace: kubesphere-monitoring-system, labels: {type: global}}
spec: {channels: ['@alert_room'], template: "{{ alerts | length }} alert(s), first: {{ alerts[0].labels.pod }}"}
"""
    request = request_for(yaml_text, "TelegramReceiver/kubesphere-monitoring-system/templated",
                          [alert(pod="web-1"), alert(pod="web-2")])
    await sender.send(request)
    assert telegram.in_chat("@alert_room") == ["2 alert(s), first: web-1"]
