"""The channel contract suite (nmcore.testing.ChannelContract) against the fake DingTalk: a signed robot with
keywords and an enterprise conversation, both from one DingTalkConfig."""

import attrs
import nm_dingtalk
import pytest

from nmcore.testing import ChannelContract

ROBOT_TOKEN = "c0ntract7e1d96f34f6aa0c18f3e21d4c9b0b1a2c3d4e5f60718293a4b5c6d7e8f90"
SIGNING_SECRET = "SECc0ntract9a8b7c6d5e4f30211f2e3d4c5b6a79880f1e2d3c4b5a6978"
APP_SECRET = "c0ntract-app-secret-4b1d"
RECEIVER = "DingTalkReceiver/kubesphere-monitoring-system/ops"


def manifests(url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: dingtalk}}
stringData:
  webhook: {url}/robot/send?access_token={ROBOT_TOKEN}
  secret: {SIGNING_SECRET}
  appkey: dingappkey0001
  appsecret: {APP_SECRET}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DingTalkConfig
metadata: {{name: default, labels: {{type: default}}}}
spec:
  chatbot:
    webhook: {{name: dingtalk, key: webhook}}
    keywords: [kubesphere]
    secret: {{name: dingtalk, key: secret}}
  conversation:
    appkey: {{name: dingtalk, key: appkey}}
    appsecret: {{name: dingtalk, key: appsecret}}
    chatid: chat-ops
    apiUrl: {url}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DingTalkReceiver
metadata: {{name: ops, labels: {{type: global}}}}
"""


@attrs.define
class Service:
    fake: object
    robot: object

    @property
    def url(self) -> str:
        return self.fake.url

    def rate_limit(self, retry_after: int) -> None:
        self.robot.per_minute = 0  # 130101; DingTalk names no wait: the robot's minute (60 s) is waited out

    def texts(self) -> list[str]:
        return self.fake.texts()


class TestDingTalkContract(ChannelContract):
    plugin = nm_dingtalk
    receiver = RECEIVER
    secrets = (ROBOT_TOKEN, SIGNING_SECRET, APP_SECRET)
    unreachable_match = "DingTalk robot unreachable"
    unconfigured = manifests("https://oapi.dingtalk.com").split("---", 2)[2]

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, dingtalk):
        dingtalk.appsecret = APP_SECRET
        robot, _ = dingtalk.robot("ops", token=ROBOT_TOKEN, secret=SIGNING_SECRET, keywords=("kubesphere",))
        return Service(dingtalk, robot)
