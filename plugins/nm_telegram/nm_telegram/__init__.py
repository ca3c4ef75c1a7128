"""nm-telegram: the Telegram channel for nmcore (TelegramConfig / TelegramReceiver).

A bot (its token in a Secret) sends each notification to chats, groups and channels with sendMessage.
Found by nmcore through the `nmcore` entry-point group.
"""

from typing import Any

from nm_telegram.schema import TelegramConfigBlock, TelegramConfigSpec, TelegramReceiverBlock, TelegramReceiverSpec
from nm_telegram.sender import LIMITS, TelegramSender
from nmcore.sdk import ChannelSpec, V2Beta2Block, hookimpl

__all__ = ["SPEC", "TelegramConfigBlock", "TelegramConfigSpec", "TelegramReceiverBlock", "TelegramReceiverSpec",
           "TelegramSender"]

SPEC = ChannelSpec(
    name="telegram",
    config_kind="TelegramConfig",
    receiver_kind="TelegramReceiver",
    config_schema=TelegramConfigSpec,
    receiver_schema=TelegramReceiverSpec,
    make_sender=TelegramSender,
    limits=LIMITS,
    formats=lambda spec: ("text",),
    v2beta2=V2Beta2Block(name="telegram", config_schema=TelegramConfigBlock, receiver_schema=TelegramReceiverBlock),
    description="Telegram messages from a bot (sendMessage) to chats, groups and channels, with @mentions",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
