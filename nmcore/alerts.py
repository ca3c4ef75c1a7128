"""Alerts as Alertmanager sends them, and the notification one receiver gets for one alert group."""

import hashlib
from collections.abc import Iterable, Mapping
from typing import Literal

import attrs
import orjson

from nmcore.schema import KEY, open_schema

Status = Literal["firing", "resolved"]

VERIFY_ALERTNAME = "NmcoreVerify"
"""The alertname of `nm verify`'s test notification, which the built-in subject shows as a short [TEST] line."""


def fingerprint_of(labels: Mapping[str, str]) -> str:
    """A stable id for an alert's label set, used when the sender gave none (a bare JSON array)."""
    return hashlib.sha256(orjson.dumps(sorted(labels.items()))).hexdigest()[:16]


@open_schema
@attrs.frozen(kw_only=True)
class Alert:
    status: Status = "firing"
    labels: Mapping[str, str] = attrs.field(factory=dict)
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    starts_at: str = ""
    ends_at: str = ""
    generator_url: str = attrs.field(default="", metadata={KEY: "generatorURL"})
    fingerprint: str = attrs.field(default=attrs.Factory(lambda alert: fingerprint_of(alert.labels), takes_self=True))

    @property
    def namespace(self) -> str:
        return self.labels.get("namespace", "")

    @property
    def message(self) -> str:
        """What the alert says, as the Go original picks it: message, then summary, then summaryCn."""
        a = self.annotations
        return a.get("message") or a.get("summary") or a.get("summaryCn") or a.get("description", "")


@open_schema
@attrs.frozen(kw_only=True)
class AlertGroup:
    """Alertmanager's webhook body (version 4); a bare array of alerts becomes a group with no group labels."""

    alerts: tuple[Alert, ...]
    receiver: str = ""
    status: str = ""
    group_labels: Mapping[str, str] = attrs.field(factory=dict)
    common_labels: Mapping[str, str] = attrs.field(factory=dict)
    common_annotations: Mapping[str, str] = attrs.field(factory=dict)
    external_url: str = attrs.field(default="", metadata={KEY: "externalURL"})
    version: str = "4"
    group_key: str = ""
    truncated_alerts: int = 0


def with_default_label(group: AlertGroup, name: str, value: str) -> AlertGroup:
    """Every alert of `group` with label `name`, set to `value` where the sender left it out (the Go original's
    `cluster` label for multi-cluster setups). Fingerprints stay the sender's: dedup is unaffected."""
    return attrs.evolve(group, alerts=tuple(
        a if name in a.labels else attrs.evolve(a, labels={**a.labels, name: value}) for a in group.alerts))


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The pairs every map has, in the first map's order (set intersection: a 100-alert group is on the hot path)."""
    maps = list(maps)
    if not maps:
        return {}
    shared = set(maps[0].items()).intersection(*(m.items() for m in maps[1:]))
    return {k: v for k, v in maps[0].items() if (k, v) in shared}


@attrs.frozen(kw_only=True)
class Notification:
    """What one receiver is sent for one incoming alert group: the alerts it is entitled to, and context."""

    receiver: str
    channel: str
    tenant: str
    alerts: tuple[Alert, ...]
    group_labels: Mapping[str, str] = attrs.field(factory=dict)
    external_url: str = ""
    group_key: str = ""

    @property
    def status(self) -> Status:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def is_test(self) -> bool:
        """A test notification from `nm verify`, not a real alert."""
        return len(self.alerts) == 1 and self.alerts[0].labels.get("alertname") == VERIFY_ALERTNAME

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.status == "resolved")

    @property
    def common_labels(self) -> dict[str, str]:
        return _common(a.labels for a in self.alerts)

    @property
    def common_annotations(self) -> dict[str, str]:
        return _common(a.annotations for a in self.alerts)

    @property
    def key(self) -> str:
        """Identity for deduplication: the same receiver, the same alerts in the same states."""
        parts = sorted(f"{a.fingerprint}:{a.status}" for a in self.alerts)
        return hashlib.sha256("|".join([self.receiver, *parts]).encode()).hexdigest()[:32]
