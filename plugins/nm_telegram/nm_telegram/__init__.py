"""nm-telegram: the Telegram channel for nmcore (TelegramConfig / TelegramReceiver).

A bot (its token in a Secret) sends each notification to chats, groups and channels with sendMessage.
Found by nmcore through the `nmcore` entry-point group.
"""

from typing import Any

from nm_telegram.schema import TelegramConfigSpec, TelegramReceiverSpec
from nm_telegram.sender import LIMITS, TelegramSender
from nmcore.sdk import ChannelSpec, hookimpl

__all__ = ["SPEC", "TelegramConfigSpec", "TelegramReceiverSpec", "TelegramSender"]

SPEC = ChannelSpec(
    name="telegram",
    config_kind="TelegramConfig",
    receiver_kind="TelegramReceiver",
    config_schema=TelegramConfigSpec,
    receiver_schema=TelegramReceiverSpec,
    make_sender=TelegramSender,
    limits=LIMITS,
    formats=lambda spec: ("text",),
    description="Telegram messages from a bot (sendMessage) to chats, groups and channels, with @mentions",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
