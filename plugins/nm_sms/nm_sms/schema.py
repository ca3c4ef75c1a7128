"""The `sms` Config and Receiver, with the Go original's field names (its v2beta2 `SmsConfig` and `SmsReceiver`).

nmcore reads them as the v1alpha1-style kinds SmsConfig/SmsReceiver (the original has no v1alpha1 SMS kinds:
nmcore adds them so the channel works with the manifests loader on main) and declares the same classes as the
v2beta2 `sms` block. Fields beyond the original's are marked "nmcore:" and all have defaults.
"""

import re
from collections.abc import Iterable
from typing import Any, Literal, NewType

import attrs

from nmcore.sdk import MANIFEST_KEY, LabelSelector, ReceiverTemplates, converter, v2beta2

PROVIDER_ORDER = ("aliyun", "tencent", "huawei", "aws")
PHONE = re.compile(r"\+?\d+")

PhoneNumbers = NewType("PhoneNumbers", tuple[str, ...])
"""Phone numbers as the original's docs write them: strings or bare YAML numbers (`- 13612345678`)."""


def _phone_numbers(value: Any, _: type) -> PhoneNumbers:
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    numbers = []
    for index, item in enumerate(items):
        text = str(item).strip() if isinstance(item, str | int) and not isinstance(item, bool) else ""
        if not PHONE.fullmatch(text):
            raise ValueError(f"item {index} ({item!r}) is not a phone number: digits, optionally after a +")
        numbers.append(text)
    return PhoneNumbers(tuple(dict.fromkeys(numbers)))


converter.register_structure_hook(PhoneNumbers, _phone_numbers)


Credential = v2beta2.Credential
"""The original's Credential: a `value` inline or `valueFrom.secretKeyRef` (with a namespace for v2beta2; a
v1alpha1 SmsConfig reads its own namespace's Secrets), read through the core, which checks who owns it."""


@attrs.frozen(kw_only=True)
class Aliyun:
    sign_name: str
    template_code: str
    access_key_id: Credential
    access_key_secret: Credential
    url: str = "https://dysmsapi.aliyuncs.com/"
    """nmcore: the SendSms endpoint (another region's, or a test server)."""


@attrs.frozen(kw_only=True)
class Tencent:
    sign: str
    template_id: str = attrs.field(metadata={MANIFEST_KEY: "templateID"})
    sms_sdk_appid: str
    secret_id: Credential
    secret_key: Credential
    url: str = "https://sms.tencentcloudapi.com/"
    """nmcore: the API endpoint."""
    region: str = "ap-guangzhou"
    """nmcore: X-TC-Region (the original always sends ap-guangzhou)."""


@attrs.frozen(kw_only=True)
class Huawei:
    url: str = "https://rtcsms.cn-north-1.myhuaweicloud.com:10743/sms/batchSendSms/v1"
    signature: str = ""
    template_id: str
    sender: str
    app_secret: Credential
    app_key: Credential
    template_paras: str = ""
    """In the original's documentation example but read by no code (it is pruned by its CRD): accepted, unused."""


@attrs.frozen(kw_only=True)
class Aws:
    region: str = "us-east-1"
    access_key_id: Credential
    secret_access_key: Credential
    url: str = ""
    """nmcore: the SNS endpoint; default https://sns.<region>.amazonaws.com/."""

    @property
    def endpoint(self) -> str:
        return self.url or f"https://sns.{self.region}.amazonaws.com/"


@attrs.frozen(kw_only=True)
class Providers:
    aliyun: Aliyun | None = None
    tencent: Tencent | None = None
    huawei: Huawei | None = None
    aws: Aws | None = None


@attrs.frozen(kw_only=True)
class SmsConfigSpec:
    """`defaultProvider` and the `providers`; without a default, the first configured in the order aliyun,
    tencent, huawei, aws (the original takes a random one: Go map order)."""

    default_provider: Literal["", "aliyun", "tencent", "huawei", "aws"] = ""
    providers: Providers
    labels: dict[str, str] = attrs.field(factory=dict)
    """Accepted as the v2beta2 Config blocks have it; unused."""

    def __attrs_post_init__(self) -> None:
        if self.default_provider and getattr(self.providers, self.default_provider) is None:
            raise ValueError(f"defaultProvider is {self.default_provider!r} but providers has no "
                             f"{self.default_provider} block")
        if not any(getattr(self.providers, name) for name in PROVIDER_ORDER):
            raise ValueError(f"providers is empty: give one of {', '.join(PROVIDER_ORDER)}")

    @property
    def provider(self) -> str:
        return self.default_provider or next(n for n in PROVIDER_ORDER if getattr(self.providers, n))


@attrs.frozen(kw_only=True)
class SmsReceiverSpec(ReceiverTemplates):
    """`phoneNumbers`; with the receiver's own `template`/`tmplText`, its rendered text is what is sent."""

    phone_numbers: PhoneNumbers
    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "smsConfigSelector"})

    def __attrs_post_init__(self) -> None:
        if not self.phone_numbers:
            raise ValueError("phoneNumbers must not be empty")


@attrs.frozen(kw_only=True)
class SmsReceiverBlock(SmsReceiverSpec, v2beta2.ReceiverBlock):
    """v2beta2 `Receiver` `spec.sms` (the v2beta2 `Config` `spec.sms` is SmsConfigSpec itself)."""
