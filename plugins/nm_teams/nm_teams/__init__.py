"""nm-teams: the Microsoft Teams channel for nmcore (TeamsConfig / TeamsReceiver).

Posts each notification as Adaptive Cards to a Teams Workflows webhook, mentioning the configured people.
Found by nmcore through the `nmcore` entry-point group.
"""

from typing import Any

from nm_teams.schema import (
    TeamsConfigBlock,
    TeamsConfigSpec,
    TeamsMention,
    TeamsReceiverBlock,
    TeamsReceiverSpec,
    needs_config,
)
from nm_teams.sender import LIMITS, TeamsSender
from nmcore.sdk import ChannelSpec, V2Beta2Block, hookimpl

__all__ = ["SPEC", "TeamsConfigBlock", "TeamsConfigSpec", "TeamsMention", "TeamsReceiverBlock", "TeamsReceiverSpec",
           "TeamsSender"]

SPEC = ChannelSpec(
    name="teams",
    config_kind="TeamsConfig",
    receiver_kind="TeamsReceiver",
    config_schema=TeamsConfigSpec,
    receiver_schema=TeamsReceiverSpec,
    make_sender=TeamsSender,
    limits=LIMITS,
    config_required=needs_config,
    own_layout=True,  # a card built from the alerts; only the subject comes from the templates
    formats=lambda spec: ("subject", "text"),
    v2beta2=V2Beta2Block(name="teams", config_schema=TeamsConfigBlock, receiver_schema=TeamsReceiverBlock),
    description="Microsoft Teams Adaptive Cards through a Workflows webhook, with @mentions",
)


@hookimpl
def nmcore_register_channels(register: Any) -> None:
    register(SPEC)
