"""The channel contract suite (nmcore.testing.ChannelContract) against the fake WeChat Work API."""

import base64

import attrs
import nm_wechat
import pytest

from nmcore.testing import ChannelContract

SECRET = "s3cr3t-of-the-contract-application"


def manifests(api_url: str, secret: str = SECRET) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: wechat-app}}
data: {{wechat: {base64.b64encode(secret.encode()).decode()}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatConfig
metadata: {{name: app, labels: {{type: default}}}}
spec:
  wechatApiUrl: {api_url}
  wechatApiSecret: {{name: wechat-app, key: wechat}}
  wechatApiCorpId: wwfd76b24f06513578
  wechatApiAgentId: 1000002
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{toUser: user1}}
"""


@attrs.define
class Service:
    fake: object

    @property
    def url(self) -> str:
        return self.fake.url.removesuffix("/cgi-bin/")

    def rate_limit(self, retry_after: int) -> None:
        self.fake.rate_limit = len(self.fake.messages)  # 45009 from now on (WeChat Work says no delay: 60 s)

    def texts(self) -> list[str]:
        return self.fake.contents()


class TestWechatContract(ChannelContract):
    plugin = nm_wechat
    receiver = "WechatReceiver/kubesphere-monitoring-system/ops"
    secrets = (SECRET,)
    unreachable_match = "gettoken"
    unconfigured = manifests("https://qyapi.weixin.qq.com/cgi-bin/").split("---", 2)[2]

    def manifests(self, url: str) -> str:
        return manifests(f"{url}/cgi-bin/")

    @pytest.fixture
    def service(self, wechat):
        wechat.secret = SECRET
        return Service(wechat)
