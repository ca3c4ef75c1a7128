"""Turns a notification into a subject, plain text, markdown and HTML (Jinja2, HTML autoescaped).

Operators can replace any of the four with their own Jinja2 files (`nm run --templates DIR`: `subject.j2`,
`text.j2`, `markdown.j2`, `html.j2`; the built-in ones stay reachable as `default/text.j2` and so on). Template
trouble is the Go original's second most common complaint, so a broken template is found at start-up (syntax,
unknown filters, a trial render) with its file and line, and one that fails on a real notification later is
logged and that notification sent with the built-in look: an alert is never lost to a template.
"""

import functools
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import jinja2

from nmcore.alerts import Alert, Notification
from nmcore.channel import Rendered
from nmcore.errors import TemplateProblem

log = logging.getLogger(__name__)

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


FORMATS = ("subject", "text", "markdown", "html")


class DefaultRenderer:
    def __init__(self, templates: Path | str | None = None) -> None:
        if templates is not None and not Path(templates).is_dir():
            raise TemplateProblem(f"templates folder {templates} is not a folder")
        builtin = jinja2.PrefixLoader({"default": jinja2.PackageLoader("nmcore", "templates")})
        own = [jinja2.FileSystemLoader(templates)] if templates is not None else []
        loader = jinja2.ChoiceLoader([*own, builtin])
        self._env = self._environment(loader, autoescape=True)
        self._plain = self._environment(loader, autoescape=False)
        self.text_template = self._plain.get_template("default/text.j2")
        self.markdown_template = self._plain.get_template("default/markdown.j2")
        self.html_template = self._env.get_template("default/html.j2")
        self.custom: dict[str, jinja2.Template] = {}
        """The operator's templates by format; the built-in look is kept as the fallback."""
        if templates is not None:
            self._load_custom(Path(templates))

    @staticmethod
    def _environment(loader: jinja2.BaseLoader, *, autoescape: bool) -> jinja2.Environment:
        env = jinja2.Environment(loader=loader, autoescape=autoescape, trim_blocks=True, lstrip_blocks=True)
        env.filters.update(label_pairs=_label_pairs, annotation_pairs=_annotation_pairs, when=format_time)
        return env

    def _load_custom(self, folder: Path) -> None:
        for fmt in FORMATS:
            path = folder / f"{fmt}.j2"
            if not path.is_file():
                continue
            env = self._env if fmt == "html" else self._plain
            try:
                template = env.get_template(path.name)
                template.render(notification=SAMPLE, subject="subject")  # unknown names fail now, not at 3 a.m.
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateProblem(f"{path}:{exc.lineno}: {exc.message}") from None
            except Exception as exc:
                raise TemplateProblem(f"{path}: fails on a sample notification: {type(exc).__name__}: {exc}"
                                      f"{_line_of(exc, path)}") from None
            self.custom[fmt] = template

    def render(self, notification: Notification) -> Rendered:
        return LazyRendered(self, notification)


def _line_of(exc: Exception, path: Path) -> str:
    """The template line an exception was raised at (Jinja2 rewrites tracebacks to point into templates)."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" (line {line})" if line else ""


class LazyRendered:
    """Renders each format on first use: a webhook never pays for HTML, an email never for markdown."""

    def __init__(self, renderer: DefaultRenderer, notification: Notification):
        self._renderer = renderer
        self._notification = notification

    def _custom(self, fmt: str, **context: str) -> str | None:
        """The operator's template for `fmt`, or None (no such template, or it failed: logged, default used)."""
        template = self._renderer.custom.get(fmt)
        if template is None:
            return None
        try:
            return template.render(notification=self._notification, **context)
        except Exception as exc:
            log.error("template %s failed for %s (%s: %s); sending it with the built-in %s instead",
                      template.filename, self._notification.receiver, type(exc).__name__, exc, fmt)
            return None

    @functools.cached_property
    def subject(self) -> str:
        custom = self._custom("subject")
        # One line, whatever the template or the labels hold: CR/LF can never reach a mail header.
        return " ".join(custom.split()) if custom is not None else subject_of(self._notification)

    def _render(self, fmt: str, default: jinja2.Template) -> str:
        custom = self._custom(fmt, subject=self.subject)
        return custom if custom is not None else default.render(notification=self._notification, subject=self.subject)

    @functools.cached_property
    def text(self) -> str:
        return self._render("text", self._renderer.text_template).strip() + "\n"

    @functools.cached_property
    def markdown(self) -> str:
        return self._render("markdown", self._renderer.markdown_template).strip() + "\n"

    @functools.cached_property
    def html(self) -> str:
        return self._render("html", self._renderer.html_template)


SAMPLE = Notification(
    receiver="EmailReceiver/kubesphere-monitoring-system/sample", channel="email", tenant="alice",
    alerts=(
        Alert(labels={"alertname": "KubePodCrashLooping", "namespace": "team-a", "pod": "web-1", "severity": "warning"},
              annotations={"message": "Pod team-a/web-1 is crash looping", "runbook_url": "https://example.com/rb"},
              starts_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat(), generator_url="http://prometheus/graph"),
        Alert(status="resolved", labels={"alertname": "KubePodCrashLooping", "namespace": "team-a", "pod": "web-2"},
              annotations={"summary": "Pod team-a/web-2 is crash looping"}),
    ),
    group_labels={"alertname": "KubePodCrashLooping"}, external_url="http://alertmanager",
)
"""What a template is tried on at start-up: two alerts, firing and resolved, the usual labels and annotations."""
