"""What chat-style channels share, written once: a notification cut into numbered messages within a channel's
limit, those messages posted in order to each of a receiver's destinations, a retry resuming where the last
attempt stopped, and the wait a rate-limited service asks for.

A channel sends once and the core retries; with several messages and destinations, "once" would mean posting
again what already arrived. `ResumingPoster` sends each message through the core's `Progress`, which remembers
what went out (bounded, short-lived), so the core's retry posts only the rest and the chat shows no duplicates.
"""

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from nmcore import v2beta2
from nmcore.alerts import Alert
from nmcore.channel import SendReport, SendRequest
from nmcore.errors import DeliveryError, PermanentError, TransientError
from nmcore.httpfailures import retry_after
from nmcore.progress import Progress
from nmcore.render import HIDDEN_LABELS, format_time
from nmcore.resources import Credential
from nmcore.splitting import split_text
from nmcore.tlsconfig import credential_value

__all__ = ["PART_ROOM", "AlertFacts", "Destination", "Origin", "ResumingPoster", "check_webhook",
           "config_credential", "paginate", "requested_wait", "to_each", "webhook_of"]

M = TypeVar("M")

MESSAGE_KEYS = ("message", "summary", "summaryCn", "description")
"""The annotations `Alert.message` is taken from, in its order."""
PART_ROOM = len("(part 999/999)\n")
"""Room kept in each message of a split notification for its "(part i/n)" line."""


def paginate(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """`text` as messages of at most `limit` (by `measure`), in order, nothing dropped.

    Cuts fall between paragraphs where possible (the built-in templates give each alert its own), so an alert
    stays in one message when it fits one; a longer paragraph is cut at lines, then spaces. When there is more
    than one message, each opens with a "(part i/n)" line.
    """
    if measure(text) <= limit:
        return [text]
    room = limit - PART_ROOM
    pieces: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        joined = f"{current}\n\n{paragraph}" if current else paragraph
        if measure(joined) <= room:
            current = joined
            continue
        if current:
            pieces.append(current)
        *whole, current = split_text(paragraph, room, measure)
        pieces += whole
    if current.strip():
        pieces.append(current)
    return [f"(part {number}/{len(pieces)})\n{piece}" for number, piece in enumerate(pieces, start=1)]


@attrs.frozen(kw_only=True)
class AlertFacts:
    """What a channel that lays alerts out itself (Slack blocks, Teams cards) shows of one alert: the same
    facts everywhere, the annotation used as the headline's message shown once."""

    status: str
    name: str
    message: str
    labels: tuple[tuple[str, str], ...]
    annotations: tuple[tuple[str, str], ...]
    since: str
    source: str

    @property
    def headline(self) -> str:
        """`[FIRING] KubePodCrashLooping: restarted 5 times`."""
        return f"[{self.status}] {self.name}" + (f": {self.message}" if self.message else "")

    @classmethod
    def of(cls, alert: Alert) -> "AlertFacts":
        shown = next((key for key in MESSAGE_KEYS if alert.annotations.get(key)), None)
        return cls(status=alert.status.upper(), name=alert.labels.get("alertname", "alert"), message=alert.message,
                   labels=tuple((k, v) for k, v in sorted(alert.labels.items()) if k not in HIDDEN_LABELS),
                   annotations=tuple((k, v) for k, v in sorted(alert.annotations.items()) if k != shown),
                   since=format_time(alert.starts_at) if alert.starts_at else "", source=alert.generator_url)


def requested_wait(headers: Mapping[str, str], *values: object) -> float | None:
    """The longest wait a refusal asks for, in seconds: its `Retry-After` header or a number from its body
    (Discord's `retry_after`, Telegram's `parameters.retry_after`); None when it names none."""
    waits = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0]
    header = retry_after(headers)
    if header is not None:
        waits.append(header)
    return max(waits) if waits else None


@attrs.frozen(kw_only=True)
class Origin:
    """The objects an operator must look at when a service refuses a config's credential: named in errors."""

    receiver: str
    config: str
    token_secret: str


def config_credential(request: SendRequest, field: str, what: str) -> tuple[Any, str, Origin]:
    """The config's spec, the credential its `field` names (a Secret key, or a v2beta2-style Credential; read
    through the core, which scrubs Secret values from every error) and the Origin naming them; PermanentError
    when the receiver has no config to take `what` from."""
    if request.config is None:
        raise PermanentError(f"{request.receiver.ref} has no config to take {what} from")
    config = request.config.spec
    named = getattr(config, field)
    where = _where(named, request.config.ref) if isinstance(named, Credential | v2beta2.Credential) else str(named)
    return config, request.secret(named), Origin(receiver=request.receiver.ref, config=request.config.ref,
                                                 token_secret=where)


def _where(credential: Credential | v2beta2.Credential, owner: str) -> str:
    """Where an operator changes a credential: "Secret 'x' key 'y'", or the inline value of its object."""
    source = credential.value_from
    return str(source.secret_key_ref) if source is not None else f"the inline value in {owner}"


def check_webhook(webhook: Credential | v2beta2.Credential | None) -> None:
    """For a schema's `webhook` field: an inline value must be an http(s) URL; the error never shows it."""
    if webhook is not None and webhook.value and not webhook.value.startswith(("https://", "http://")):
        raise ValueError("webhook.value is not an http(s) URL (its value is not shown: it is a credential)")


def webhook_of(request: SendRequest) -> tuple[str, str]:
    """The webhook URL a receiver posts to (its own `webhook`, else its config's) and where an operator would
    change it: "Secret 'x' key 'y'", or "the inline value in Kind/namespace/name". Never the URL itself."""
    owner = request.receiver
    webhook = getattr(owner.spec, "webhook", None)
    if webhook is None:
        if request.config is None:
            raise PermanentError(f"{owner.ref} has no webhook and no config to take one from")
        owner = request.config
        webhook = owner.spec.webhook
    return credential_value(webhook, request.secret), _where(webhook, owner.ref)


async def to_each(sends: Sequence[Callable[[], Awaitable[object]]]) -> SendReport | None:
    """Every destination's send tried, whatever the others did (one holding its messages for a rate limit holds
    no other back). TransientError if any should be tried again (the longest wait asked for), PermanentError if
    every one failed for good; some failing for good are warnings."""
    failures: list[DeliveryError] = []
    for send in sends:
        try:
            await send()
        except DeliveryError as exc:
            failures.append(exc)
    summary = "; ".join(str(f) for f in failures)
    if any(f.transient for f in failures):
        delays = [f.retry_after for f in failures if f.retry_after is not None]
        raise TransientError(summary, retry_after=max(delays) if delays else None)
    if failures and len(failures) == len(sends):
        raise PermanentError(summary)
    return SendReport(warnings=tuple(str(f) for f in failures)) if failures else None


@attrs.frozen
class Destination(Generic[M]):
    """One place a receiver's messages go (a channel, a chat, a user's devices), named for error messages."""

    name: str
    post: Callable[[M], Awaitable[None]] = attrs.field(repr=False)
    """Posts one message; it holds the credential (a token, a webhook URL), hence no repr."""


class ResumingPoster:
    """Posts every message of a notification to every destination, in order, each through the core's `Progress`,
    so the core's retry after a failure part-way posts only what is missing."""

    def __init__(self, progress: Progress | None = None):
        self._progress = progress or Progress()

    async def deliver(self, key: str, destinations: Sequence[Destination[M]],
                      messages: Sequence[M]) -> SendReport | None:
        """Raise TransientError if any destination should be tried again (the longest wait asked for), and
        PermanentError if every destination failed for good; some failing for good are warnings."""
        with self._progress.notification(key):
            return await to_each([functools.partial(self._deliver, d, messages, key) for d in destinations])

    async def _deliver(self, destination: Destination[M], messages: Sequence[M], key: str) -> None:
        for number, message in enumerate(messages):
            try:
                await self._progress.once(key, f"{destination.name}\0{number}",
                                          functools.partial(destination.post, message))
            except DeliveryError as exc:
                if not number:
                    raise
                raise type(exc)(f"{exc} (after {number} of {len(messages)} messages were posted)",
                                retry_after=exc.retry_after) from None
