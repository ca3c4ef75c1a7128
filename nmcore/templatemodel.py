"""What a message template sees: one notification as plain values, in the shape the Go original's templates use.

    status              firing (any alert firing) or resolved
    alerts              every alert; alerts.firing, alerts.resolved
    alert.status, alert.labels, alert.annotations, alert.starts_at, alert.ends_at, alert.generator_url
    alert.message       the annotation that says what happened, for the message's language (zh-cn prefers
                        summaryCn/message_cn, as the original's `message` function does)
    alert.details       the other annotations as sorted pairs (runbook_url is a link of its own: alert.runbook_url)
    alert.silence_url   Alertmanager's "new silence" page for exactly this alert (needs externalURL)
    group_labels, common_labels, common_annotations
    labels.sorted_pairs()   (name, value) pairs, alertname first, rule_id hidden; .filter("a", "b") drops names
    translate("word"), message(alert), external_url, receiver, tenant, language, subject (in bodies), is_test

Every value is a plain str, list, dict or tuple (no object of nmcore's own with methods that do anything), which
keeps the sandbox's job small.
"""

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from nmcore.alerts import Alert, Notification
from nmcore.languages import Dictionaries, is_chinese

HIDDEN_LABELS = frozenset({"rule_id"})
"""Labels `sorted_pairs` leaves out, as the Go original does (an internal id nobody reads)."""

MESSAGE_KEYS = ("message", "summary", "summaryCn", "summary_cn", "message_cn", "messageCn", "description")
MESSAGE_KEYS_CN = ("summaryCn", "summary_cn", "message_cn", "messageCn", "message", "summary", "description")
RUNBOOK = "runbook_url"
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


class Pair(NamedTuple):
    name: str
    value: str


class Pairs(list[Pair]):
    """Sorted label or annotation pairs: `for name, value in pairs`, or `pair.name`/`pair.value`."""

    def filter(self, *names: str) -> "Pairs":
        """These pairs without the given names (the Go original's `SortedPairs.Filter "a" "b"`)."""
        return Pairs(p for p in self if p.name not in names)

    def names(self) -> list[str]:
        return [p.name for p in self]

    def values(self) -> list[str]:
        return [p.value for p in self]


class KV(dict[str, str]):
    """Labels or annotations: a dict (`labels.pod`, `labels["app.kubernetes.io/name"]`) with the Go helpers."""

    def sorted_pairs(self) -> Pairs:
        keys = sorted(k for k in self if k not in HIDDEN_LABELS and k != "alertname")
        first = ["alertname"] if "alertname" in self else []
        return Pairs(Pair(k, self[k]) for k in first + keys)

    def remove(self, *keys: str | Iterable[str]) -> "KV":
        drop = {k for key in keys for k in ([key] if isinstance(key, str) else key)}
        return KV({k: v for k, v in self.items() if k not in drop})

    def names(self) -> list[str]:
        return self.sorted_pairs().names()

    def values(self) -> list[str]:  # type: ignore[override] # the Go original's KV.Values: sorted, as a list
        return self.sorted_pairs().values()


def mentions(text: str, word: str) -> bool:
    """Whether `word` appears in `text` as a whole token (`dev` in "Pod dev/web-1", not in "device")."""
    return bool(word) and re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def format_time(timestamp: str) -> str:
    """RFC 3339 from Alertmanager (nanoseconds included) as `2026-11-24 05:53:21 UTC`; Go's zero time as ''."""
    if not timestamp or timestamp.startswith("0001-"):
        return ""
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    return parsed.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def silence_url(external_url: str, labels: Mapping[str, str]) -> str:
    """Alertmanager's "new silence" form, prefilled with matchers for exactly these labels."""
    if not external_url or not labels:
        return ""
    matchers = ",".join(f'{k}="{_matcher_value(v)}"' for k, v in sorted(labels.items()))
    return f"{external_url.rstrip('/')}/#/silences/new?filter={urllib.parse.quote('{' + matchers + '}', safe='')}"


def _matcher_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@attrs.frozen
class AlertView:
    status: str
    labels: KV
    annotations: KV
    starts_at: str
    ends_at: str
    generator_url: str
    fingerprint: str
    message: str
    message_key: str
    """The annotation `message` was taken from ('' when none)."""
    silence_url: str

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def runbook_url(self) -> str:
        return self.annotations.get(RUNBOOK, "")

    @property
    def details(self) -> Pairs:
        """Every annotation but the headline (and its exact repeats) and runbook_url: a `summary` under a
        `message` is shown, not dropped."""
        return Pairs(p for p in self.annotations.sorted_pairs()
                     if p.name not in (self.message_key, RUNBOOK) and p.value != self.message)

    @property
    def since(self) -> str:
        return format_time(self.starts_at)

    @property
    def ended(self) -> str:
        return format_time(self.ends_at) if self.status == "resolved" else ""

    @property
    def message_cn(self) -> str:
        return _pick(self.annotations, MESSAGE_KEYS_CN)[1]


class Alerts(list[AlertView]):
    @property
    def firing(self) -> "Alerts":
        return Alerts(a for a in self if a.status == "firing")

    @property
    def resolved(self) -> "Alerts":
        return Alerts(a for a in self if a.status == "resolved")


def _pick(annotations: Mapping[str, str], keys: tuple[str, ...]) -> tuple[str, str]:
    for key in keys:
        if annotations.get(key):
            return key, annotations[key]
    return "", ""


def alert_view(alert: Alert, language: str, external_url: str) -> AlertView:
    key, message = _pick(alert.annotations, MESSAGE_KEYS_CN if is_chinese(language) else MESSAGE_KEYS)
    return AlertView(
        status=alert.status, labels=KV(alert.labels), annotations=KV(alert.annotations), starts_at=alert.starts_at,
        ends_at=alert.ends_at, generator_url=alert.generator_url, fingerprint=alert.fingerprint, message=message,
        message_key=key, silence_url=silence_url(external_url, alert.labels),
    )


CONTEXT_NAMES = frozenset({
    "status", "alerts", "group_labels", "common_labels", "common_annotations", "external_url", "receiver",
    "receiver_name", "tenant", "language", "is_test", "subject", "translate", "message", "namespace_suffix",
})
"""The names a template may use besides Jinja's own; any other free name is a mistake reported at load time."""


def template_context(notification: Notification, language: str, dictionaries: Dictionaries,
                     subject: str = "") -> dict[str, Any]:
    """The variables and functions one notification is rendered with, in `language`."""
    external = notification.external_url
    alerts = Alerts(alert_view(a, language, external) for a in notification.alerts)

    def translate(key: object, **values: object) -> str:
        return dictionaries.translate(language, str(key), **values)

    def namespace_suffix(headline: str, namespace: str) -> str:
        """` in dev` after a headline that does not already name the namespace; in the headline's script."""
        if not namespace or mentions(headline, namespace):
            return ""
        if has_cjk(headline) and not is_chinese(language):
            return f"（{namespace}）"
        return translate("subject.namespace", namespace=namespace)

    context = {
        "status": notification.status,
        "alerts": alerts,
        "group_labels": KV(notification.group_labels),
        "common_labels": KV(notification.common_labels),
        "common_annotations": KV(notification.common_annotations),
        "external_url": external,
        "receiver": notification.receiver,
        "receiver_name": notification.receiver.rsplit("/", 1)[-1],
        "tenant": notification.tenant,
        "language": language,
        "is_test": notification.is_test,
        "subject": subject,
        "translate": translate,
        "message": lambda alert: alert.message if isinstance(alert, AlertView) else "",
        "namespace_suffix": namespace_suffix,
    }
    return context
