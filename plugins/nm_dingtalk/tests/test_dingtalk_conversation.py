"""Enterprise conversations: the app's token shared and refreshed, chats served in order within 5,000 bytes."""

import logging
from pathlib import Path

import pytest
import yaml

from nmcore.sdk import PermanentError
from nmcore.testing import alert, send_all

pytestmark = pytest.mark.anyio

CHAT = "chat894f9f4d634eb283933af6c7102977b2"


def conversation_spec(api_url: str, chatid: str = CHAT) -> str:
    return f"""  conversation:
    appkey: {{name: dingtalk, key: appkey}}
    appsecret: {{name: dingtalk, key: appsecret}}
    chatid: {chatid}
    apiUrl: {api_url}"""


@pytest.fixture
def chat_request(dingtalk, v1_request):
    def build(alerts=(), appsecret: str | None = None):
        return v1_request(conversation_spec(dingtalk.url), alerts=alerts, appkey=dingtalk.appkey,
                          appsecret=appsecret or dingtalk.appsecret)
    return build


async def test_the_chat_gets_the_text_with_one_token_for_concurrent_sends(dingtalk, sender, chat_request):
    requests = [chat_request([alert(pod=f"web-{i}", namespace="demo")]) for i in range(20)]

    assert await send_all(sender, requests) == []

    assert dingtalk.calls["gettoken"] == 1
    assert sorted(dingtalk.chat_texts(CHAT)) == sorted(r.message.text for r in requests)
    assert {m["msg"]["msgtype"] for m in dingtalk.chat_messages} == {"text"}


async def test_an_expired_token_is_fetched_again_once_and_the_sends_go_through(dingtalk, sender, chat_request):
    await sender.send(chat_request())
    dingtalk.expire_tokens()

    errors = await send_all(sender, [chat_request([alert(pod=f"web-{i}")]) for i in range(10)])

    assert errors == []
    assert dingtalk.replies[42001] == 10 and dingtalk.calls["gettoken"] == 2
    assert len(dingtalk.chat_messages) == 11


async def test_wrong_app_credentials_are_permanent_and_the_secret_never_shown(dingtalk, sender, chat_request, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-app-secret-2718281828"

    with pytest.raises(PermanentError) as caught:
        await sender.send(chat_request(appsecret=wrong))

    message = str(caught.value)
    assert "40089" in message and "conversation.appkey and conversation.appsecret" in message
    assert "DingTalkConfig/kubesphere-monitoring-system/default-dingtalk-config" in message
    assert wrong not in message and wrong not in caplog.text


async def test_a_long_notification_reaches_every_chat_whole_in_order(dingtalk, sender, v2_request):
    alerts = [alert(annotations={"summary": f"Pod web-{i} 内存使用率超过 90%"}, pod=f"web-{i}") for i in range(150)]
    request = v2_request(
        {"conversation": {"chatids": [CHAT, "chat-ops"]}, "tmplType": "markdown"},
        {"conversation": {"appkey": {"value": dingtalk.appkey},
                          "appsecret": {"valueFrom": {"secretKeyRef": {"name": "app", "key": "secret"}}},
                          "apiUrl": dingtalk.url}},
        alerts=alerts, secrets={"app": {"secret": dingtalk.appsecret}},
    )

    await sender.send(request)

    for chat in (CHAT, "chat-ops"):
        texts = dingtalk.chat_texts(chat)
        assert len(texts) > 1 and all(len(t.encode()) <= 5000 for t in texts)
        assert "".join(texts) == request.message.markdown
    assert [m["chatid"] for m in dingtalk.chat_messages] == sorted([CHAT] * len(texts) + ["chat-ops"] * len(texts),
                                                                   key=lambda c: c != CHAT)  # one chat, then the next
    assert all(m["msg"]["markdown"]["title"] == request.message.subject for m in dingtalk.chat_messages)


async def test_chat_ids_without_a_config_are_a_permanent_error_saying_what_to_add(sender, v2_request):
    with pytest.raises(PermanentError, match=r"conversation\.chatids need a DingTalk Config"):
        await sender.send(v2_request({"conversation": {"chatids": [CHAT]}}))


async def test_the_documented_v2beta2_blocks_send_through_the_fake(dingtalk, sender, v2_request):
    """config.md's and receiver.md's blocks as written, but for the robot's webhook and the API, the fake's."""
    docs = Path(__file__).parent / "docs"
    [config], [receiver] = ([yaml.safe_load((docs / f"{kind}-v2beta2-dingtalk.yaml").read_text())["spec"]["dingtalk"]]
                            for kind in ("config", "receiver"))
    config["conversation"]["apiUrl"] = dingtalk.url
    robot, webhook = dingtalk.robot("docs", secret="SECdocs-robot-secret", keywords=("kubesphere",))
    secrets = {"defalut-config-secret": {"appkey": dingtalk.appkey, "appsecret": dingtalk.appsecret},
               "global-receiver-secret": {"webhook": webhook, "secret": "SECdocs-robot-secret"}}
    request = v2_request(receiver, config, secrets=secrets)

    assert await sender.send(request) is None

    assert robot.texts() == [request.message.text + "\n\n[Keywords] kubesphere"]  # signed: the fake checked it
    assert dingtalk.chat_texts(CHAT) == [request.message.text]
