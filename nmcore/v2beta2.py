"""The shapes of `notification.kubesphere.io/v2beta2`, field for field as the Go original's types.

Every v2beta2 kind is cluster-scoped. `Config` and `Receiver` hold one block per channel (`email`, `webhook`, …);
each block's schema belongs to the channel's plugin (`ChannelSpec.v2beta2`), built from the shared pieces here:
credentials (`{value}` or `{valueFrom: {secretKeyRef: {namespace?, name, key}}}`), TLS and HTTP client settings,
label selectors with the original's `Match` + `regexValue`, and the fields every receiver block has.
`NotificationManager`, `Router` and `Silence` are the core's own kinds.
"""

import datetime
import functools
import re
import zoneinfo
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from nmcore import resources
from nmcore.resources import LabelSelector as KubeLabelSelector
from nmcore.schema import KEY, FieldProblem, manifest_key

GROUP_VERSION = "notification.kubesphere.io/v2beta2"

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (`6s`, `1m`, `1h30m`, `300ms`), as metav1.Duration writes them."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    parts = _DURATION.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"{text!r} is not a duration (write it as Go does: 30s, 5m, 1h30m)")
    return sign * sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _check_duration(instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None:
        try:
            parse_duration(value)
        except ValueError as exc:
            raise FieldProblem(manifest_key(type(instance), attribute), str(exc)) from None


@attrs.frozen(kw_only=True)
class SecretKeyRef:
    """A key of a Secret in any namespace: empty means `defaultSecretNamespace`, then nm's own namespace."""

    namespace: str = ""
    name: str
    key: str

    def __attrs_post_init__(self) -> None:
        if not self.name or not self.key:
            raise ValueError("secretKeyRef needs a name and a key")

    def __str__(self) -> str:
        return f"Secret {self.name!r} key {self.key!r}"


@attrs.frozen(kw_only=True)
class ValueSource:
    secret_key_ref: SecretKeyRef | None = None


@attrs.frozen(kw_only=True)
class Credential:
    """A value given inline (`value`: not for secrets) or read from a Secret at send time (rotation needs no
    restart)."""

    value: str = attrs.field(default="", repr=False)
    value_from: ValueSource | None = None

    def __attrs_post_init__(self) -> None:
        if not self.value and self.value_from is None:
            raise ValueError("must specify one of: `value` or `valueFrom`")
        if self.value and self.value_from is not None:
            raise ValueError("valueFrom may not be specified when `value` is not empty")
        if self.value_from is not None and self.value_from.secret_key_ref is None:
            raise ValueError("valueFrom needs secretKeyRef")

    @property
    def secret_key_ref(self) -> SecretKeyRef | None:
        return self.value_from.secret_key_ref if self.value_from else None

    def __str__(self) -> str:
        return str(self.secret_key_ref) if self.secret_key_ref else "an inline value"


ConfigmapKeySelector = resources.ConfigMapKeySelector
"""`{namespace?, name, key?}`: the same selector the template settings read (no key: every entry)."""


@functools.lru_cache(maxsize=1 << 16)
def pattern(text: str) -> re.Pattern[str]:
    """`text` compiled once: thousands of selectors each with their own regex would thrash `re`'s small cache."""
    return re.compile(text)


@attrs.frozen(kw_only=True)
class LabelSelectorRequirement(resources.LabelSelectorRequirement):
    """A Kubernetes selector requirement, or the original's `Match` of `regexValue` against the whole value
    (anchored); a missing label reads as "".

    nmcore anchors the regex: it must match the whole value, as Alertmanager's `=~` matchers do. The original
    (Go's regexp.MatchString) finds it anywhere, so `regexValue: ""` or `prod` matched every value or any value
    containing `prod` (`nonprod` too), and a Silence written that way muted far more than meant. Write `.*prod.*`
    for a substring."""

    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Match"]  # type: ignore[assignment]
    regex_value: str = ""

    def __attrs_post_init__(self) -> None:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        if self.operator == "Match":
            try:
                re.compile(self.regex_value)
            except re.error as exc:
                raise FieldProblem("regexValue", f"{self.regex_value!r} is not a regular expression: {exc}") from None

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "Match":
            return pattern(self.regex_value).fullmatch(labels.get(self.key, "")) is not None
        return super().matches(labels)

    def __str__(self) -> str:
        return f"{self.key} Match {self.regex_value!r} (whole value)" if self.operator == "Match" \
            else super().__str__()


@attrs.frozen(kw_only=True)
class LabelSelector(resources.LabelSelector):
    """A Kubernetes label selector plus the original's `Match` operator (with `regexValue`)."""

    match_expressions: tuple[LabelSelectorRequirement, ...] = ()  # type: ignore[assignment]


@attrs.frozen(kw_only=True)
class ClientCertificate:
    cert: Credential
    key: Credential


@attrs.frozen(kw_only=True)
class TLSConfig:
    root_ca: Credential | None = attrs.field(default=None, metadata={KEY: "rootCA"})
    client_certificate: ClientCertificate | None = None
    server_name: str = ""
    insecure_skip_verify: bool = False


@attrs.frozen(kw_only=True)
class BasicAuth:
    username: str
    password: Credential | None = None


@attrs.frozen(kw_only=True)
class HTTPClientConfig:
    basic_auth: BasicAuth | None = None
    bearer_token: Credential | None = None
    proxy_url: str = attrs.field(default="", metadata={KEY: "proxyUrl"})
    tls_config: TLSConfig | None = None


@attrs.frozen(kw_only=True)
class ConfigBlock:
    """What most Config blocks have besides their own fields (unused by the original, accepted as written)."""

    labels: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True, slots=False)
class ReceiverBlock:
    """What every Receiver block has: a plugin's block adds its `<channel>ConfigSelector` and its own fields, or
    is its v1alpha1 receiver spec and this (`class SmsReceiverBlock(SmsReceiverSpec, ReceiverBlock)`: no slots
    here, so both can be bases).

    `alertSelector`, `template` and `tmplText` are kept for routing and templates; `enabled: false` turns the
    block off."""

    enabled: bool = True
    alert_selector: LabelSelector | None = None
    template: str | None = None
    tmpl_text: ConfigmapKeySelector | None = None


# ---- NotificationManager --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class GlobalOptions:
    template_file: tuple[str, ...] = attrs.field(default=(), metadata={KEY: "templateFile"})
    template: str = ""
    cluster: str = ""
    """The name of this cluster: alerts without a `cluster` label get it."""


@attrs.frozen(kw_only=True)
class ChannelOptions:
    notification_timeout: int | None = None
    """Seconds one send to this channel may take."""
    template: str = ""

    def __attrs_post_init__(self) -> None:
        if self.notification_timeout is not None and self.notification_timeout <= 0:
            raise FieldProblem("notificationTimeout",
                               f"must be a positive number of seconds, got {self.notification_timeout}")


@attrs.frozen(kw_only=True)
class EmailOptions(ChannelOptions):
    delivery_type: str = ""
    max_email_receivers: int = 0
    subject_template: str = ""
    tmpl_type: str = ""


@attrs.frozen(kw_only=True)
class WechatOptions(ChannelOptions):
    tmpl_type: str = ""
    message_max_size: int = 0
    token_expires: int = 0
    """Nanoseconds (a Go time.Duration)."""


@attrs.frozen(kw_only=True)
class Throttle:
    threshold: int = 0
    unit: int = 0
    max_wait_time: int = 0


@attrs.frozen(kw_only=True)
class DingTalkOptions(ChannelOptions):
    title_template: str = ""
    tmpl_type: str = ""
    token_expires: int = 0
    conversation_message_max_size: int = 0
    chatbot_message_max_size: int = 0
    chat_bot_throttle: Throttle | None = attrs.field(default=None, metadata={KEY: "chatBotThrottle"})
    conversation_throttle: Throttle | None = None


@attrs.frozen(kw_only=True)
class PushoverOptions(ChannelOptions):
    title_template: str = ""


@attrs.frozen(kw_only=True)
class FeishuOptions(ChannelOptions):
    tmpl_type: str = ""
    token_expires: int = 0


@attrs.frozen(kw_only=True)
class Options:
    global_: GlobalOptions | None = attrs.field(default=None, metadata={KEY: "global"})
    email: EmailOptions | None = None
    wechat: WechatOptions | None = None
    slack: ChannelOptions | None = None
    webhook: ChannelOptions | None = None
    dingtalk: DingTalkOptions | None = None
    sms: ChannelOptions | None = None
    pushover: PushoverOptions | None = None
    feishu: FeishuOptions | None = None
    discord: ChannelOptions | None = None
    telegram: ChannelOptions | None = None

    def channel(self, name: str) -> ChannelOptions | None:
        """The options of channel `name` (the original has a key for each of its channels)."""
        found = getattr(self, name, None) if name != "global" else None
        return found if isinstance(found, ChannelOptions) else None


@attrs.frozen(kw_only=True)
class ReceiversSpec:
    tenant_key: str = ""
    global_receiver_selector: KubeLabelSelector | None = None
    tenant_receiver_selector: KubeLabelSelector | None = None
    options: Options | None = None


@attrs.frozen(kw_only=True)
class HistoryReceiver:
    webhook: Mapping[str, Any]
    """A webhook receiver block; checked against the webhook channel's schema when the object is read."""


@attrs.frozen(kw_only=True)
class Fallback:
    """nmcore's own field (the original has none): where a notification goes when its receiver cannot deliver it
    and no fallback-labelled receiver of its tenant (or a global one) is there to take it (nmcore.fallback)."""

    receiver: str = ""
    """The default fallback: a global receiver, by name, Kind/name or Kind/namespace/name (Receiver/NAME:BLOCK for
    one block of a v2beta2 Receiver). Never a tenant's receiver: it would get every tenant's alerts."""
    after: str | None = attrs.field(default=None, validator=_check_duration)
    """A Go duration: a delivery still failing this long after it was accepted also goes to the fallback, once,
    while its own retries go on. Without it, only a dead-lettered delivery falls back."""


@attrs.frozen(kw_only=True)
class Template:
    text: ConfigmapKeySelector | None = None
    reload_cycle: str = attrs.field(default="1m", validator=_check_duration)
    language_pack: tuple[ConfigmapKeySelector, ...] = ()
    language: str = "English"


@attrs.frozen(kw_only=True)
class NotificationManagerSpec:
    # The operator's Deployment: nmcore is deployed by its own manifests, so these are read and reported.
    resources: Any = None
    image: str | None = None
    image_pull_policy: str | None = None
    replicas: int | None = None
    node_selector: Mapping[str, str] | None = None
    affinity: Any = None
    tolerations: Any = None
    service_account_name: str = ""
    port_name: str = ""
    env: Any = None
    volumes: Any = None
    volume_mounts: Any = None
    args: tuple[str, ...] | None = None
    sidecars: Mapping[str, Any] | None = None
    annotations: Mapping[str, str] | None = None
    labels: Mapping[str, str] | None = None
    # What nmcore honours.
    default_config_selector: KubeLabelSelector | None = None
    receivers: ReceiversSpec | None = None
    default_secret_namespace: str = ""
    # For the Routing, Templates and History work.
    history: HistoryReceiver | None = None
    group_labels: tuple[str, ...] | None = None
    """Each receiver's alerts are regrouped by these labels' values, one notification per group (none given:
    Alertmanager's groups as they arrive)."""
    batch_max_size: int = 100
    """At most this many alerts in one notification; a larger group is sent in several."""
    batch_max_wait: str = attrs.field(default="0s", validator=_check_duration)
    """nmcore's default is 0s (send at once; the original waits 1m for more alerts). Longer waits are read and
    reported, not yet applied (see Settings)."""
    route_policy: Literal["All", "RouterFirst", "RouterOnly"] = "All"
    template: Template | None = None
    fallback: Fallback | None = None

    def __attrs_post_init__(self) -> None:
        if self.batch_max_size < 1:
            raise FieldProblem("batchMaxSize", f"must be at least 1, got {self.batch_max_size}")


DEPLOYMENT_FIELDS = ("resources", "image", "image_pull_policy", "replicas", "node_selector", "affinity",
                     "tolerations", "service_account_name", "port_name", "env", "volumes", "volume_mounts", "args",
                     "sidecars", "annotations", "labels")
"""NotificationManager fields that shape the operator's Deployment: they do not apply to nmcore."""


# ---- Router and Silence (read and checked here; routing applies them) ----------------------------------------


@attrs.frozen(kw_only=True)
class Channel:
    tenant: str
    type: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ReceiverSelector:
    name: tuple[str, ...] = ()
    regex_name: str = ""
    selector: LabelSelector | None = None
    channels: tuple[Channel, ...] = ()
    type: str = ""

    def __attrs_post_init__(self) -> None:
        try:
            re.compile(self.regex_name)
        except re.error as exc:
            raise FieldProblem("regexName", f"{self.regex_name!r} is not a regular expression: {exc}") from None


@attrs.frozen(kw_only=True)
class RouterSpec:
    enabled: bool = True
    alert_selector: LabelSelector
    receivers: ReceiverSelector


def _check_time(instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is None:
        return
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError as exc:
        raise FieldProblem(manifest_key(type(instance), attribute),
                           f"{value!r} is not an RFC 3339 time such as 2024-03-01T22:00:00Z ({exc})") from None


def _check_schedule(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    from croniter import croniter  # only when a Silence has a schedule: it is slow to import

    if value and (len(value.split()) != 5 or not croniter.is_valid(value)):
        raise FieldProblem(manifest_key(type(instance), attribute),
                           f"{value!r} is not a 5-field cron expression such as '0 22 * * *'")


def _check_zone(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise FieldProblem(manifest_key(type(instance), attribute),
                           f"{value!r} is not an IANA time zone such as UTC or Europe/Berlin") from None


@attrs.frozen(kw_only=True)
class SilenceSpec:
    """When a Silence mutes: always; from `startsAt` (for `duration`, or for good); or for `duration` after each
    tick of the cron `schedule`, read in `timeZone` (nmcore's field: the original reads the schedule in the pod's
    zone, which nobody sets; default UTC). With a schedule, `startsAt` is when the schedule begins to apply."""

    enabled: bool = True
    matcher: LabelSelector
    starts_at: str | None = attrs.field(default=None, validator=_check_time)
    schedule: str = attrs.field(default="", validator=_check_schedule)
    duration: str | None = attrs.field(default=None, validator=_check_duration)
    time_zone: str = attrs.field(default="UTC", validator=_check_zone)

    def __attrs_post_init__(self) -> None:
        if self.schedule and self.duration is None:
            raise FieldProblem("duration", f"a schedule ({self.schedule!r}) needs a duration: how long each "
                                           "window lasts (the original then mutes for good, every day)")
