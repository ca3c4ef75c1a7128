"""Delivering one notification to every channel of a SlackReceiver: all of its messages, in order.

When a send fails part-way (rate-limited at message 3 of 5, one channel of two down), the core retries the
whole send; the sender remembers per notification and channel how many messages already went out, so the
retry continues where it stopped instead of posting duplicates. That memory is bounded and short-lived.
"""

import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import attrs

from nm_slack.incoming_webhook import post_webhook
from nm_slack.layout import TEXT_LIMIT, SlackMessage, layout, plain_messages
from nm_slack.schema import SlackConfigSpec, SlackReceiverSpec
from nm_slack.webapi import Origin, post_message
from nmcore.sdk import (
    ChannelContext,
    ChannelLimits,
    DeliveryError,
    PermanentError,
    SendReport,
    SendRequest,
    TransientError,
    credential_value,
)

LIMITS = ChannelLimits(max_message_chars=TEXT_LIMIT, send_timeout=10.0)

Request = SendRequest[SlackConfigSpec, SlackReceiverSpec]
PROGRESS_ENTRIES = 4096
PROGRESS_TTL = 3600.0
"""Seconds a partial delivery is remembered; an identical notification much later is a new one."""


@attrs.frozen
class Destination:
    name: str
    post: Callable[[SlackMessage], Awaitable[None]] = attrs.field(repr=False)
    """Posts one message; it holds the token or webhook URL, hence no repr."""


class SlackSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._log = ctx.logger
        self._posted: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()

    async def send(self, request: Request) -> SendReport | None:
        destinations = self._destinations(request)
        spec = request.receiver.spec
        own = spec.template is not None or spec.tmpl_text is not None
        messages = (plain_messages(request.message.text) if own
                    else layout(request.notification, request.message.subject))
        key = request.notification.key
        failures: list[DeliveryError] = []
        for destination in destinations:
            try:
                await self._deliver(destination, messages, key)
            except DeliveryError as exc:
                failures.append(exc)
        summary = "; ".join(str(f) for f in failures)
        if any(f.transient for f in failures):
            delays = [f.retry_after for f in failures if f.retry_after is not None]
            raise TransientError(summary, retry_after=max(delays) if delays else None)
        for destination in destinations:
            self._posted.pop((key, destination.name), None)
        if failures and len(failures) == len(destinations):
            raise PermanentError(summary)
        return SendReport(warnings=tuple(str(f) for f in failures)) if failures else None

    def _destinations(self, request: Request) -> list[Destination]:
        receiver = request.receiver.spec
        if receiver.webhook_url is not None:
            url = credential_value(receiver.webhook_url, request.secret)
            post = functools.partial(post_webhook, self._http, url=url, receiver=request.receiver.ref,
                                     timeout=LIMITS.send_timeout)
            return [Destination("incoming webhook", post)]
        if request.config is None:
            raise PermanentError(f"{request.receiver.ref} has no SlackConfig to take a token from")
        config = request.config.spec
        token = request.secret(config.slack_token_secret)
        origin = Origin(receiver=request.receiver.ref, config=request.config.ref,
                        token_secret=str(config.slack_token_secret))
        return [
            Destination(f"channel {channel}", functools.partial(
                post_message, self._http, api_url=config.api_url, token=token, channel=channel, origin=origin,
                timeout=LIMITS.send_timeout))
            for channel in receiver.targets
        ]

    async def _deliver(self, destination: Destination, messages: list[SlackMessage], key: str) -> None:
        progress = (key, destination.name)
        done, when = self._posted.get(progress, (0, 0.0))
        if time.monotonic() - when > PROGRESS_TTL:
            done = 0
        for number in range(done, len(messages)):
            try:
                await destination.post(messages[number])
            except DeliveryError as exc:
                if not number:
                    raise
                raise type(exc)(f"{exc} (after {number} of {len(messages)} messages were posted)",
                                retry_after=exc.retry_after) from None
            self._remember(progress, number + 1)
            self._log.debug("posted message %d/%d to %s", number + 1, len(messages), destination.name)

    def _remember(self, progress: tuple[str, str], done: int) -> None:
        self._posted[progress] = (done, time.monotonic())
        self._posted.move_to_end(progress)
        while len(self._posted) > PROGRESS_ENTRIES:
            self._posted.popitem(last=False)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""
