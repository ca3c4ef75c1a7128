"""The contract between the core and a channel plugin.

A plugin registers a `ChannelSpec`: its name, the Config and Receiver kinds (frozen attrs classes: the
schema) and a factory for its `Sender`. The core does everything around a send: validation, routing,
rendering, retries and backoff, deduplication, metrics and redaction. A sender sends once and says how it
failed by raising `TransientError` (try again, maybe after `retry_after` seconds) or `PermanentError`.
"""

import logging
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import attrs
import httpx

from nmcore.alerts import Notification
from nmcore.errors import DeliveryError, PermanentError, TransientError
from nmcore.resources import Resource, SecretKeySelector

__all__ = [
    "ChannelContext",
    "ChannelLimits",
    "ChannelSpec",
    "DeliveryError",
    "PermanentError",
    "PluginInfo",
    "RegisteredChannel",
    "Rendered",
    "SendReport",
    "SendRequest",
    "Sender",
    "TransientError",
]


@attrs.frozen(kw_only=True)
class ChannelLimits:
    """What a channel accepts, declared once so the core and docs can use it the same way everywhere."""

    max_message_bytes: int | None = None
    max_message_chars: int | None = None
    max_recipients: int | None = None
    send_timeout: float = 10.0

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


@attrs.frozen(kw_only=True)
class SendReport:
    """A send that succeeded, with anything the operator should still hear (e.g. WeChat's `invaliduser`)."""

    warnings: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SendRequest:
    """Everything a sender needs for one notification to one receiver."""

    notification: Notification
    message: Rendered
    receiver: Resource
    config: Resource | None
    secret: Callable[[SecretKeySelector], str] = attrs.field(repr=False)
    """Resolves a Secret key in the config's namespace; raises PermanentError naming what is missing."""


class Sender(Protocol):
    async def send(self, request: SendRequest) -> SendReport | None: ...

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


@attrs.frozen(kw_only=True)
class ChannelSpec:
    name: str
    config_kind: str
    receiver_kind: str
    config_schema: type
    receiver_schema: type
    """A Receiver spec class; its `config_selector` field (a LabelSelector), if it has one, picks the config."""
    make_sender: Callable[[ChannelContext], Sender]
    limits: ChannelLimits = ChannelLimits()
    config_required: Callable[[Any], bool] = _always
    """Given a receiver spec, whether it needs a Config to send (a webhook receiver with its own url does not)."""
    description: str = ""


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

    spec: ChannelSpec
    plugin: PluginInfo
