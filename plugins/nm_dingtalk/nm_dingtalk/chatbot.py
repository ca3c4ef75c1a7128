"""Group robot (自定义机器人) messages: a POST to the robot's webhook, signed when the robot has a secret.

Up to 19,960 bytes per message (the original's limit, under DingTalk's 20,000); longer content goes as
several messages in order. A robot with keywords refuses a message without one, so a piece that lacks
them gets the original's `[Keywords] a, b` footer. Mentions go with the first message only, so people are
pinged once; in markdown the `@` must also be in the text. A robot takes 20 messages a minute: they are
counted here, and the 21st waits in the core's retry instead of being refused (or, as in the original,
dropped).
"""

import time
from collections.abc import Mapping
from functools import partial
from typing import Any

import httpx

from nm_dingtalk.errcodes import DINGTALK, check_robot
from nm_dingtalk.message import MsgType, message
from nm_dingtalk.schema import Robot
from nmcore.sdk import (
    PermanentError,
    Progress,
    Rate,
    RateLimiter,
    SendRequest,
    keyword_footer,
    split_text,
    timestamp_signature,
    transport_errors,
    utf8_len,
    with_keyword,
)

MAX_BYTES = 19960
RATE = Rate(20, 60.0)
REQUEST_TIMEOUT = 5.0
SERVICE = "DingTalk robot"
"""How errors name the robot: never by its URL, which holds its access_token."""


class Robots:
    def __init__(self, http: httpx.AsyncClient, progress: Progress):
        self._http = http
        self._progress = progress
        self._limiter = RateLimiter(RATE)

    async def send(self, request: SendRequest[Any, Any], bot: Robot, owner: str, msg_type: MsgType,
                   content: str) -> int:
        """Send `content` through the robot that `owner` (a ref) describes; return how many messages it took."""
        url = request.secret(bot.webhook)
        if not url.startswith(("https://", "http://")):
            raise PermanentError(f"{owner}: chatbot.webhook must be the robot's webhook URL "
                                 "(https://oapi.dingtalk.com/robot/send?access_token=…)")
        secret = request.secret(bot.secret) if bot.secret else ""
        footer = keyword_footer(bot.keywords)
        mentions = " ".join(f"@{who}" for who in (*bot.at_mobiles, *bot.at_users)) if msg_type == "markdown" else ""
        room = MAX_BYTES - utf8_len(footer) - utf8_len(mentions) - 1
        sent = 0
        for index, piece in enumerate(split_text(content, room, utf8_len)):
            text = with_keyword(piece, bot.keywords)
            first = index == 0
            body = message(msg_type, request.message.title, text + (f"\n{mentions}" if mentions and first else ""))
            if first and (bot.at_mobiles or bot.at_users or bot.at_all):
                body["at"] = {"atMobiles": list(bot.at_mobiles), "atUserIds": list(bot.at_users),
                              "isAtAll": bot.at_all}
            sent += await self._progress.once(request.notification.key, f"robot\0{url}\0{index}\0{text}",
                                              partial(self._post, url, secret, body, owner))
        return sent

    async def _post(self, url: str, secret: str, body: Mapping[str, Any], owner: str) -> None:
        self._limiter.take(url, f"the DingTalk robot of {owner}")
        signed = httpx.URL(url)
        if secret:
            timestamp = int(time.time() * 1000)
            sign = timestamp_signature(secret, timestamp, keyed_by="secret")
            signed = signed.copy_merge_params({"timestamp": timestamp, "sign": sign})  # beside its access_token
        with transport_errors(SERVICE):
            response = await self._http.post(signed, json=body, timeout=REQUEST_TIMEOUT)
        what = f"{SERVICE} of {owner}"
        check_robot(DINGTALK.reply(response, SERVICE, what), what)
