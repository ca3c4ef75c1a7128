"""nm_feishu: the Feishu (飞书) channel for nmcore: group robots, and an app's batch messages to users and
departments."""

from typing import Any

from nm_feishu._sdk import ChannelSpec, hookimpl
from nm_feishu.schema import FeishuConfigBlock, FeishuConfigSpec, FeishuReceiverBlock, FeishuReceiverSpec, needs_config
from nm_feishu.sender import LIMITS, FeishuSender

__all__ = ["SPEC", "FeishuConfigBlock", "FeishuConfigSpec", "FeishuReceiverBlock", "FeishuReceiverSpec",
           "FeishuSender", "nmcore_register_channels"]

SPEC = ChannelSpec(
    name="feishu",
    config_kind="FeishuConfig",
    receiver_kind="FeishuReceiver",
    config_schema=FeishuConfigSpec,
    receiver_schema=FeishuReceiverSpec,
    make_sender=FeishuSender,
    limits=LIMITS,
    config_required=needs_config,
    description="Feishu (飞书) group robots (signed, keywords; 5 a second, 100 a minute) and an app's batch "
                "messages to users and departments, as post or text",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
