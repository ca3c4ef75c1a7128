"""nm-slack: the Slack channel for nmcore (SlackConfig / SlackReceiver, notification.kubesphere.io/v1alpha1).

Posts with chat.postMessage and a bot token from a Secret, or to an incoming webhook. Found by nmcore
through the `nmcore` entry-point group.
"""

from typing import Any

from nm_slack.schema import SlackConfigSpec, SlackReceiverSpec, needs_config
from nm_slack.sender import LIMITS, SlackSender
from nmcore import ChannelSpec, hookimpl

__all__ = ["SPEC", "SlackConfigSpec", "SlackReceiverSpec", "SlackSender"]

SPEC = ChannelSpec(
    name="slack",
    config_kind="SlackConfig",
    receiver_kind="SlackReceiver",
    config_schema=SlackConfigSpec,
    receiver_schema=SlackReceiverSpec,
    make_sender=SlackSender,
    limits=LIMITS,
    config_required=needs_config,
    description="Slack messages via chat.postMessage (bot token with chat:write) or an incoming webhook",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
