"""The channel contract suite (nmcore.testing.ChannelContract) against the fake Discord webhook."""

import nm_discord
import pytest

from nmcore.testing import ChannelContract

WEBHOOK_ID, TOKEN = "1045315993465012244", "Jb0oFOjVzdRWlHfTEdNXVI5pCmLJ7SmUBmbJNpHRLQFN_XIxPmmq1ckU9DfS57SnOEJJ"


def manifests(base_url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: discord}}
stringData: {{webhook: "{base_url}/api/webhooks/{WEBHOOK_ID}/{TOKEN}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DiscordReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{webhook: {{valueFrom: {{secretKeyRef: {{name: discord, key: webhook}}}}}}}}
"""


class TestDiscordContract(ChannelContract):
    plugin = nm_discord
    receiver = "DiscordReceiver/kubesphere-monitoring-system/ops"
    secrets = (TOKEN,)
    unreachable_match = r"the Discord webhook of DiscordReceiver/\S+ (unreachable|timed out)"
    unconfigured = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: DiscordReceiver
metadata: {name: ops, labels: {type: global}}
spec: {type: embed}
"""

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, discord):
        discord.per_window = 10_000
        return discord
