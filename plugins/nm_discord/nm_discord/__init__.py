"""nm-discord: the Discord channel for nmcore (DiscordConfig / DiscordReceiver).

Posts each notification to a channel webhook, as markdown content or as an embed, mentioning the configured
users and roles. Found by nmcore through the `nmcore` entry-point group.
"""

from typing import Any

from nm_discord.schema import (
    DiscordConfigBlock,
    DiscordConfigSpec,
    DiscordReceiverBlock,
    DiscordReceiverSpec,
    needs_config,
)
from nm_discord.sender import LIMITS, DiscordSender
from nmcore.sdk import ChannelSpec, V2Beta2Block, hookimpl

__all__ = ["SPEC", "DiscordConfigBlock", "DiscordConfigSpec", "DiscordReceiverBlock", "DiscordReceiverSpec",
           "DiscordSender"]

SPEC = ChannelSpec(
    name="discord",
    config_kind="DiscordConfig",
    receiver_kind="DiscordReceiver",
    config_schema=DiscordConfigSpec,
    receiver_schema=DiscordReceiverSpec,
    make_sender=DiscordSender,
    limits=LIMITS,
    config_required=needs_config,
    body_format="markdown",
    formats=lambda spec: ("subject", "markdown") if spec.type == "embed" else ("markdown",),
    v2beta2=V2Beta2Block(name="discord", config_schema=DiscordConfigBlock, receiver_schema=DiscordReceiverBlock),
    description="Discord messages through a channel webhook, as markdown content or embeds, with mentions",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
