"""Group robot (自定义机器人) messages: a POST to the robot's webhook, signed in the body when it has a secret.

A robot takes at most 20 KB per request, 5 requests a second and 100 a minute. Longer content goes as
several messages in order; sends are counted here, so the one over the rate waits in the core's retry
instead of being refused. A message without any of the robot's keywords gets the original's
`[Keywords] a,b` line (in a post, as its last row).
"""

import time
from functools import partial
from typing import Any

import httpx

from nm_feishu.errcodes import FEISHU
from nm_feishu.message import MsgType, contents
from nm_feishu.schema import Chatbot, ChatbotBlock
from nmcore.sdk import (
    PermanentError,
    Progress,
    Rate,
    RateLimiter,
    SendRequest,
    credential_value,
    timestamp_signature,
    transport_errors,
)

RATES = (Rate(5, 1.0), Rate(100, 60.0))
REQUEST_TIMEOUT = 5.0
SERVICE = "Feishu robot"
"""How errors name the robot: never by its URL, whose path is its credential."""


class Robots:
    def __init__(self, http: httpx.AsyncClient, progress: Progress):
        self._http = http
        self._progress = progress
        self._limiter = RateLimiter(*RATES)

    async def send(self, request: SendRequest[Any, Any], bot: Chatbot | ChatbotBlock, msg_type: MsgType) -> int:
        """Send the notification through the receiver's robot; return how many messages that took."""
        owner = request.receiver.ref
        url = credential_value(bot.webhook, request.secret)
        if not url.startswith(("https://", "http://")):
            raise PermanentError(f"{owner}: chatbot.webhook must be the robot's webhook URL "
                                 "(https://open.feishu.cn/open-apis/bot/v2/hook/…)")
        secret = credential_value(bot.secret, request.secret) if bot.secret else ""
        sent = 0
        for index, content in enumerate(contents(request.message, msg_type, bot.keywords)):
            body = {"msg_type": msg_type, "content": content}
            sent += await self._progress.once(request.notification.key, f"robot\0{url}\0{index}\0{body}",
                                              partial(self._post, url, secret, body, owner))
        return sent

    async def _post(self, url: str, secret: str, body: dict[str, Any], owner: str) -> None:
        self._limiter.take(url, f"the Feishu robot of {owner}")
        if secret:
            timestamp = int(time.time())
            body = {**body, "timestamp": str(timestamp),
                    "sign": timestamp_signature(secret, timestamp, keyed_by="string")}
        with transport_errors(SERVICE):
            response = await self._http.post(url, json=body, timeout=REQUEST_TIMEOUT)
        FEISHU.answer(response, SERVICE, f"{SERVICE} of {owner}")
