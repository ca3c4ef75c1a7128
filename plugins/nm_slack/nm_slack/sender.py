"""Delivering one notification to every channel of a SlackReceiver: all of its messages, in order.

When a send fails part-way (rate-limited at message 3 of 5, one channel of two down), the core retries the
whole send; the core's `ResumingPoster` remembers how many messages already went out to each channel, so the
retry continues where it stopped instead of posting duplicates.
"""

import functools

from nm_slack.incoming_webhook import post_webhook
from nm_slack.layout import TEXT_LIMIT, SlackMessage, layout, plain_messages
from nm_slack.schema import SlackConfigSpec, SlackReceiverSpec
from nm_slack.webapi import post_message
from nmcore.sdk import (
    ChannelContext,
    ChannelLimits,
    Destination,
    ResumingPoster,
    SendReport,
    SendRequest,
    config_credential,
    credential_value,
)

LIMITS = ChannelLimits(max_message_chars=TEXT_LIMIT, send_timeout=10.0)

Request = SendRequest[SlackConfigSpec, SlackReceiverSpec]


class SlackSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._poster = ResumingPoster()

    async def send(self, request: Request) -> SendReport | None:
        destinations = self._destinations(request)
        spec = request.receiver.spec
        own = spec.template is not None or spec.tmpl_text is not None
        messages = (plain_messages(request.message.text) if own
                    else layout(request.notification, request.message.subject))
        return await self._poster.deliver(request.notification.key, destinations, messages)

    def _destinations(self, request: Request) -> list[Destination[SlackMessage]]:
        receiver = request.receiver.spec
        if receiver.webhook_url is not None:
            url = credential_value(receiver.webhook_url, request.secret)
            post = functools.partial(post_webhook, self._http, url=url, receiver=request.receiver.ref,
                                     timeout=LIMITS.send_timeout)
            return [Destination("incoming webhook", post)]
        config: SlackConfigSpec
        config, token, origin = config_credential(request, "slack_token_secret", "a token")
        return [
            Destination(f"channel {channel}", functools.partial(
                post_message, self._http, api_url=config.api_url, token=token, channel=channel, origin=origin,
                timeout=LIMITS.send_timeout))
            for channel in receiver.targets
        ]

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""
