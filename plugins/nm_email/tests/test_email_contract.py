"""The channel contract suite (nmcore.testing.ChannelContract) against a real SMTP server (aiosmtpd)."""

from urllib.parse import urlsplit

import attrs
import nm_email
import pytest

from nmcore.testing import ChannelContract

PASSWORD = "Xq7-contract-pw-never-shown"


def manifests(host: str, port: int) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: smtp}}
stringData: {{password: "{PASSWORD}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {{name: mail, labels: {{type: default}}}}
spec:
  from: nmcore@xyz.com
  smartHost: {{host: {host}, port: {port}}}
  authUsername: nm
  authPassword: {{name: smtp, key: password}}
  allowInsecureAuth: true  # the contract's server speaks plain SMTP on loopback
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{to: [ops@xyz.com]}}
"""


@attrs.define
class Service:
    server: object

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.server.port}"

    def rate_limit(self, retry_after: int) -> None:
        raise AssertionError("SMTP has no rate-limit answer with a delay")

    def texts(self) -> list[str]:
        return [received.message().get_body(("plain",)).get_content() for received in self.server.received]


class TestEmailContract(ChannelContract):
    plugin = nm_email
    receiver = "EmailReceiver/kubesphere-monitoring-system/ops"
    secrets = (PASSWORD,)
    rate_limits = False
    http_replies = False
    unreachable_match = r"SMTP server 127.0.0.1:\d+ unreachable while connecting"
    unconfigured = manifests("127.0.0.1", 25).split("---", 2)[2]

    def manifests(self, url: str) -> str:
        address = urlsplit(url)
        return manifests(address.hostname or "", address.port or 25)

    @pytest.fixture
    async def service(self, mail_server):
        return Service(await mail_server(tls=None, users={"nm": PASSWORD}))
