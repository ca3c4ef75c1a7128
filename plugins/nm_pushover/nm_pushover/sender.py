"""Sending a notification to every profile of a PushoverReceiver with Pushover's messages API.

Pushover shows a title (at most 250 characters: the subject) over a message of at most 1024 characters, so a
long notification becomes several messages, in order, each profile getting all of them (a retry resumes
where it stopped). Pushover answers a refusal with HTTP 4xx, `status: 0` and `errors`; 429 means the
application's monthly message limit is used up, until the time its `X-Limit-App-Reset` header names; after
a 5xx it asks for at least 5 seconds between tries. The app token travels in the body; neither it nor a user
key appears in an error message (a profile is named by its number).
"""

import functools
import math
import time
from typing import Any

import httpx

from nm_pushover.schema import PushoverConfigSpec, PushoverProfile, PushoverReceiverSpec
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
    config_credential,
    excerpt,
    json_object,
    paginate,
    transport_errors,
)

MESSAGE_LIMIT = 1024
TITLE_LIMIT = 250
SERVER_ERROR_WAIT = 5.0
LIMITS = ChannelLimits(max_message_chars=MESSAGE_LIMIT, send_timeout=10.0)
Request = SendRequest[PushoverConfigSpec, PushoverReceiverSpec]


def messages_for(request: Request) -> list[dict[str, str]]:
    """Title and message of each push, in order; a text that opens with the subject (the built-in one does)
    leaves that line to the title, which is the subject unless `titleTemplate` says otherwise."""
    title = request.message.title
    title = title if len(title) <= TITLE_LIMIT else title[:TITLE_LIMIT - 1] + "…"
    text = request.message.text.strip()
    body = text.removeprefix(request.message.subject).strip() or text
    return [{"title": title, "message": piece} for piece in paginate(body, MESSAGE_LIMIT)]


class PushoverSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._poster = ResumingPoster()

    async def send(self, request: SendRequest) -> SendReport | None:
        config, token, origin = config_credential(request, "pushover_token_secret", "an application token")
        receiver = request.receiver.spec
        url = f"{config.api_url.rstrip('/')}/messages.json"
        destinations = [
            Destination(f"profile {number}", functools.partial(
                self._post, url=url, token=token, profile=profile, number=number, origin=origin))
            for number, profile in enumerate(receiver.profiles, start=1)
        ]
        return await self._poster.deliver(request.notification.key, destinations, messages_for(request))

    async def _post(self, message: dict[str, str], *, url: str, token: str, profile: PushoverProfile, number: int,
                    origin: Origin) -> None:
        service = f"Pushover for profile {number} of {origin.receiver}"
        body = {"token": token, "user": profile.user_key, **message}
        if profile.devices:
            body["device"] = ",".join(profile.devices)
        if profile.sound:
            body["sound"] = profile.sound
        with transport_errors(service):
            response = await self._http.post(url, json=body, timeout=LIMITS.send_timeout)
        reply = json_object(response)
        if response.is_success and reply is not None and reply.get("status") == 1:
            return
        error = explain(response, reply, service, origin, number)
        # The core scrubs Secret values from errors; a user key is written in the manifest, so hide it here.
        raise type(error)(str(error).replace(profile.user_key, "<redacted>"), retry_after=error.retry_after)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""


def explain(response: httpx.Response, reply: dict[str, Any] | None, service: str, origin: Origin,
            number: int) -> DeliveryError:
    """What a refusal means, saying what to change and where."""
    status = response.status_code
    errors = reply.get("errors") if reply is not None else None
    said = f"{service} answered HTTP {status}" + (f": {'; '.join(map(str, errors))}" if errors else "")
    if status == 429:
        reset = response.headers.get("x-limit-app-reset", "")
        wait = float(max(0, math.ceil(int(reset) - time.time()))) if reset.isdigit() else None
        return TransientError(f"{said}: the application's monthly message limit is used up (it resets "
                              "on the 1st; a higher limit can be bought for it)", retry_after=wait)
    if status in TRANSIENT_STATUS or status >= 500:
        return TransientError(f"{said} (temporary, will retry)", retry_after=SERVER_ERROR_WAIT)
    if reply is None:
        return PermanentError(f"{said}: not Pushover's JSON ({excerpt(response.text, 120)!r}); check "
                              f"apiUrl of {origin.config} (default https://api.pushover.net/1)")
    if reply.get("token") == "invalid":
        return PermanentError(f"{said}: put your Pushover application's API token into "
                              f"{origin.token_secret}, which {origin.config} uses")
    if reply.get("user") == "invalid":
        return PermanentError(f"{said}: profile {number}'s userKey is not an active user or group key; "
                              f"correct it in {origin.receiver}")
    field = next((key for key in ("sound", "device") if key in reply), None)
    where = f": correct profile {number}'s {field} in {origin.receiver}" if field else ""
    return PermanentError(f"{said}{where}")
