"""Sending one notification as WeChat Work application messages (and through a group robot, if it has one).

Content over 2048 UTF-8 bytes goes as several messages, in order; recipients go at most 1000 users, 100
parties and 100 tags per request. Each request carries the application's access_token, refreshed once if
WeChat Work says it is invalid or expired.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from nm_wechat.errcodes import TOKEN_REJECTED, WECHAT
from nm_wechat.robot import send_robot_messages
from nm_wechat.schema import WechatConfigSpec, WechatReceiverSpec
from nmcore.sdk import (
    ChannelContext,
    ChannelLimits,
    PermanentError,
    SendReport,
    SendRequest,
    TokenCache,
    TokenKey,
    batches,
    token_of,
    transport_errors,
)

MAX_CONTENT_BYTES = 2048
MAX_USERS, MAX_PARTIES, MAX_TAGS = 1000, 100, 100
REQUEST_TIMEOUT = 5.0
LIMITS = ChannelLimits(max_message_bytes=MAX_CONTENT_BYTES, send_timeout=15.0)

Request = SendRequest[WechatConfigSpec, WechatReceiverSpec]

UNDELIVERED = {
    "invaliduser": "users unknown or outside the application's visible range",
    "invalidparty": "parties unknown or outside the application's visible range",
    "invalidtag": "tags unknown or outside the application's visible range",
    "unlicenseduser": "users without an API licence (接口许可)",
}
"""Fields of a successful message/send reply naming recipients that did not get the message."""


@attrs.frozen
class _App:
    """The WeChat Work application a WechatConfig names, with its Secret resolved for this send."""

    ref: str
    spec: WechatConfigSpec
    secret: str = attrs.field(repr=False)

    @property
    def api(self) -> str:
        return self.spec.api_base

    @property
    def token_key(self) -> TokenKey:
        return TokenKey.of(self.api, self.spec.wechat_api_corp_id, self.secret)


class WechatSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._log = ctx.logger
        self._tokens = TokenCache()

    async def send(self, request: Request) -> SendReport | None:
        receiver = request.receiver.spec
        content = request.message.markdown if receiver.message_type == "markdown" else request.message.text
        undelivered: tuple[str, ...] = ()
        sent = 0
        if receiver.has_app_recipients:
            undelivered, sent = await self._send_app_messages(request, content)
        if receiver.chatbot is not None:
            sent += await send_robot_messages(
                self._http, receiver.chatbot, receiver.message_type, content, request.secret, request.receiver.ref
            )
        self._log.debug("sent %d WeChat Work message(s) for %s", sent, request.receiver.ref)
        return SendReport(warnings=undelivered) if undelivered else None

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client is the core's."""

    async def _send_app_messages(self, request: Request, content: str) -> tuple[tuple[str, ...], int]:
        """Send as application messages; return what WeChat Work did not deliver, and how many messages it took."""
        receiver = request.receiver.spec
        if request.config is None:
            raise PermanentError("no WechatConfig to send with: label one `type: default` or select one")
        config = request.config.spec
        app = _App(request.config.ref, config, request.secret(config.wechat_api_secret))
        undelivered: dict[str, None] = {}
        sent = 0
        for piece in LIMITS.split(content):
            recipients = (receiver.to_user, MAX_USERS), (receiver.to_party, MAX_PARTIES), (receiver.to_tag, MAX_TAGS)
            for users, parties, tags in batches(*recipients):
                body = {
                    "touser": "|".join(users), "toparty": "|".join(parties), "totag": "|".join(tags),
                    "agentid": config.agent_id, "msgtype": receiver.message_type,
                    receiver.message_type: {"content": piece}, "safe": 0,
                }
                reply = await self._send_message(app, {k: v for k, v in body.items() if v != ""})
                undelivered.update(dict.fromkeys(_undelivered(reply)))
                sent += 1
        return tuple(undelivered), sent

    async def _send_message(self, app: _App, body: Mapping[str, Any]) -> Mapping[str, Any]:
        reply = await self._tokens.call(
            app.token_key, lambda: self._fetch_token(app), lambda token: self._post_message(app, token, body),
            rejected=lambda reply: WECHAT.code(reply) in TOKEN_REJECTED,
        )
        return WECHAT.check(reply, f"message/send with {app.ref}")

    async def _post_message(self, app: _App, token: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        service = f"WeChat Work message/send at {app.api}"
        with transport_errors(service):
            response = await self._http.post(
                f"{app.api}message/send", params={"access_token": token}, json=body, timeout=REQUEST_TIMEOUT
            )
        return WECHAT.reply(response, service, f"message/send with {app.ref}")

    async def _fetch_token(self, app: _App) -> tuple[str, float]:
        service = f"WeChat Work gettoken at {app.api}"
        with transport_errors(service):
            response = await self._http.get(
                f"{app.api}gettoken",
                params={"corpid": app.spec.wechat_api_corp_id, "corpsecret": app.secret},
                timeout=REQUEST_TIMEOUT,
            )
        reply = WECHAT.answer(response, service, f"gettoken for {app.ref}")
        token, lifetime = token_of(reply, service, check=f"wechatApiUrl in {app.ref}")
        self._log.info("fetched a WeChat Work access_token for %s, valid %ds", app.ref, lifetime)
        return token, lifetime


def _undelivered(reply: Mapping[str, Any]) -> Iterator[str]:
    for field, who in UNDELIVERED.items():
        names = reply.get(field)
        if isinstance(names, list):
            names = "|".join(map(str, names))
        if names:
            yield f"WeChat Work did not deliver to {who}: {names}"
