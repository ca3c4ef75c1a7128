"""nm-pushover: the Pushover channel for nmcore (PushoverConfig / PushoverReceiver).

Pushes each notification to user profiles (user or group key, devices, sound) through a Pushover
application whose token is in a Secret. Found by nmcore through the `nmcore` entry-point group.
"""

from typing import Any

from nm_pushover.schema import PushoverConfigSpec, PushoverProfile, PushoverReceiverSpec
from nm_pushover.sender import LIMITS, PushoverSender
from nmcore.sdk import ChannelSpec, hookimpl

__all__ = ["SPEC", "PushoverConfigSpec", "PushoverProfile", "PushoverReceiverSpec", "PushoverSender"]

SPEC = ChannelSpec(
    name="pushover",
    config_kind="PushoverConfig",
    receiver_kind="PushoverReceiver",
    config_schema=PushoverConfigSpec,
    receiver_schema=PushoverReceiverSpec,
    make_sender=PushoverSender,
    limits=LIMITS,
    formats=lambda spec: ("title", "text"),
    description="Pushover notifications (title: the subject) to user profiles with their devices and sound",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
