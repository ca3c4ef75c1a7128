"""One POST to a Slack incoming webhook, and what its plain-text error answers mean for the operator.

Incoming webhooks answer `ok` with HTTP 200, otherwise a status and a short code as text (`no_service`,
`channel_not_found`, ...). The URL is a credential: it never appears in an error message.
"""

import httpx

from nm_slack.layout import SlackMessage
from nmcore.sdk import PermanentError, check_status, transport_errors

NEW_WEBHOOK = "create a new incoming webhook in the Slack app and put its URL into webhookUrl of {receiver}"
HINTS = {
    "no_service": "the webhook no longer exists (app removed, webhook revoked) or the URL is wrong: " + NEW_WEBHOOK,
    "invalid_token": "the URL is not a valid incoming webhook: " + NEW_WEBHOOK,
    "channel_not_found": "the webhook's channel was deleted: " + NEW_WEBHOOK,
    "channel_is_archived": "the webhook's channel is archived: unarchive it",
    "action_prohibited": "a workspace admin restricted posting to the webhook's channel: ask them to allow the app",
    "posting_to_general_channel_denied": "only admins may post to the webhook's channel: " + NEW_WEBHOOK,
}


async def post_webhook(http: httpx.AsyncClient, message: SlackMessage, *, url: str, receiver: str,
                       timeout: float) -> None:
    service = f"Slack incoming webhook of {receiver}"
    with transport_errors(service):
        response = await http.post(url, json=message.payload(), timeout=timeout)
    code = response.text.strip()
    if code in HINTS and 400 <= response.status_code < 500 and response.status_code != 429:
        advice = HINTS[code].format(receiver=receiver)
        raise PermanentError(f"{service} answered HTTP {response.status_code} {code}: {advice}")
    check_status(response, service)
