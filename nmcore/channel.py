"""The contract between the core and a channel plugin.

A plugin registers a `ChannelSpec`: its name, the Config and Receiver kinds (frozen attrs classes: the
schema) and a factory for its `Sender`. The core does everything around a send: validation, routing,
rendering, retries and backoff, deduplication, metrics and redaction. A sender sends once and says how it
failed by raising `TransientError` (try again, maybe after `retry_after` seconds) or `PermanentError`.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
import attrs
import httpx

from nmcore.alerts import Notification
from nmcore.errors import DeliveryError, PermanentError, TransientError
from nmcore.resources import Resource
from nmcore.schema import name_field
from nmcore.splitting import chunks, split_text, utf8_len

ConfigT = TypeVar("ConfigT")
ReceiverT = TypeVar("ReceiverT")
T = TypeVar("T")

__all__ = [
    "ChannelContext",
    "ChannelLimits",
    "ChannelSpec",
    "ConfigT",
    "DeliveryError",
    "PermanentError",
    "PluginInfo",
    "ReceiverT",
    "RegisterChannel",
    "RegisteredChannel",
    "Rendered",
    "SendReport",
    "SendRequest",
    "Sender",
    "StartedChannel",
    "TransientError",
    "V2Beta2Block",
]


@attrs.frozen(kw_only=True)
class ChannelLimits:
    """What a channel accepts, declared once: `nm plugins` prints it, the core bounds each send by
    `send_timeout`, and a sender cuts messages and recipient lists with `split` and `batches`, so the limit
    declared is the limit applied (the channel contract suite checks it)."""

    max_message_bytes: int | None = None
    max_message_chars: int | None = None
    max_recipients: int | None = None
    send_timeout: float = 10.0

    def split(self, text: str) -> list[str]:
        """`text` in pieces within the declared message size (bytes of UTF-8, then characters), in order,
        nothing dropped; the whole text when the channel declares no size."""
        pieces = [text]
        if self.max_message_bytes is not None:
            pieces = split_text(text, self.max_message_bytes, utf8_len)
        if self.max_message_chars is not None:
            pieces = [part for piece in pieces for part in split_text(piece, self.max_message_chars)]
        return pieces

    def batches(self, recipients: Sequence[T]) -> list[Sequence[T]]:
        """`recipients` in consecutive batches of at most `max_recipients` (one batch when undeclared)."""
        if self.max_recipients is None or not recipients:
            return [recipients]
        return list(chunks(recipients, self.max_recipients))

    def describe(self) -> str:
        """One line for operators (`nm plugins`): why a long notification arrived as several messages."""
        parts = [f"up to {limit:,} {unit} per message" for limit, unit in (
            (self.max_message_bytes, "bytes"), (self.max_message_chars, "characters"),
            (self.max_recipients, "recipients")) if limit is not None]
        return ", ".join([*parts, f"{self.send_timeout:g}s timeout per send"])


class Rendered(Protocol):
    """One notification in every format a channel might want (the default renderer renders each on first use)."""

    @property
    def subject(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def markdown(self) -> str: ...

    @property
    def html(self) -> str: ...

    @property
    def title(self) -> str:
        """The title of channels that have one (DingTalk, Pushover); the subject unless `titleTemplate` says."""
        ...

    @property
    def post(self) -> str:
        """A Feishu-style rich-text post, as JSON text."""
        ...


@attrs.frozen(kw_only=True)
class SendReport:
    """A send that succeeded, with anything the operator should still hear (e.g. WeChat's `invaliduser`)."""

    warnings: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SendRequest(Generic[ConfigT, ReceiverT]):
    """Everything a sender needs for one notification to one receiver. A sender names its spec types,
    `SendRequest[EmailConfigSpec, EmailReceiverSpec]`, and `request.receiver.spec` is typed without a cast."""

    notification: Notification
    message: Rendered
    receiver: Resource[ReceiverT]
    config: Resource[ConfigT] | None
    secret: Callable[[Any], str] = attrs.field(repr=False)
    """Resolves a Secret key (in the config's namespace unless a v2beta2 reference names one) or a credential;
    raises PermanentError naming what is missing."""
    timeout: float = 10.0
    """Seconds the core allows this send (the channel's limit, or the NotificationManager's notificationTimeout):
    a sender that sets its own client timeout should use this one."""


class Sender(Protocol):
    async def send(self, request: SendRequest[Any, Any]) -> SendReport | None: ...

    async def aclose(self) -> None: ...


@attrs.frozen(kw_only=True)
class ChannelContext:
    """Shared resources a sender may use: one HTTP client per process (connection reuse), a logger, and
    the aiohttp session under that client, for a channel whose hot path wants the lowest overhead."""

    http: httpx.AsyncClient
    logger: logging.Logger
    session: aiohttp.ClientSession | None = None


def _always(_: Any) -> bool:
    return True


def _text_only(_: Any) -> tuple[str, ...]:
    return ("text",)


@attrs.frozen(kw_only=True)
class V2Beta2Block:
    """Where a channel sits in the v2beta2 API, whose Config and Receiver kinds hold one block per channel
    (`spec.email`, `spec.slack`). Declaration only: read by the v2beta2 loader, unused by the v1alpha1 core."""

    name: str
    """The block's key in a v2beta2 Config/Receiver spec, e.g. `email`."""
    config_schema: type
    receiver_schema: type


CONFIG_SELECTOR = "config_selector"


@attrs.frozen(kw_only=True)
class ChannelSpec(Generic[ConfigT, ReceiverT]):
    """A channel, as a plugin registers it: its kinds, their schemas, its sender, what it accepts."""

    name: str
    config_kind: str
    receiver_kind: str
    config_schema: type[ConfigT]
    receiver_schema: type[ReceiverT]
    """A Receiver spec class. Its `config_selector` field (a LabelSelector), if it has one, picks the config;
    its manifest key is derived from the config kind (`EmailConfig` → `emailConfigSelector`)."""
    make_sender: Callable[[ChannelContext], Sender]
    limits: ChannelLimits = ChannelLimits()
    config_required: Callable[[ReceiverT], bool] = _always
    """Given a receiver spec, whether it needs a Config to send (a webhook receiver with its own url does not)."""
    description: str = ""
    own_layout: bool = False
    """True when the sender lays its message body out from the notification itself (Slack's blocks): of the
    operator's global templates only the subject applies to it, and `nm plugins` and `nm validate` say so (a
    receiver's own `template`/`tmplText` is the channel's to honour: Slack then posts that text as is)."""
    v2beta2: V2Beta2Block | None = None
    """How the channel appears in the v2beta2 API (read by the v2beta2 loader; None: v1alpha1 only)."""
    body_format: str = "text"
    """The format a receiver's `template` renders when it sets no `tmplType` (email: html)."""
    formats: Callable[[Any], tuple[str, ...]] = _text_only
    """Given a receiver spec, the formats it is sent in (`nm render` shows these): email subject, text, html."""

    def __attrs_post_init__(self) -> None:
        keys = [(self.receiver_schema, self.config_selector_key)]
        if self.v2beta2 is not None:  # v2beta2 names it after the block: `dingtalkConfigSelector`
            keys.append((self.v2beta2.receiver_schema, f"{self.v2beta2.name}ConfigSelector"))
        for schema, key in keys:
            if attrs.has(schema) and CONFIG_SELECTOR in attrs.fields_dict(schema):
                name_field(schema, CONFIG_SELECTOR, key)

    @property
    def config_selector_key(self) -> str:
        """The receiver's manifest key for its config selector: `EmailConfig` → `emailConfigSelector`."""
        return f"{self.config_kind[:1].lower()}{self.config_kind[1:]}Selector"


RegisterChannel = Callable[[ChannelSpec[Any, Any]], None]
"""What `nmcore_register_channels` is given: call it once per channel the plugin provides."""


@attrs.frozen
class PluginInfo:
    """Where a plugin came from, for `nm plugins` and error messages."""

    name: str
    distribution: str
    version: str
    error: str = ""


@attrs.frozen
class RegisteredChannel:
    """A channel as the plugin host collected it: its spec and the plugin that registered it."""

    spec: ChannelSpec[Any, Any]
    plugin: PluginInfo


@attrs.frozen
class StartedChannel:
    """A channel whose sender is running: what the dispatcher and `verify` send with."""

    spec: ChannelSpec[Any, Any]
    sender: Sender
