"""Group robot (群机器人) messages: a POST to the robot's webhook URL, no token, no application.

A robot takes text up to 2048 bytes and markdown up to 4096; longer content goes as several messages in
order. Mentions go with the first message only, so people are pinged once.
"""

from collections.abc import Mapping
from typing import Any

import httpx

from nm_wechat.errcodes import WECHAT
from nm_wechat.schema import Chatbot
from nmcore.sdk import (
    PermanentError,
    SecretReader,
    credential_value,
    split_text,
    transport_errors,
    utf8_len,
)

MAX_BYTES = {"text": 2048, "markdown": 4096}
REQUEST_TIMEOUT = 5.0
SERVICE = "WeChat Work group robot"
"""How errors name the robot: never by its URL, which holds its key."""


async def send_robot_messages(
    http: httpx.AsyncClient, chatbot: Chatbot, msg_type: str, content: str, secret: SecretReader, receiver: str
) -> int:
    """Send `content` through the robot; return how many messages that took."""
    url = credential_value(chatbot.webhook, secret)
    if not url.startswith(("https://", "http://")):
        raise PermanentError(f"{receiver}: chatbot.webhook must be the robot's webhook URL "
                             "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…)")
    if msg_type == "markdown" and chatbot.at_users:
        content += "\n" + " ".join(f"<@{user}>" for user in chatbot.at_users)
    pieces = split_text(content, MAX_BYTES[msg_type], utf8_len)
    for index, piece in enumerate(pieces):
        body: dict[str, Any] = {"msgtype": msg_type, msg_type: {"content": piece}}
        if msg_type == "text" and index == 0:
            if chatbot.at_users:
                body["text"]["mentioned_list"] = list(chatbot.at_users)
            if chatbot.at_mobiles:
                body["text"]["mentioned_mobile_list"] = list(chatbot.at_mobiles)
        await _post(http, url, body, f"{SERVICE} of {receiver}")
    return len(pieces)


async def _post(http: httpx.AsyncClient, url: str, body: Mapping[str, Any], what: str) -> None:
    with transport_errors(SERVICE):
        response = await http.post(url, json=body, timeout=REQUEST_TIMEOUT)
    WECHAT.answer(response, SERVICE, what)
