"""nm_sms: the SMS channel for nmcore, through Aliyun, Tencent Cloud, Huawei Cloud or AWS SNS."""

from nm_sms.schema import SmsConfigSpec, SmsReceiverBlock, SmsReceiverSpec
from nm_sms.sender import LIMITS, SmsSender
from nmcore.sdk import ChannelSpec, RegisterChannel, V2Beta2Block, hookimpl

__all__ = ["SPEC", "SmsConfigSpec", "SmsReceiverSpec", "SmsSender", "nmcore_register_channels"]

SPEC = ChannelSpec(
    name="sms",
    config_kind="SmsConfig",
    receiver_kind="SmsReceiver",
    config_schema=SmsConfigSpec,
    receiver_schema=SmsReceiverSpec,
    make_sender=SmsSender,
    limits=LIMITS,
    own_layout=True,
    description="SMS through Aliyun, Tencent Cloud, Huawei Cloud or AWS SNS (per SMS: Aliyun 35 characters, "
                "Tencent 12, Huawei 10 variables of 20, SNS 1600 bytes)",
    v2beta2=V2Beta2Block(name="sms", config_schema=SmsConfigSpec, receiver_schema=SmsReceiverBlock),
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
