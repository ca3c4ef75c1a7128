"""The channel contract suite against the fake of each provider, with that provider's declared limits."""

from typing import Any

import attrs
import nm_sms
import pytest
from nm_sms.sender import PROVIDERS
from sms_fake import SECRETS, FakeSms, manifests

from nmcore.sdk import ChannelSpec
from nmcore.testing import ChannelContract


@attrs.define
class Service:
    fake: FakeSms
    provider: str

    @property
    def url(self) -> str:
        return self.fake.url

    def rate_limit(self, retry_after: int) -> None:
        self.fake.throttle.add(self.provider)

    def texts(self) -> list[str]:
        return self.fake.texts(self.provider)


class SmsContract(ChannelContract):
    plugin = nm_sms
    receiver = "SmsReceiver/kubesphere-monitoring-system/oncall"
    secrets = SECRETS
    provider = ""

    @property
    def unconfigured(self) -> str:  # type: ignore[override]
        return manifests("http://127.0.0.1:1", self.provider).split("---")[-1]

    @property
    def spec(self) -> ChannelSpec[Any, Any]:
        """The channel with this provider's limits: what the contract measures the messages against."""
        return attrs.evolve(super().spec, limits=PROVIDERS[self.provider].limits)

    def manifests(self, url: str) -> str:
        return manifests(url, self.provider)

    @pytest.fixture
    def service(self, sms: FakeSms) -> Service:
        return Service(sms, self.provider)


class TestAliyunContract(SmsContract):
    provider = "aliyun"
    unreachable_match = "Aliyun SendSms"


class TestTencentContract(SmsContract):
    provider = "tencent"
    unreachable_match = "Tencent Cloud SendSms"


class TestHuaweiContract(SmsContract):
    provider = "huawei"
    unreachable_match = "Huawei Cloud SMS"


class TestAwsContract(SmsContract):
    provider = "aws"
    unreachable_match = "AWS SNS Publish"
