"""nm-slack: the Slack channel for nmcore (SlackConfig / SlackReceiver, notification.kubesphere.io/v1alpha1).

Posts with chat.postMessage and a bot token from a Secret, or to an incoming webhook. Found by nmcore
through the `nmcore` entry-point group.
"""

from nm_slack.schema import SlackConfigBlock, SlackConfigSpec, SlackReceiverBlock, SlackReceiverSpec, needs_config
from nm_slack.sender import LIMITS, SlackSender
from nmcore.sdk import ChannelSpec, RegisterChannel, V2Beta2Block, hookimpl

__all__ = ["SPEC", "SlackConfigBlock", "SlackConfigSpec", "SlackReceiverBlock", "SlackReceiverSpec", "SlackSender"]

SPEC = ChannelSpec(
    name="slack",
    config_kind="SlackConfig",
    receiver_kind="SlackReceiver",
    config_schema=SlackConfigSpec,
    receiver_schema=SlackReceiverSpec,
    make_sender=SlackSender,
    limits=LIMITS,
    config_required=needs_config,
    formats=lambda spec: ("subject", "text"),
    description="Slack messages via chat.postMessage (bot token with chat:write) or an incoming webhook",
    own_layout=True,  # Block Kit sections built from the alerts; only the subject comes from the templates
    v2beta2=V2Beta2Block(name="slack", config_schema=SlackConfigBlock, receiver_schema=SlackReceiverBlock),
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
