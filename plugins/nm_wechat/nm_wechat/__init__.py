"""nm_wechat: the WeChat Work (企业微信) channel for nmcore, sending application messages."""

from nm_wechat.schema import WechatConfigBlock, WechatConfigSpec, WechatReceiverBlock, WechatReceiverSpec
from nm_wechat.sender import LIMITS, WechatSender
from nmcore.sdk import ChannelSpec, RegisterChannel, V2Beta2Block, hookimpl

__all__ = ["SPEC", "WechatConfigBlock", "WechatConfigSpec", "WechatReceiverBlock", "WechatReceiverSpec",
           "WechatSender", "nmcore_register_channels"]

SPEC = ChannelSpec(
    name="wechat",
    config_kind="WechatConfig",
    receiver_kind="WechatReceiver",
    config_schema=WechatConfigSpec,
    receiver_schema=WechatReceiverSpec,
    make_sender=WechatSender,
    limits=LIMITS,
    config_required=lambda spec: spec.has_app_recipients,
    formats=lambda spec: (spec.message_type,),
    description="WeChat Work (企业微信) application messages to users, parties and tags, and group robots",
    v2beta2=V2Beta2Block(name="wechat", config_schema=WechatConfigBlock, receiver_schema=WechatReceiverBlock),
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
