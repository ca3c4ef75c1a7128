"""One call of Slack's Web API `chat.postMessage`, and what each of its answers means for the operator.

Slack answers most failures with HTTP 200 and `{"ok": false, "error": "<code>"}`; rate limits come as HTTP
429 (or `ratelimited`) with `Retry-After`. The token goes only into the Authorization header.
"""

from typing import Any

import httpx

from nm_slack.layout import SlackMessage
from nmcore.sdk import (
    DeliveryError,
    Origin,
    PermanentError,
    TransientError,
    check_status,
    excerpt,
    json_object,
    retry_after,
    transport_errors,
)

TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout"})
BAD_TOKEN = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                       "not_allowed_token_type"})


async def post_message(
    http: httpx.AsyncClient, message: SlackMessage, *, api_url: str, token: str, channel: str, origin: Origin,
    timeout: float,
) -> None:
    service = f"Slack chat.postMessage to channel {channel!r}"
    with transport_errors(service):
        response = await http.post(
            f"{api_url.rstrip('/')}/chat.postMessage",
            json={"channel": channel, **message.payload()},
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    check_status(response, service)
    reply = json_object(response)
    if reply is None:
        raise PermanentError(f"{service}: the answer is not Slack's JSON ({excerpt(response.text, 120)!r}); "
                             "check apiUrl of the SlackConfig (default https://slack.com/api)")
    if reply.get("ok") is not True:
        raise explain(str(reply.get("error") or "no error code"), reply, response.headers, channel, origin)


def explain(code: str, reply: dict[str, Any], headers: httpx.Headers, channel: str, origin: Origin) -> DeliveryError:
    """The error for an `ok: false` answer, saying what to change and where."""
    said = f"Slack refused to post to channel {channel!r}: {code}"
    if code in TRANSIENT_ERRORS:
        return TransientError(f"{said} (temporary, will retry)", retry_after=retry_after(headers))
    if code == "channel_not_found":
        return PermanentError(f"{said}: no channel by that name or ID is visible to the token. Check the channel "
                              f"in {origin.receiver} (a name without '#', or an ID such as C0123456789); a private "
                              "channel is visible only once the app's bot is invited to it")
    if code == "not_in_channel":
        return PermanentError(f"{said}: the app's bot is not a member of the channel. Invite it: type "
                              f"`/invite @<app name>` in {channel!r}")
    if code in ("is_archived", "channel_is_archived"):
        return PermanentError(f"{said}: the channel is archived. Unarchive it or change {origin.receiver}")
    if code in BAD_TOKEN:
        return PermanentError(f"{said}: Slack does not accept the token. Put a valid bot token (xoxb-…) of an "
                              f"installed app into {origin.token_secret}, which {origin.config} uses")
    if code == "missing_scope":
        needed = f" (needed: {reply['needed']}, granted: {reply.get('provided', '')})" if reply.get("needed") else ""
        return PermanentError(f"{said}{needed}: the token lacks the chat:write scope. Add chat:write under "
                              "OAuth & Permissions, reinstall the app and put the new token into "
                              f"{origin.token_secret}")
    metadata = reply.get("response_metadata")
    details = metadata.get("messages") if isinstance(metadata, dict) else None
    return PermanentError(f"{said}" + (f" ({'; '.join(map(str, details))})" if details else "")
                          + "; see https://api.slack.com/methods/chat.postMessage#errors")
