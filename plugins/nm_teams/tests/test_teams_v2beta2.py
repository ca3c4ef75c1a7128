"""The v2beta2 `teams` blocks (nmcore's, in the style of the original's Discord block), read and posting as the
v1alpha1 kinds do."""

import nm_teams
import pytest
import yaml
from nm_teams.schema import TeamsConfigBlock, TeamsReceiverBlock

from nmcore.testing import block_request, running_sender, structure

RECEIVER = """
enabled: true
mentionedUsers: [{id: alice@contoso.com, name: Alice}]
alertSelector: {matchLabels: {severity: critical}}
"""


@pytest.mark.anyio
async def test_a_receiver_block_posts_through_its_config_blocks_webhook(teams):
    config = structure({"webhook": {"valueFrom": {"secretKeyRef": {"name": "teams", "key": "url"}}}},
                       TeamsConfigBlock, "$.spec.teams")
    receiver = structure(yaml.safe_load(RECEIVER), TeamsReceiverBlock, "$.spec.teams")
    assert nm_teams.SPEC.config_required(receiver)
    request = block_request(receiver, config, channel="teams", secrets={"teams": {"url": teams.webhook_url()}})
    async with running_sender(nm_teams.TeamsSender, "teams") as sender:
        assert await sender.send(request) is None
    [card] = teams.posted
    assert card.mentioned == ["alice@contoso.com"]
