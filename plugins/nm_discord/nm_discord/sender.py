"""Posting a notification to a Discord channel webhook, as markdown content or as embeds.

Discord takes at most 2000 characters of content per message and 4096 in an embed's description, so a long
notification becomes several messages, in order (a retry resumes where it stopped). Mentions always go in the
content, the only place Discord notifies from, and `allowed_mentions` lets only the configured ones ping: an
`@everyone` inside an alert stays text. The webhook URL holds its token in the path: the core hides such
path segments in request logs and transport errors, and no error message here contains the URL.
"""

import functools
from typing import Any

import httpx

from nm_discord.schema import DiscordConfigSpec, DiscordReceiverSpec
from nmcore.sdk import (
    TRANSIENT_STATUS,
    ChannelContext,
    ChannelLimits,
    DeliveryError,
    Destination,
    PermanentError,
    ResumingPoster,
    SendReport,
    SendRequest,
    TransientError,
    excerpt,
    json_object,
    paginate,
    redact_url_secrets,
    requested_wait,
    transport_errors,
    webhook_of,
)

CONTENT_LIMIT = 2000
EMBED_LIMIT = 4096
TITLE_LIMIT = 256
COLOURS = {"firing": 0xE01E5A, "resolved": 0x2EB67D}
LIMITS = ChannelLimits(max_message_chars=CONTENT_LIMIT, send_timeout=10.0)
Request = SendRequest[DiscordConfigSpec, DiscordReceiverSpec]


def messages_for(request: Request) -> list[dict[str, Any]]:
    """The webhook bodies to post, in order; the mentions ride with the first."""
    receiver = request.receiver.spec
    mentions = receiver.mentions
    markdown = request.message.markdown.strip()
    if receiver.type == "embed":
        title = request.message.subject
        title = title if len(title) <= TITLE_LIMIT else title[:TITLE_LIMIT - 1] + "…"
        colour = COLOURS["firing" if request.notification.firing else "resolved"]
        bodies: list[dict[str, Any]] = [{"embeds": [{"title": title, "description": piece, "color": colour}]}
                  for piece in paginate(markdown, EMBED_LIMIT)]
        if mentions:
            bodies[0]["content"] = mentions
    else:
        room = CONTENT_LIMIT - (len(mentions) + 2 if mentions else 0)
        bodies = [{"content": piece} for piece in paginate(markdown, room)]
        if mentions:
            bodies[0]["content"] += f"\n\n{mentions}"
    return [{**body, "allowed_mentions": receiver.allowed_mentions} for body in bodies]


class DiscordSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._poster = ResumingPoster()

    async def send(self, request: SendRequest) -> SendReport | None:
        url, where = webhook_of(request)
        post = functools.partial(self._post, url=url, receiver=request.receiver.ref, where=where)
        return await self._poster.deliver(request.notification.key, [Destination("webhook", post)],
                                          messages_for(request))

    async def _post(self, body: dict[str, Any], *, url: str, receiver: str, where: str) -> None:
        service = f"the Discord webhook of {receiver}"
        with transport_errors(service):
            response = await self._http.post(url, params={"wait": "true"}, json=body, timeout=LIMITS.send_timeout)
        if response.is_success:
            return
        raise explain(response, service, where)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""


def explain(response: httpx.Response, service: str, where: str) -> DeliveryError:
    """The error for a refused post, saying what to change and where (never the URL: it is the credential)."""
    reply = json_object(response) or {}
    status, code = response.status_code, reply.get("code")
    said = f"{service} answered HTTP {status}" + (f" {reply['message']!r}" if reply.get("message") else "")
    if status in TRANSIENT_STATUS or status >= 500:
        return TransientError(f"{said} (temporary, will retry)",
                              retry_after=requested_wait(response.headers, reply.get("retry_after")))
    if not reply:
        body = redact_url_secrets(excerpt(response.text, 120))
        return PermanentError(f"{said}, not Discord's JSON ({body!r}): is the URL in {where} a Discord webhook "
                              "URL (https://discord.com/api/webhooks/…)?")
    if code in (10015, 50027) or status in (401, 404):
        return PermanentError(f"{said}: the webhook was deleted or its URL is wrong. Create a webhook in the "
                              f"channel's settings (Integrations → Webhooks) and put its URL into {where}")
    details = reply.get("errors")
    return PermanentError(f"{said} (code {code})" + (f": {_fields(details)}" if isinstance(details, dict) else ""))


def _fields(errors: dict[str, Any], path: str = "") -> str:
    """Discord's nested `errors` object as `field: message` pairs."""
    found = []
    for key, value in errors.items():
        if key == "_errors" and isinstance(value, list):
            found += [f"{path or 'body'}: {e.get('message', e)}" for e in value if isinstance(e, dict)]
        elif isinstance(value, dict):
            found.append(_fields(value, f"{path}.{key}" if path else key))
    return "; ".join(f for f in found if f)
