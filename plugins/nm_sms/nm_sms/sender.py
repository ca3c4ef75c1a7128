"""Sending one notification as SMS through the config's provider (`defaultProvider`, else the first given).

An SMS carries what fits in the provider's template parameter, so the text is compact (unless the receiver has its
own `template`/`tmplText`: then its rendered text): one line per alert,
`[FIRING] alertname namespace/pod: message`. Aliyun, Tencent and AWS take the lines as one text parameter,
cut into pieces within the provider's limit (at line, then word boundaries; an alert stays whole when it fits)
and sent as consecutive SMS in order, so no alert is lost. Huawei's template (as in the original) has ten
variables of at most 20 characters: each alert is one SMS, its values cut to 20 characters.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from nm_sms import providers
from nm_sms.schema import SmsConfigSpec, SmsReceiverSpec
from nmcore.sdk import (
    Alert,
    ChannelContext,
    ChannelLimits,
    PermanentError,
    SendReport,
    SendRequest,
)

Request = SendRequest[SmsConfigSpec, SmsReceiverSpec]
LIMITS = ChannelLimits(send_timeout=30.0)


@attrs.frozen
class Provider:
    post: Callable[..., Awaitable[list[str]]]
    limits: ChannelLimits
    """The template parameter's size and the numbers one request may carry."""
    china_prefix: bool = False
    """Whether a number without a country code is given +86 (Tencent and Huawei want E.164)."""


PROVIDERS = {
    # Aliyun: a template variable holds at most 35 characters; SendSms takes 1000 numbers.
    "aliyun": Provider(providers.post_aliyun, ChannelLimits(max_message_chars=35, max_recipients=1000)),
    # Tencent: a variable holds at most 12 characters for individual-verified accounts; 200 numbers per request.
    "tencent": Provider(providers.post_tencent, ChannelLimits(max_message_chars=12, max_recipients=200), True),
    # Huawei: ten variables of at most 20 characters each (one alert per SMS); 200 numbers per request.
    "huawei": Provider(providers.post_huawei, ChannelLimits(max_message_chars=20, max_recipients=200), True),
    # SNS: at most 1600 bytes per Publish (SNS sends it as several SMS); one number per Publish.
    "aws": Provider(providers.post_aws, ChannelLimits(max_message_bytes=1600)),
}
HUAWEI_KEYS = ("alertname", "severity", "message", "summary", "alerttype", "cluster", "node", "namespace",
               "workload", "pod")
WORKLOADS = ("deployment", "statefulset", "daemonset")


def sms_line(alert: Alert) -> str:
    where = "/".join(v for v in (alert.namespace, alert.labels.get("pod") or alert.labels.get("node", "")) if v)
    head = " ".join(v for v in (f"[{alert.status.upper()}]", alert.labels.get("alertname", ""), where) if v)
    return f"{head}: {alert.message}" if alert.message else head


def huawei_params(alert: Alert, limit: int) -> list[str]:
    """The original's ten Huawei template variables, from the alert itself (the original parsed them back
    out of the rendered text and kept only the last alert's)."""
    values = {**alert.labels, **alert.annotations, "message": alert.message}
    values["workload"] = next((alert.labels[k] for k in WORKLOADS if k in alert.labels), "")
    return [values.get(key, "")[:limit] for key in HUAWEI_KEYS]


def messages(provider: str, request: Request) -> list[Any]:
    """What is sent, in order: the receiver's own template's text if it has one, else a line per alert."""
    limits, spec, notification = PROVIDERS[provider].limits, request.receiver.spec, request.notification
    if spec.template is not None or spec.tmpl_text is not None:
        text = request.message.text
    elif provider == "huawei":
        assert limits.max_message_chars is not None
        return [huawei_params(alert, limits.max_message_chars) for alert in notification.alerts]
    else:
        text = "\n".join(sms_line(alert) for alert in notification.alerts)
    if provider == "huawei":  # a single variable: the template's first
        return [[piece] for piece in limits.split(text)]
    return limits.split(text)


def phone_number(number: str, china_prefix: bool) -> str:
    return number if number.startswith("+") or not china_prefix else f"+86{number}"


class SmsSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._log = ctx.logger

    async def send(self, request: Request) -> SendReport | None:
        if request.config is None:
            raise PermanentError("no SmsConfig to send with: label one `type: default` or select one")
        config, name = request.config.spec, request.config.spec.provider
        provider = PROVIDERS[name]
        settings = getattr(config.providers, name)
        numbers = [phone_number(n, provider.china_prefix) for n in request.receiver.spec.phone_numbers]

        warnings: list[str] = []
        batches: Sequence[Sequence[str]] = provider.limits.batches(numbers)
        for message in messages(name, request):
            for batch in batches:
                warnings += await provider.post(self._http, settings, request.secret, batch, message)
        self._log.debug("sent SMS for %s through %s", request.receiver.ref, name)
        return SendReport(warnings=tuple(warnings)) if warnings else None

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client is the core's."""
