"""Turns a notification into the message each receiver is sent: subject, title, text, markdown, HTML, post.

Templates are found by name in layers (`nmcore.templating`): the receiver's own `tmplText` ConfigMap, then the
global ones (the NotificationManager's `template.text` ConfigMap, `nm run --templates DIR`), then the built-in
set (`nm.default.subject`, `nm.default.text`, `nm.default.markdown`, `nm.default.html`, `nm.default.post`).
Which name renders which format follows the Go original's precedence (`nmcore.templatechoice`).

Template trouble is the Go original's second most common complaint, so: a template that cannot work is refused
when the configuration loads, reported with its ConfigMap, key and line (an Event on Kubernetes), and the
receivers that would use it say so in /api/v2/status; one that fails on a real notification is logged, that
message sent with the built-in look, and the receiver's status says that too. An alert is never lost to a
template, and a tenant's template only ever shapes that tenant's receivers' messages.
"""

import difflib
import functools
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import attrs

from nmcore.alerts import Alert, Notification
from nmcore.channel import Rendered
from nmcore.languages import BUILTIN_DICTIONARIES, Dictionaries, LanguagePackError, parse_pack
from nmcore.resources import ConfigMapKeySelector
from nmcore.snapshot import DEFAULT_NAMESPACE, Problem, Snapshot, Target
from nmcore.templatechoice import BUILTIN_PREFIX, TemplateChoice, TemplateSettings, choose
from nmcore.templatemodel import format_time, template_context
from nmcore.templating import (
    BUILTIN_ORIGIN,
    TemplateProblem,
    TemplateSource,
    TemplateStack,
    builtins,
    describe_failure,
    is_inline,
    render_limited,
)

__all__ = ["HIDDEN_LABELS", "SAMPLE", "DefaultRenderer", "Renderer", "TemplateProblem", "format_time"]

log = logging.getLogger(__name__)

HIDDEN_LABELS = frozenset({"alertname", "rule_id"})
"""Labels a channel's own layout leaves out of the label list (alertname is the headline already)."""

LEGACY_FORMATS = ("subject", "text", "markdown", "html")
TEMPLATE_FIELDS = ("template", "subject_template", "title_template", "tmpl_type", "language", "tmpl_text")
"""The receiver fields a template choice depends on (`nmcore.templatechoice.choose`)."""
"""`--templates DIR` files that replace one format for every receiver (`html.j2`)."""


class Renderer(Protocol):
    def prepare(self, snapshot: Snapshot) -> list[Problem]:
        """Load and check the templates `snapshot`'s receivers use; return the problems found."""
        ...

    def render(self, notification: Notification, target: Target | None = None) -> Rendered: ...

    def receiver_status(self, receiver: str) -> list[str]:
        """Template trouble this receiver has now (refused or failing templates), for /api/v2/status."""
        ...


@attrs.frozen
class Plan:
    """How one receiver's messages are rendered: the names chosen, the templates they resolve in, the words."""

    choice: TemplateChoice
    stack: TemplateStack
    dictionaries: Dictionaries
    notes: tuple[str, ...] = ()


def folder_sources(folder: Path) -> dict[str, TemplateSource]:
    """`NAME.j2` files of a templates folder, by NAME."""
    return {path.name.removesuffix(".j2"): TemplateSource(path.name.removesuffix(".j2"),
                                                          path.read_text(encoding="utf-8"), str(path))
            for path in sorted(folder.glob("*.j2")) if path.is_file()}


def _sample_contexts() -> list[dict[str, Any]]:
    return [template_context(SAMPLE, language, BUILTIN_DICTIONARIES, subject="sample subject")
            for language in ("English", "zh-cn")]


def _builtin_name(fmt: str) -> str:
    return BUILTIN_PREFIX + ("subject" if fmt == "title" else fmt)


class DefaultRenderer:
    def __init__(self, templates: Path | str | None = None, *, settings: TemplateSettings | None = None,
                 default_namespace: str = DEFAULT_NAMESPACE) -> None:
        """`templates`: the `--templates DIR` folder, checked now (a broken file stops start-up, naming it)."""
        self._namespace = default_namespace
        self._samples = _sample_contexts()
        self._folder: dict[str, TemplateSource] = {}
        formats: dict[str, str] = {}
        if templates is not None:
            folder = Path(templates)
            if not folder.is_dir():
                raise TemplateProblem(f"templates folder {templates} is not a folder")
            self._folder = folder_sources(folder)
            checked = TemplateStack([self._folder, builtins()], self._samples)
            if checked.refused:
                raise TemplateProblem(checked.refused[0].reason)
            formats = {fmt: fmt for fmt in LEGACY_FORMATS if fmt in self._folder}
        base = settings or TemplateSettings()
        self.settings = attrs.evolve(base, formats={**formats, **base.formats})
        self._builtin = TemplateStack([builtins()])
        self._stacks: dict[Any, TemplateStack] = {}
        self._plans: dict[str, Plan] = {}
        self._global = Plan(choose(None, "", "text", self.settings), self._stack([self._folder, builtins()]),
                            BUILTIN_DICTIONARIES)
        self._failures: dict[tuple[str, str], str] = {}

    # ---- loading ----------------------------------------------------------------------------------------
    def _stack(self, layers: Sequence[Mapping[str, TemplateSource]], cache: dict[Any, TemplateStack] | None = None,
               ) -> TemplateStack:
        """A checked stack for these layers, reused while their sources are unchanged (checking costs a render
        per template)."""
        key = tuple(tuple(sorted((n, s.origin, s.text) for n, s in layer.items()))
                    for layer in layers if layer is not builtins())
        stack = self._stacks.get(key) or TemplateStack(layers, self._samples)
        if cache is not None:
            cache[key] = stack
        return stack

    def prepare(self, snapshot: Snapshot) -> list[Problem]:
        problems: dict[tuple[str, str, str], Problem] = {}

        def problem(origin: str, obj: str, message: str) -> None:
            problems.setdefault((origin, obj, message), Problem(origin, obj, message))

        dictionaries = BUILTIN_DICTIONARIES.with_packs(self._language_packs(snapshot, problem))
        cache: dict[Any, TemplateStack] = {}
        global_layer = dict(self._folder)
        if self.settings.text is not None:
            found, missing = configmap_sources(snapshot, self.settings.text, self._namespace)
            if missing:
                problem("template settings", "template.text", f"{missing}; using the built-in templates")
            global_layer.update(found)
        global_stack = self._stack([global_layer, builtins()], cache)
        for refused in global_stack.refused:
            problem(refused.source.document, refused.source.object, f"{refused.reason}; not used")
        plans: dict[str, Plan] = {}
        shared: dict[tuple[Any, ...], Plan] = {}
        for ref, target in snapshot.targets.items():
            spec = target.receiver.spec
            key = (target.channel, *(getattr(spec, f, None) for f in TEMPLATE_FIELDS))
            plan = shared.get(key)  # most receivers set no template field: one plan serves them all
            if plan is None:
                plan = self._plan(snapshot, target, global_layer, global_stack, dictionaries, cache, problem)
                if not plan.notes and getattr(spec, "tmpl_text", None) is None:
                    shared[key] = plan
            plans[ref] = plan
        self._stacks = cache
        self._plans = plans
        self._global = Plan(choose(None, "", "text", self.settings), global_stack, dictionaries)
        self._failures = {k: v for k, v in self._failures.items() if k[0] in plans}
        return list(problems.values())

    def _plan(self, snapshot: Snapshot, target: Target, global_layer: Mapping[str, TemplateSource],
              global_stack: TemplateStack, dictionaries: Dictionaries, cache: dict[Any, TemplateStack],
              problem: Any) -> Plan:
        receiver = target.receiver
        channel = snapshot.channels.get(target.channel)
        body_format = channel.spec.body_format if channel is not None else "text"
        choice = choose(receiver.spec, target.channel, body_format, self.settings)
        notes: list[str] = []

        def note(field: str, message: str) -> None:
            notes.append(message)
            problem(receiver.origin, receiver.ref, f"{field}: {message}")

        own: dict[str, TemplateSource] = {}
        if choice.tmpl_text is not None:
            own, missing = configmap_sources(snapshot, choice.tmpl_text, receiver.metadata.namespace)
            if missing:
                note("$.spec.tmplText", f"{missing}; its messages use the global and built-in templates")
        stack = self._stack([own, global_layer, builtins()], cache) if own else global_stack
        for refused in stack.refused:
            problem(refused.source.document, refused.source.object, f"{refused.reason}; not used")
            if refused.source.name in own.keys() | set(choice.names.values()):
                notes.append(f"{refused}; the built-in look is used instead")
        names = dict(choice.names)
        for fmt, value in choice.names.items():
            if is_inline(value):
                why = stack.check_inline(value)
                if why:
                    note(choice.fields[fmt], f"{why}; the built-in {fmt} is used instead")
                    names[fmt] = _builtin_name(fmt)
            elif not stack.has(value):
                near = difflib.get_close_matches(value, list(stack.sources), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                note(choice.fields[fmt], f"no template named {value!r}{hint}; the built-in {fmt} is used instead")
                names[fmt] = _builtin_name(fmt)
        if not dictionaries.known(choice.language):
            note("language", f"no language pack for {choice.language!r}; its messages stay in English")
        return Plan(attrs.evolve(choice, names=names), stack, dictionaries, tuple(notes))

    def _language_packs(self, snapshot: Snapshot, problem: Any) -> dict[str, dict[str, str]]:
        packs: dict[str, dict[str, str]] = {}
        for selector in self.settings.language_pack:
            found, missing = configmap_sources(snapshot, selector, self._namespace)
            if missing:
                problem("template settings", "template.languagePack", missing)
            for source in found.values():
                try:
                    for name, words in parse_pack(source.text).items():
                        packs.setdefault(name, {}).update(words)
                except LanguagePackError as exc:
                    problem(source.document, source.object, f"{source.origin}: not a language pack: {exc}")
        return packs

    # ---- rendering --------------------------------------------------------------------------------------
    def render(self, notification: Notification, target: Target | None = None) -> "LazyRendered":
        plan = self._plans.get(target.receiver.ref) if target is not None else None
        return LazyRendered(self, plan or self._global, notification)

    def receiver_status(self, receiver: str) -> list[str]:
        plan = self._plans.get(receiver)
        failures = [message for (ref, _), message in sorted(self._failures.items()) if ref == receiver]
        return [*(plan.notes if plan else ()), *failures]

    def _failed(self, receiver: str, fmt: str, message: str) -> None:
        self._failures[(receiver, fmt)] = message

    def _succeeded(self, receiver: str, fmt: str) -> None:
        self._failures.pop((receiver, fmt), None)


def configmap_sources(snapshot: Snapshot, selector: ConfigMapKeySelector,
                      default_namespace: str) -> tuple[dict[str, TemplateSource], str]:
    """The templates in a ConfigMap (one key, or every key), named by key (`.j2` dropped); or why there are none."""
    namespace = selector.namespace or default_namespace
    configmap = snapshot.configmaps.get((namespace, selector.name))
    if configmap is None:
        known = [name for ns, name in snapshot.configmaps if ns == namespace]
        near = difflib.get_close_matches(selector.name, known, n=1)
        return {}, (f"ConfigMap {selector.name!r} not found in namespace {namespace!r}"
                    + (f" (did you mean {near[0]!r}?)" if near else ""))
    if selector.key and selector.key not in configmap.data:
        near = difflib.get_close_matches(selector.key, list(configmap.data), n=1)
        return {}, (f"ConfigMap {namespace}/{selector.name} has no key {selector.key!r}"
                    + (f" (did you mean {near[0]!r}?)" if near else ""))
    document = snapshot.configmap_origins.get((namespace, selector.name), "")
    sources = {}
    for key in [selector.key] if selector.key else sorted(configmap.data):
        name = key.removesuffix(".j2")
        sources[name] = TemplateSource(name, configmap.data[key], f"ConfigMap {namespace}/{selector.name} key {key}",
                                       document, f"ConfigMap/{namespace}/{selector.name}")
    return sources, ""


def one_line(text: str) -> str:
    """Whatever a template or a label holds, CR/LF can never reach a mail header or a title."""
    return " ".join(text.split())


class LazyRendered:
    """Renders each format on first use: a webhook never pays for HTML, an email never for markdown."""

    def __init__(self, renderer: DefaultRenderer, plan: Plan, notification: Notification):
        self._renderer = renderer
        self._plan = plan
        self._notification = notification
        self.body_format = plan.choice.body_format
        """The format this receiver's messages are sent in (its `tmplType`, else the channel's default)."""
        self.template_names: Mapping[str, str] = plan.choice.names
        self.language = plan.choice.language

    @functools.cached_property
    def _context(self) -> dict[str, Any]:
        return template_context(self._notification, self._plan.choice.language, self._plan.dictionaries)

    def _render(self, fmt: str, subject: str = "") -> str:
        name = self._plan.choice.names[fmt]
        context = {**self._context, "subject": subject}
        stack, receiver = self._plan.stack, self._notification.receiver
        html = fmt == "html"
        try:
            template = stack.inline(name, html=html) if is_inline(name) else stack.template(name, html=html)
            text = render_limited(template, context)
            if fmt == "post":
                json.loads(text)
        except Exception as exc:
            source = stack.sources.get(name)
            if source is not None and source.origin == BUILTIN_ORIGIN:
                raise  # a bug in a built-in template: the tests must see it
            what = f"template {name} ({source.origin})" if source is not None else "the inline template"
            why = describe_failure(exc, stack.origins)
            if fmt == "post" and isinstance(exc, ValueError):
                why = f"its output is not JSON: {why}"
            message = (f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: {what} failed on a notification: {why}; "
                       f"sent with the built-in {fmt} instead")
            log.error("%s: %s", receiver, message)
            self._renderer._failed(receiver, fmt, message)
            return render_limited(self._renderer._builtin.template(_builtin_name(fmt), html=html), context)
        if not name.startswith(BUILTIN_PREFIX):
            self._renderer._succeeded(receiver, fmt)
        return text

    @functools.cached_property
    def subject(self) -> str:
        return one_line(self._render("subject"))

    @functools.cached_property
    def title(self) -> str:
        """The title of channels that have one (DingTalk, Pushover): the subject unless `titleTemplate` says."""
        names = self._plan.choice.names
        return self.subject if names["title"] == names["subject"] else one_line(self._render("title"))

    @functools.cached_property
    def text(self) -> str:
        return self._render("text", self.subject).strip() + "\n"

    @functools.cached_property
    def markdown(self) -> str:
        return self._render("markdown", self.subject).strip() + "\n"

    @functools.cached_property
    def html(self) -> str:
        return self._render("html", self.subject)

    @functools.cached_property
    def post(self) -> str:
        """A Feishu-style rich-text post as JSON text."""
        return self._render("post", self.subject)

    def format(self, name: str) -> str:
        """One format by name (`subject`, `title`, `text`, `markdown`, `html`, `post`)."""
        if name not in self.template_names:
            raise KeyError(f"no format {name!r}; there are {', '.join(self.template_names)}")
        return str(getattr(self, name))


SAMPLE = Notification(
    receiver="EmailReceiver/kubesphere-monitoring-system/sample", channel="email", tenant="alice",
    alerts=(
        Alert(labels={"alertname": "KubePodCrashLooping", "namespace": "team-a", "pod": "web-1", "severity": "warning",
                      "container": "app"},
              annotations={"message": "Pod team-a/web-1 (app) is restarting 3 times / 5 minutes.",
                           "summary": "Pod is crash looping.", "summaryCn": "容器组 team-a/web-1 反复重启。",
                           "runbook_url": "https://runbooks.example.com/KubePodCrashLooping"},
              starts_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
              generator_url="http://prometheus.example.com/graph?g0.expr=kube_pod_restarts"),
        Alert(status="resolved", labels={"alertname": "KubePodCrashLooping", "namespace": "team-a", "pod": "web-2"},
              annotations={"summary": "Pod team-a/web-2 is crash looping"},
              starts_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat(),
              ends_at=datetime(2026, 1, 1, 0, 5, tzinfo=UTC).isoformat()),
    ),
    group_labels={"alertname": "KubePodCrashLooping"}, external_url="http://alertmanager.example.com:9093",
)
"""What templates are tried on when loaded, and what `nm render --sample` shows: two alerts, firing and resolved,
the usual labels and annotations (English and Chinese)."""
