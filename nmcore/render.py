"""Turns a notification into a subject, plain text, markdown and HTML (Jinja2, HTML autoescaped).

This is the default look; a fuller template system can replace it behind the same `Renderer` interface.
"""

import functools
from datetime import datetime
from typing import Protocol

import jinja2

from nmcore.alerts import Alert, Notification
from nmcore.channel import Rendered

HIDDEN_ANNOTATIONS = frozenset({"message", "summary", "summaryCn", "summary_cn", "runbook_url"})
HIDDEN_LABELS = frozenset({"alertname", "rule_id"})


class Renderer(Protocol):
    def render(self, notification: Notification) -> Rendered: ...


def subject_of(notification: Notification) -> str:
    """One line, whatever the labels hold: CR/LF in a label can never reach a mail header."""
    alerts = notification.alerts
    status = notification.status.upper()
    if len(alerts) == 1:
        alert = alerts[0]
        name = alert.labels.get("alertname", "alert")
        headline = f"{name}: {alert.message}" if alert.message else name
        where = alert.namespace
    else:
        firing = len(notification.firing)
        mixed = 0 < firing < len(alerts)
        counts = f"{firing} firing, {len(alerts) - firing} resolved" if mixed else f"{len(alerts)} alerts"
        common = notification.common_labels
        headline = f"{common.get('alertname', 'alerts')} ({counts})"
        where = common.get("namespace", "")
    subject = f"[{status}] {headline}" + (f" in {where}" if where else "")
    return " ".join(subject.split())


def _label_pairs(alert: Alert) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in alert.labels.items() if k not in HIDDEN_LABELS)


def _annotation_pairs(alert: Alert) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in alert.annotations.items() if k not in HIDDEN_ANNOTATIONS)


def format_time(timestamp: str) -> str:
    """RFC 3339 from Alertmanager (nanoseconds included) as `2026-11-24 05:53:21 UTC`."""
    try:
        parsed = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    return parsed.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


class DefaultRenderer:
    def __init__(self) -> None:
        loader = jinja2.PackageLoader("nmcore", "templates")
        self._env = jinja2.Environment(loader=loader, autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self._plain = jinja2.Environment(loader=loader, autoescape=False, trim_blocks=True, lstrip_blocks=True)
        for env in (self._env, self._plain):
            env.filters.update(label_pairs=_label_pairs, annotation_pairs=_annotation_pairs, when=format_time)
        self.text_template = self._plain.get_template("text.j2")
        self.markdown_template = self._plain.get_template("markdown.j2")
        self.html_template = self._env.get_template("html.j2")

    def render(self, notification: Notification) -> Rendered:
        return LazyRendered(self, notification)


class LazyRendered:
    """Renders each format on first use: a webhook never pays for HTML, an email never for markdown."""

    def __init__(self, renderer: DefaultRenderer, notification: Notification):
        self._renderer = renderer
        self._notification = notification

    @functools.cached_property
    def subject(self) -> str:
        return subject_of(self._notification)

    def _render(self, template: jinja2.Template) -> str:
        return template.render(notification=self._notification, subject=self.subject)

    @functools.cached_property
    def text(self) -> str:
        return self._render(self._renderer.text_template).strip() + "\n"

    @functools.cached_property
    def markdown(self) -> str:
        return self._render(self._renderer.markdown_template).strip() + "\n"

    @functools.cached_property
    def html(self) -> str:
        return self._render(self._renderer.html_template)
