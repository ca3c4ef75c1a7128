"""Parsing what senders POST: Alertmanager's webhook body (version 4) or a bare JSON array of alerts.

The envelope must be right (otherwise a 400 naming the problem). Each alert is checked on its own: a bad
one is rejected with its location and the rest of the group is still accepted.
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from nmcore.alerts import Alert, AlertGroup, Status
from nmcore.errors import PayloadError
from nmcore.schema import SchemaError, structure


@attrs.frozen
class Parsed:
    group: AlertGroup
    rejected: tuple[str, ...] = ()


def _status_from_end(alert: Alert) -> Status:
    """An alert posted without a status (a custom sender) is resolved once its endsAt has passed."""
    if not alert.ends_at or alert.ends_at.startswith("0001-"):
        return "firing"
    try:
        ended = datetime.fromisoformat(alert.ends_at.replace("Z", "+00:00"))
    except ValueError:
        return "firing"
    return "resolved" if ended.astimezone(UTC) <= datetime.now(UTC) else "firing"


def _alert(raw: Any, path: str) -> Alert:
    alert: Alert = structure(raw, Alert, path)
    if not alert.labels:
        raise SchemaError([f"an alert needs at least one label @ {path}.labels"])
    if isinstance(raw, Mapping) and "status" not in raw:
        alert = attrs.evolve(alert, status=_status_from_end(alert))
    return alert


def parse_payload(payload: Any) -> Parsed:
    if isinstance(payload, list):
        envelope: Mapping[str, Any] = {"alerts": payload}
    elif isinstance(payload, Mapping):
        envelope = payload
    else:
        raise PayloadError("expected an Alertmanager webhook object or a JSON array of alerts @ $")
    raw_alerts = envelope.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("missing the alerts array @ $.alerts" if raw_alerts is None
                           else "alerts must be an array @ $.alerts")
    prefix = "$" if isinstance(payload, list) else "$.alerts"
    alerts: list[Alert] = []
    rejected: list[str] = []
    for index, raw in enumerate(raw_alerts):
        try:
            alerts.append(_alert(raw, f"{prefix}[{index}]"))
        except SchemaError as exc:
            rejected += exc.problems
    try:
        group: AlertGroup = structure({**envelope, "alerts": []}, AlertGroup)
    except SchemaError as exc:
        raise PayloadError("; ".join(exc.problems)) from None
    return Parsed(attrs.evolve(group, alerts=tuple(alerts)), tuple(rejected))
