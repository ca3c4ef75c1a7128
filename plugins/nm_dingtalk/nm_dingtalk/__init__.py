"""nm_dingtalk: the DingTalk (钉钉) channel for nmcore: group robots and enterprise conversations."""

from typing import Any

from nm_dingtalk._sdk import ChannelSpec, hookimpl
from nm_dingtalk.schema import (
    DingTalkConfigBlock,
    DingTalkConfigSpec,
    DingTalkReceiverBlock,
    DingTalkReceiverSpec,
    needs_config,
)
from nm_dingtalk.sender import LIMITS, DingTalkSender

__all__ = ["SPEC", "DingTalkConfigBlock", "DingTalkConfigSpec", "DingTalkReceiverBlock", "DingTalkReceiverSpec",
           "DingTalkSender", "nmcore_register_channels"]

SPEC = ChannelSpec(
    name="dingtalk",
    config_kind="DingTalkConfig",
    receiver_kind="DingTalkReceiver",
    config_schema=DingTalkConfigSpec,
    receiver_schema=DingTalkReceiverSpec,
    make_sender=DingTalkSender,
    limits=LIMITS,
    config_required=needs_config,
    description="DingTalk (钉钉) group robots (signed, keywords, mentions; 19,960 bytes and 20 messages a minute "
                "each) and enterprise conversations (chat IDs, 5,000 bytes)",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
