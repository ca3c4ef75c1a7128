"""The channel contract suite (nmcore.testing.ChannelContract) against the fake Feishu: a signed robot and the
app's batch messages, for one FeishuReceiver."""

import attrs
import nm_feishu
import pytest

from nmcore.testing import ChannelContract

HOOK = "6f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"
SIGNING_SECRET = "c0ntractSigningSecretQvMdq8R7"
APP_SECRET = "c0ntract-feishu-app-secret-77aa"


def manifests(url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: feishu}}
stringData:
  appid: cli_a1b2c3d4e5f60718
  appsecret: {APP_SECRET}
  webhook: {url}/open-apis/bot/v2/hook/{HOOK}
  secret: {SIGNING_SECRET}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: FeishuConfig
metadata: {{name: default, labels: {{type: default}}}}
spec:
  appID: {{valueFrom: {{secretKeyRef: {{name: feishu, key: appid}}}}}}
  appSecret: {{valueFrom: {{secretKeyRef: {{name: feishu, key: appsecret}}}}}}
  apiUrl: {url}/open-apis/
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: FeishuReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
  user: [test]
  chatbot:
    webhook: {{valueFrom: {{secretKeyRef: {{name: feishu, key: webhook}}}}}}
    secret: {{valueFrom: {{secretKeyRef: {{name: feishu, key: secret}}}}}}
  tmplType: text
"""


@attrs.define
class Service:
    fake: object

    @property
    def url(self) -> str:
        return self.fake.url

    def rate_limit(self, retry_after: int) -> None:
        self.fake.rate_limit_next, self.fake.rate_limit_reset = 1, retry_after  # 99991400, x-ogw-ratelimit-reset

    def texts(self) -> list[str]:
        robot = [self.fake.text_of(m) for r in self.fake.robots.values() for m in r.messages]
        return robot + [self.fake.text_of(b) for b in self.fake.batches]


class TestFeishuContract(ChannelContract):
    plugin = nm_feishu
    receiver = "FeishuReceiver/kubesphere-monitoring-system/ops"
    secrets = (HOOK, SIGNING_SECRET, APP_SECRET)
    unreachable_match = "Feishu robot unreachable"
    unconfigured = manifests("https://open.feishu.cn").split("---", 2)[2].replace(
        "  chatbot:\n    webhook: {valueFrom: {secretKeyRef: {name: feishu, key: webhook}}}\n"
        "    secret: {valueFrom: {secretKeyRef: {name: feishu, key: secret}}}\n", "")

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, feishu):
        feishu.app_secret = APP_SECRET
        feishu.robot("ops", hook=HOOK, secret=SIGNING_SECRET)
        return Service(feishu)
