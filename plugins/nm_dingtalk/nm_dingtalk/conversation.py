"""Enterprise conversation (企业会话) messages: the app's access_token, then `chat/send` to each chat.

Up to 5,000 bytes per message (the original's limit), all of them to one chat before the next. The token
(`gettoken` with appkey and appsecret) is shared by every send of the app, cached for its `expires_in`, and
fetched again once when DingTalk answers that it is invalid or expired. An app gets 25 calls a second (the
original's throttle), counted here like a robot's minute.
"""

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

import httpx

from nm_dingtalk.errcodes import DINGTALK, TOKEN_REJECTED
from nm_dingtalk.message import MsgType, message
from nm_dingtalk.schema import Application
from nmcore.sdk import (
    App,
    Progress,
    Rate,
    RateLimiter,
    SendRequest,
    TokenCache,
    split_text,
    token_of,
    transport_errors,
    utf8_len,
)

MAX_BYTES = 5000
RATE = Rate(25, 1.0)
REQUEST_TIMEOUT = 5.0


class Conversations:
    def __init__(self, http: httpx.AsyncClient, progress: Progress, log: logging.Logger):
        self._http = http
        self._progress = progress
        self._log = log
        self._tokens = TokenCache()
        self._limiter = RateLimiter(RATE)

    async def send(self, request: SendRequest[Any, Any], app: Application, chat_ids: tuple[str, ...], owner: str,
                   msg_type: MsgType, content: str) -> int:
        """Send `content` to every chat; return how many messages that took."""
        resolved = App(app.api_url, request.secret(app.appkey), request.secret(app.appsecret), owner)
        sent = 0
        for chat in chat_ids:
            for index, piece in enumerate(split_text(content, MAX_BYTES, utf8_len)):
                body = {"chatid": chat, "msg": message(msg_type, request.message.title, piece)}
                sent += await self._progress.once(request.notification.key, f"chat\0{chat}\0{index}\0{piece}",
                                                  partial(self._send, resolved, body))
        return sent

    async def _send(self, app: App, body: Mapping[str, Any]) -> None:
        self._limiter.take(app.app_id + app.api, f"the DingTalk app of {app.owner}")
        reply = await self._tokens.call(app.key, lambda: self._fetch_token(app), lambda t: self._post(app, t, body),
                                        rejected=lambda reply: DINGTALK.code(reply) in TOKEN_REJECTED)
        DINGTALK.check(reply, f"chat/send to {body['chatid']} for {app.owner}")

    async def _post(self, app: App, token: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        service = f"DingTalk chat/send at {app.api}"
        with transport_errors(service):
            response = await self._http.post(f"{app.api}chat/send", params={"access_token": token}, json=body,
                                             timeout=REQUEST_TIMEOUT)
        return DINGTALK.reply(response, service, f"chat/send to {body['chatid']} for {app.owner}")

    async def _fetch_token(self, app: App) -> tuple[str, float]:
        service = f"DingTalk gettoken at {app.api}"
        with transport_errors(service):
            response = await self._http.get(f"{app.api}gettoken", params={"appkey": app.app_id,
                                            "appsecret": app.secret}, timeout=REQUEST_TIMEOUT)
        reply = DINGTALK.answer(response, service, f"gettoken for {app.owner}")
        token, lifetime = token_of(reply, service, check=f"apiUrl in {app.owner}")
        self._log.info("fetched a DingTalk access_token for %s, valid %ds", app.owner, lifetime)
        return token, lifetime
