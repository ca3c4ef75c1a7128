"""The channel contract suite (nmcore.testing.ChannelContract) against the fake Telegram Bot API."""

import nm_telegram
import pytest

from nmcore.testing import ChannelContract

TOKEN = "555000111:AAG-contract-token-never-shown-anywhere"


def manifests(api_url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: telegram}}
stringData: {{token: "{TOKEN}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramConfig
metadata: {{name: default, labels: {{type: default}}}}
spec: {{telegramTokenSecret: {{name: telegram, key: token}}, apiUrl: "{api_url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{channels: [424242]}}
"""


class TestTelegramContract(ChannelContract):
    plugin = nm_telegram
    receiver = "TelegramReceiver/kubesphere-monitoring-system/ops"
    secrets = (TOKEN, TOKEN.split(":")[1])
    unreachable_match = r"Telegram sendMessage to chat 424242 (unreachable|timed out)"
    unconfigured = manifests("https://api.telegram.org").split("---", 2)[2]

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, telegram):
        telegram.tokens.add(TOKEN)
        return telegram
