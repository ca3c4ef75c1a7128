"""The channel contract suite (nmcore.testing.ChannelContract) against the fake Slack Web API."""

import base64

import attrs
import nm_slack
import pytest

from nmcore.testing import ChannelContract

TOKEN = "xoxb-4242-7777-ContractTokenNeverShown"


def manifests(api_url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: slack}}
data: {{token: {base64.b64encode(TOKEN.encode()).decode()}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackConfig
metadata: {{name: default, labels: {{type: default}}}}
spec:
  slackTokenSecret: {{name: slack, key: token}}
  apiUrl: {api_url}/api
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{channel: alert}}
"""


@attrs.define
class Service:
    fake: object

    @property
    def url(self) -> str:
        return self.fake.url

    def rate_limit(self, retry_after: int) -> None:
        self.fake.fail_next(status=429, retry_after=retry_after, body='{"ok": false, "error": "ratelimited"}')

    def texts(self) -> list[str]:
        return [posted.text for posted in self.fake.in_channel("alert")]


class TestSlackContract(ChannelContract):
    plugin = nm_slack
    receiver = "SlackReceiver/kubesphere-monitoring-system/ops"
    secrets = (TOKEN,)
    unreachable_match = r"Slack chat.postMessage to channel .alert. (unreachable|timed out)"
    unconfigured = manifests("https://slack.com").split("---", 2)[2]

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, slack):
        slack.tokens[TOKEN] = {"chat:write"}
        return Service(slack)
