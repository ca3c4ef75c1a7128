"""Sending a notification with the Telegram Bot API's sendMessage, to every chat of a TelegramReceiver.

A message holds at most 4096 characters, counted by Telegram in UTF-16 code units, so a long notification
becomes several messages, in order, each chat getting all of them (a retry resumes where it stopped). The
text is plain (no parse_mode), so nothing in an alert can break the formatting or fake a link. The bot token
is part of the URL path (`/bot<token>/sendMessage`): the core hides such path segments in request logs and
transport errors, and this module never puts a URL into an error message.
"""

import functools
from typing import Any

import httpx

from nm_telegram.schema import TelegramConfigSpec, TelegramReceiverSpec
from nmcore.sdk import (
    TRANSIENT_STATUS,
    ChannelContext,
    ChannelLimits,
    DeliveryError,
    Destination,
    Origin,
    PermanentError,
    ResumingPoster,
    SendReport,
    SendRequest,
    TransientError,
    check_status,
    config_credential,
    excerpt,
    json_object,
    paginate,
    requested_wait,
    transport_errors,
    utf16_len,
)

TEXT_LIMIT = 4096
LIMITS = ChannelLimits(max_message_chars=TEXT_LIMIT, send_timeout=10.0)
Request = SendRequest[TelegramConfigSpec, TelegramReceiverSpec]


def messages_for(request: Request) -> list[str]:
    """The texts to send, in order: the rendered text cut to Telegram's limit, the mentions under the first."""
    receiver = request.receiver.spec
    mentions = receiver.mentions
    room = TEXT_LIMIT - (utf16_len(mentions) + 2 if mentions else 0)
    texts = paginate(request.message.text.strip(), room, utf16_len)
    if mentions:
        texts[0] = f"{texts[0]}\n\n{mentions}"
    return texts


class TelegramSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._poster = ResumingPoster()

    async def send(self, request: SendRequest) -> SendReport | None:
        config, token, origin = config_credential(request, "telegram_token_secret", "a bot token")
        receiver = request.receiver.spec
        url = f"{config.api_url.rstrip('/')}/bot{token}/sendMessage"
        destinations = [Destination(f"chat {chat}", functools.partial(self._post, url=url, chat=chat, origin=origin))
                        for chat in receiver.chats]
        return await self._poster.deliver(request.notification.key, destinations, messages_for(request))

    async def _post(self, text: str, *, url: str, chat: str, origin: Origin) -> None:
        service = f"Telegram sendMessage to chat {chat}"
        body = {"chat_id": chat, "text": text, "link_preview_options": {"is_disabled": True}}
        with transport_errors(service):
            response = await self._http.post(url, json=body, timeout=LIMITS.send_timeout)
        reply = json_object(response)
        if reply is None:
            if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
                check_status(response, service)
            raise PermanentError(f"{service}: HTTP {response.status_code}, not the Bot API's JSON "
                                 f"({excerpt(response.text, 120)!r}); check apiUrl of {origin.config} "
                                 "(default https://api.telegram.org)")
        if reply.get("ok") is not True:
            raise explain(reply, response.headers, chat, origin)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""


def explain(reply: dict[str, Any], headers: httpx.Headers, chat: str, origin: Origin) -> DeliveryError:
    """The error for an `ok: false` answer, saying what to change and where."""
    code = reply.get("error_code")
    description = str(reply.get("description") or "no description")
    raw = reply.get("parameters")
    parameters: dict[str, Any] = raw if isinstance(raw, dict) else {}
    said = f"Telegram refused to send to chat {chat}: {code} {description}"
    lowered = description.lower()
    if code == 429 or (isinstance(code, int) and code >= 500):
        return TransientError(f"{said} (temporary, will retry)",
                              retry_after=requested_wait(headers, parameters.get("retry_after")))
    if "migrate_to_chat_id" in parameters:
        return PermanentError(f"{said}: the group is now a supergroup; change chat {chat} to "
                              f"{parameters['migrate_to_chat_id']} in {origin.receiver}")
    if code in (401, 404):
        return PermanentError(f"{said}: Telegram does not accept the bot token. Put the token @BotFather gave "
                              f"into {origin.token_secret}, which {origin.config} uses")
    if "chat not found" in lowered:
        return PermanentError(f"{said}: check the chat in {origin.receiver}. A user must first send /start to "
                              "the bot; a group or channel must have the bot as a member (channels: as admin)")
    if code == 403:
        return PermanentError(f"{said}: add the bot to the chat again (as an admin for a channel), or remove the "
                              f"chat from {origin.receiver}")
    return PermanentError(f"{said}; see https://core.telegram.org/bots/api#sendmessage")
