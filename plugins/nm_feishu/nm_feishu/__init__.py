"""nm_feishu: the Feishu (飞书) channel for nmcore: group robots, and an app's batch messages to users and
departments."""

from nm_feishu.schema import FeishuConfigBlock, FeishuConfigSpec, FeishuReceiverBlock, FeishuReceiverSpec, needs_config
from nm_feishu.sender import LIMITS, FeishuSender
from nmcore.sdk import ChannelSpec, RegisterChannel, V2Beta2Block, hookimpl

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
    body_format="post",
    formats=lambda spec: (spec.tmpl_type,),
    v2beta2=V2Beta2Block(name="feishu", config_schema=FeishuConfigBlock, receiver_schema=FeishuReceiverBlock),
    description="Feishu (飞书) group robots (signed, keywords; 5 a second, 100 a minute) and an app's batch "
                "messages to users and departments, as post or text",
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
