"""nm_dingtalk: the DingTalk (钉钉) channel for nmcore: group robots and enterprise conversations."""

from nm_dingtalk.schema import (
    DingTalkConfigBlock,
    DingTalkConfigSpec,
    DingTalkReceiverBlock,
    DingTalkReceiverSpec,
    formats,
    needs_config,
)
from nm_dingtalk.sender import LIMITS, DingTalkSender
from nmcore.sdk import ChannelSpec, RegisterChannel, V2Beta2Block, hookimpl

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
    formats=formats,
    v2beta2=V2Beta2Block(name="dingtalk", config_schema=DingTalkConfigBlock, receiver_schema=DingTalkReceiverBlock),
    description="DingTalk (钉钉) group robots (signed, keywords, mentions; 19,960 bytes and 20 messages a minute "
                "each) and enterprise conversations (chat IDs, 5,000 bytes)",
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
