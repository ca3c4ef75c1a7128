"""Parsing what senders POST: Alertmanager's webhook body (version 4) or a bare JSON array of alerts.

The envelope must be right (otherwise a 400 naming the problem). Each alert is checked on its own: a bad
one is rejected with its location and the rest of the group is still accepted. Timestamps must be RFC 3339, as
Alertmanager writes them; an alert without `startsAt` gets the time it was received, one without `endsAt` the
zero time Alertmanager sends for "no end yet", so what channels forward is Alertmanager's shape.
"""

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson

from nmcore.alerts import Alert, AlertGroup, Status
from nmcore.errors import PayloadError
from nmcore.gcpause import gc_paused
from nmcore.schema import SchemaError, structure

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time: what Alertmanager writes as the endsAt of an alert that has not ended."""

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")


def rfc3339_problem(value: str) -> str:
    """Why `value` is not an RFC 3339 date-time (`2026-11-24T05:53:21.974Z`), or "" when it is one."""
    if not _RFC3339.fullmatch(value):
        shown = repr(value) if len(value) <= 64 else f"a {len(value)}-character string"
        return f"must be an RFC 3339 time such as 2026-11-24T05:53:21Z, got {shown}"
    try:
        datetime.fromisoformat(value.upper())
    except ValueError as exc:
        return f"must be an RFC 3339 time: {value!r} is out of range ({exc})"
    return ""


def received_time() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


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


def _alert(raw: Any, path: str, received: str) -> Alert:
    alert: Alert = structure(raw, Alert, path)
    problems = [] if alert.labels else [f"an alert needs at least one label @ {path}.labels"]
    for key, value in (("startsAt", alert.starts_at), ("endsAt", alert.ends_at)):
        if value and (why := rfc3339_problem(value)):
            problems.append(f"{key} {why} @ {path}.{key}")
    if problems:
        raise SchemaError(problems)
    alert = attrs.evolve(alert, starts_at=alert.starts_at or received, ends_at=alert.ends_at or ZERO_TIME)
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
    received = received_time()
    for index, raw in enumerate(raw_alerts):
        try:
            alerts.append(_alert(raw, f"{prefix}[{index}]", received))
        except SchemaError as exc:
            rejected += exc.problems
    try:
        group: AlertGroup = structure({**envelope, "alerts": []}, AlertGroup)
    except SchemaError as exc:
        raise PayloadError("; ".join(exc.problems)) from None
    return Parsed(attrs.evolve(group, alerts=tuple(alerts)), tuple(rejected))


def decode_payload(body: bytes) -> Parsed:
    """`parse_payload` of a JSON body; the server runs it in a worker thread for a large body, so the event loop
    keeps answering (health checks, other POSTs) while 100,000 alerts are checked."""
    with gc_paused():  # the body becomes hundreds of thousands of small, acyclic objects at once
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(f"malformed JSON: {exc}") from None
        return parse_payload(payload)
