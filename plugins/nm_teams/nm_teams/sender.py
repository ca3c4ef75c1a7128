"""Posting a notification's Adaptive Cards to a Microsoft Teams Workflows webhook, in order.

A Workflows webhook answers 202 Accepted and runs the flow afterwards; what it refuses up front is the
request itself: 401 when the URL lost its `sig`, 404 when the workflow is gone, a disabled flow, 429 with
`Retry-After` when throttled. The URL's `sig` is the credential: the core hides query values in request logs
and transport errors, and no error message here contains the URL.
"""

import functools
from typing import Any

import httpx

from nm_teams.card import MAX_PAYLOAD, messages
from nm_teams.schema import TeamsConfigSpec, TeamsReceiverSpec
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
    json_object,
    retry_after,
    transport_errors,
    webhook_of,
)

LIMITS = ChannelLimits(max_message_bytes=MAX_PAYLOAD, send_timeout=10.0)
Request = SendRequest[TeamsConfigSpec, TeamsReceiverSpec]


class TeamsSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._poster = ResumingPoster()

    async def send(self, request: SendRequest) -> SendReport | None:
        receiver = request.receiver.spec
        url, where = webhook_of(request)
        post = functools.partial(self._post, url=url, receiver=request.receiver.ref, where=where)
        own = receiver.template is not None or receiver.tmpl_text is not None
        bodies = messages(request.notification, request.message.subject, receiver.mentioned_users,
                          request.message.text.strip() if own else None)
        return await self._poster.deliver(request.notification.key, [Destination("webhook", post)], bodies)

    async def _post(self, body: dict[str, Any], *, url: str, receiver: str, where: str) -> None:
        service = f"the Teams Workflows webhook of {receiver}"
        with transport_errors(service):
            response = await self._http.post(url, json=body, timeout=LIMITS.send_timeout)
        if not response.is_success:
            raise explain(response, service, where)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""


def explain(response: httpx.Response, service: str, where: str) -> DeliveryError:
    """The error for a refused post, saying what to change and where (never the URL: it is the credential)."""
    reply = json_object(response) or {}
    raw = reply.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    status, code = response.status_code, str(error.get("code", ""))
    said = f"{service} answered HTTP {status}" + (f" {code}: {error.get('message', '')}" if code else "")
    if status in TRANSIENT_STATUS or status >= 500:
        return TransientError(f"{said} (temporary, will retry)", retry_after=retry_after(response.headers))
    if code == "WorkflowTriggerIsNotEnabled":
        return PermanentError(f"{said}: the workflow is turned off; turn it on in Teams (Workflows)")
    if not error:
        return PermanentError(f"{said}, not a Workflows answer: is the URL in {where} the workflow's webhook link?")
    if status == 401:
        return PermanentError(f"{said}: the URL lacks its sig or the sig is wrong; copy the workflow's whole "
                              f"webhook link into {where}")
    if status == 404:
        return PermanentError(f"{said}: the workflow no longer exists; create one with \"Send webhook alerts to a "
                              f"channel\" and put its webhook link into {where}")
    return PermanentError(said)
