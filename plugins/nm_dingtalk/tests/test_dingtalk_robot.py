"""Group robots: signed, with keywords and mentions, split within 19,960 bytes, 20 a minute without loss."""

import logging

import pytest

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import alert

pytestmark = pytest.mark.anyio

SIGNING_SECRET = "SEC6b0f1d2e3c4a5b69788f9e0d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6978877"


def chatbot_spec(keywords: str = "[kubesphere]", signed: bool = True) -> str:
    secret = "\n    secret: {name: dingtalk, key: secret}" if signed else ""
    return f"""  chatbot:
    webhook: {{name: dingtalk, key: webhook}}
    keywords: {keywords}{secret}"""


def many_alerts(count: int) -> list:
    return [alert(annotations={"summary": f"节点 node-{i} 磁盘空间不足。请尽快清理 /var/lib/docker"}, node=f"node-{i}",
                  namespace="kube-system") for i in range(count)]


async def test_a_signed_robot_with_keywords_gets_the_text_and_the_keyword(dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", secret=SIGNING_SECRET, keywords=("kubesphere",))
    request = v1_request(chatbot_spec(), webhook=webhook, secret=SIGNING_SECRET)

    assert await sender.send(request) is None

    [message] = robot.messages
    assert message["msgtype"] == "text"
    assert message["text"]["content"] == request.message.text + "\n\n[Keywords] kubesphere"  # as the original adds it
    assert "at" not in message


async def test_text_that_has_a_keyword_is_left_as_it_is(dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", keywords=("TestAlert",))
    request = v1_request(chatbot_spec("[TestAlert, kubesphere]", signed=False), webhook=webhook)

    await sender.send(request)

    assert robot.texts() == [request.message.text]


async def test_a_robot_whose_keywords_are_not_configured_refuses_and_says_what_to_set(dingtalk, sender, v1_request):
    _, webhook = dingtalk.robot("ops", keywords=("告警",))
    with pytest.raises(PermanentError) as caught:
        await sender.send(v1_request(chatbot_spec("[]", signed=False), webhook=webhook))
    message = str(caught.value)
    assert "310000" in message and "keywords not in content" in message and "chatbot.keywords" in message
    assert message.startswith("DingTalk robot of DingTalkConfig/kubesphere-monitoring-system/default-dingtalk-config")


async def test_a_wrong_signing_secret_is_permanent_and_never_shown(dingtalk, sender, v1_request, caplog):
    caplog.set_level(logging.DEBUG)
    robot, webhook = dingtalk.robot("ops", secret=SIGNING_SECRET, keywords=("kubesphere",))
    wrong = "SECnot-the-robots-secret-3141592653589793"

    with pytest.raises(PermanentError) as caught:
        await sender.send(v1_request(chatbot_spec(), webhook=webhook, secret=wrong))

    assert "sign not match" in str(caught.value) and "chatbot.secret" in str(caught.value)
    for secret in (wrong, robot.token):
        assert secret not in str(caught.value) and secret not in caplog.text
    assert robot.messages == []


async def test_an_unknown_robot_token_is_permanent(dingtalk, sender, v1_request):
    with pytest.raises(PermanentError, match=r"300005.*check chatbot\.webhook"):
        await sender.send(v1_request(chatbot_spec(signed=False),
                                     webhook=f"{dingtalk.url}/robot/send?access_token=removed-robot-token"))


async def test_an_unreachable_robot_is_transient_without_its_token(sender, v1_request, caplog):
    caplog.set_level(logging.DEBUG)
    token = "0f9e8d7c6b5a49382716abcdef0123456789abcdef0123456789abcdef012345"
    with pytest.raises(TransientError) as caught:
        await sender.send(v1_request(chatbot_spec(), webhook=f"http://127.0.0.1:9/robot/send?access_token={token}",
                                     secret=SIGNING_SECRET))
    assert "DingTalk robot unreachable" in str(caught.value)
    for secret in (token, SIGNING_SECRET):
        assert secret not in str(caught.value) and secret not in caplog.text


async def test_a_long_notification_arrives_whole_in_order_within_the_limit(dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", secret=SIGNING_SECRET, keywords=("kubesphere",))
    request = v1_request(chatbot_spec(), alerts=many_alerts(400), webhook=webhook, secret=SIGNING_SECRET)

    await sender.send(request)

    texts = robot.texts()
    footer = "\n\n[Keywords] kubesphere"
    assert len(texts) > 2 and all(len(t.encode()) <= 19960 and t.endswith(footer) for t in texts)
    assert "".join(t.removesuffix(footer) for t in texts) == request.message.text


async def test_the_twenty_first_message_in_a_minute_waits_instead_of_being_refused(dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", keywords=("kubesphere",))
    for i in range(20):
        await sender.send(v1_request(chatbot_spec(signed=False), alerts=[alert(pod=f"web-{i}")], webhook=webhook))

    with pytest.raises(TransientError) as caught:
        await sender.send(v1_request(chatbot_spec(signed=False), alerts=[alert(pod="web-20")], webhook=webhook))

    assert 0 < caught.value.retry_after <= 60 and "20 per minute" in str(caught.value)
    assert len(robot.messages) == 20 and dingtalk.replies[130101] == 0  # DingTalk never had to refuse one


async def test_too_fast_from_dingtalk_is_transient_with_a_minute_to_wait(dingtalk, sender, v1_request):
    """Another system posting to the same robot uses up its 20 a minute: DingTalk's 130101 is waited out."""
    _, webhook = dingtalk.robot("ops", keywords=("kubesphere",), per_minute=0)
    with pytest.raises(TransientError, match="130101") as caught:
        await sender.send(v1_request(chatbot_spec(signed=False), webhook=webhook))
    assert caught.value.retry_after == 60


async def test_a_retry_after_a_refusal_half_way_sends_only_the_rest(dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", keywords=("kubesphere",), per_minute=2)
    request = v1_request(chatbot_spec(signed=False), alerts=many_alerts(400), webhook=webhook)
    with pytest.raises(TransientError, match="130101"):
        await sender.send(request)
    assert len(robot.messages) == 2

    robot.per_minute = 20  # a minute later
    await sender.send(request)

    footer = "\n\n[Keywords] kubesphere"
    assert "".join(t.removesuffix(footer) for t in robot.texts()) == request.message.text  # once each, in order


async def test_mentions_in_markdown_are_in_the_text_and_ping_once(dingtalk, sender, v2_request):
    robot, webhook = dingtalk.robot("ops", secret=SIGNING_SECRET)
    request = v2_request(
        {"chatbot": {"webhook": {"value": webhook}, "secret": {"value": SIGNING_SECRET},
                     "atMobiles": ["13800001111"], "atUsers": ["manager4711"]}, "tmplType": "markdown"},
        alerts=many_alerts(400),
    )

    await sender.send(request)

    first, *rest = robot.messages
    assert first["msgtype"] == "markdown" and first["markdown"]["title"] == request.message.title
    assert first["markdown"]["text"].endswith("\n@13800001111 @manager4711")
    assert first["at"] == {"atMobiles": ["13800001111"], "atUserIds": ["manager4711"], "isAtAll": False}
    assert rest and all("at" not in m and "@13800001111" not in m["markdown"]["text"] for m in rest)
    assert all(len(t.encode()) <= 19960 for t in robot.texts())
    assert "".join([first["markdown"]["text"].removesuffix("\n@13800001111 @manager4711")]
                   + [m["markdown"]["text"] for m in rest]) == request.message.markdown


async def test_at_all_in_text(dingtalk, sender, v2_request):
    robot, webhook = dingtalk.robot("ops")
    await sender.send(v2_request({"chatbot": {"webhook": {"value": webhook}, "atAll": True}}))
    [message] = robot.messages
    assert message["at"]["isAtAll"] is True and message["msgtype"] == "text"


async def test_a_markdown_receiver_gets_its_title_template_as_the_title(dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", keywords=("kubesphere",))
    receiver = '{tmplType: markdown, titleTemplate: "集群告警 {{ alerts | length }} 条"}'
    request = v1_request(chatbot_spec(signed=False), alerts=[alert(pod="web-1"), alert(pod="web-2")],
                         receiver=receiver, webhook=webhook)

    await sender.send(request)

    [message] = robot.messages
    assert message["msgtype"] == "markdown" and message["markdown"]["title"] == "集群告警 2 条"
    assert message["markdown"]["text"] == request.message.markdown + "\n\n[Keywords] kubesphere"


def robot_and_chat_spec(api_url: str) -> str:
    return chatbot_spec(signed=False) + f"""
  conversation:
    appkey: {{name: dingtalk, key: appkey}}
    appsecret: {{name: dingtalk, key: appsecret}}
    chatid: chat-ops
    apiUrl: {api_url}"""


async def test_a_robot_holding_its_message_does_not_hold_the_chat_back_and_the_retry_sends_only_it(
        dingtalk, sender, v1_request):
    robot, webhook = dingtalk.robot("ops", keywords=("kubesphere",), per_minute=0)
    request = v1_request(robot_and_chat_spec(dingtalk.url), webhook=webhook, appkey=dingtalk.appkey,
                         appsecret=dingtalk.appsecret)

    with pytest.raises(TransientError, match="130101") as caught:
        await sender.send(request)
    assert caught.value.retry_after == 60 and dingtalk.chat_texts("chat-ops") == [request.message.text]

    robot.per_minute = 20  # a minute later
    assert await sender.send(request) is None
    assert len(robot.messages) == 1 and dingtalk.chat_texts("chat-ops") == [request.message.text]


async def test_a_misconfigured_robot_beside_a_working_chat_is_a_warning_of_a_delivered_notification(
        dingtalk, sender, v1_request):
    _, webhook = dingtalk.robot("ops", keywords=("告警",))  # chatbot.keywords does not list it
    request = v1_request(robot_and_chat_spec(dingtalk.url), webhook=webhook, appkey=dingtalk.appkey,
                         appsecret=dingtalk.appsecret)

    report = await sender.send(request)

    assert report is not None and "keywords not in content" in report.warnings[0]
    assert dingtalk.chat_texts("chat-ops") == [request.message.text]
