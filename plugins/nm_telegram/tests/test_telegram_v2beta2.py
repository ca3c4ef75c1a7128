"""The v2beta2 `telegram` blocks, written as the Go original's types have them (its documentation has no
Telegram example), read and sending as the v1alpha1 kinds do."""

import nm_telegram
import pytest
import yaml
from nm_telegram.schema import TelegramConfigBlock, TelegramReceiverBlock

from nmcore.testing import block_request, running_sender, structure

CONFIG = """
telegramTokenSecret:
  valueFrom:
    secretKeyRef: {key: token, name: telegram-secret}
"""
RECEIVER = """
enabled: true
telegramConfigSelector:
  matchLabels: {type: tenant, user: admin}
alertSelector:
  matchExpressions: [{key: severity, operator: In, values: [critical]}]
channels: ["@alert_room", "-1001000000003"]
mentionedUsers: [alice_ops]
template: nm.default.text
"""


@pytest.mark.anyio
async def test_the_blocks_read_every_field_and_send_like_the_v1alpha1_kinds(telegram):
    config = structure({**yaml.safe_load(CONFIG), "apiUrl": telegram.url}, TelegramConfigBlock, "$.spec.telegram")
    receiver = structure(yaml.safe_load(RECEIVER), TelegramReceiverBlock, "$.spec.telegram")
    assert receiver.config_selector.match_labels == {"type": "tenant", "user": "admin"}
    assert (receiver.chats, receiver.mentions, receiver.enabled) == (("@alert_room", "-1001000000003"), "@alice_ops",
                                                                     True)
    request = block_request(receiver, config, channel="telegram",
                            secrets={"telegram-secret": {"token": next(iter(telegram.tokens))}})
    async with running_sender(nm_telegram.TelegramSender, "telegram") as sender:
        assert await sender.send(request) is None
    assert [t.endswith("@alice_ops") for t in telegram.texts()] == [True, True]
