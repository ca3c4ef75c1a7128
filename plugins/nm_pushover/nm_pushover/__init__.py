"""nm-pushover: the Pushover channel for nmcore (PushoverConfig / PushoverReceiver).

Pushes each notification to user profiles (user or group key, devices, sound) through a Pushover
application whose token is in a Secret. Found by nmcore through the `nmcore` entry-point group.
"""

from typing import Any

from nm_pushover.schema import (
    PushoverConfigBlock,
    PushoverConfigSpec,
    PushoverProfile,
    PushoverReceiverBlock,
    PushoverReceiverSpec,
)
from nm_pushover.sender import LIMITS, PushoverSender
from nmcore.sdk import ChannelSpec, V2Beta2Block, hookimpl

__all__ = ["SPEC", "PushoverConfigBlock", "PushoverConfigSpec", "PushoverProfile", "PushoverReceiverBlock",
           "PushoverReceiverSpec", "PushoverSender"]

SPEC = ChannelSpec(
    name="pushover",
    config_kind="PushoverConfig",
    receiver_kind="PushoverReceiver",
    config_schema=PushoverConfigSpec,
    receiver_schema=PushoverReceiverSpec,
    make_sender=PushoverSender,
    limits=LIMITS,
    formats=lambda spec: ("title", "text"),
    v2beta2=V2Beta2Block(name="pushover", config_schema=PushoverConfigBlock, receiver_schema=PushoverReceiverBlock),
    description="Pushover notifications (title: the subject) to user profiles with their devices and sound",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
