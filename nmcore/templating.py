"""Message templates by name: Jinja2 in the sandbox, layered (a receiver's own over the global ones over the
built-in set), each checked when loaded so a broken one is refused with where it lives and why.

Templates come from tenants (a receiver's `tmplText` ConfigMap), so they run in `jinja2.sandbox` with limits on
what a template can make the process do: loops (`range`), repeated strings (`"x" * n`), format widths and output
size. A template over a limit fails like any broken template: the message goes out with the built-in look, and
no other tenant's messages wait for it.
"""

import contextvars
import functools
import importlib.resources
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs
import jinja2
import jinja2.meta
from jinja2.sandbox import SandboxedEnvironment, SecurityError, safe_range

from nmcore.errors import TemplateProblem
from nmcore.templatemodel import CONTEXT_NAMES, format_time

__all__ = ["TemplateProblem", "TemplateSource", "TemplateStack", "builtins", "is_inline", "render_limited"]

log = logging.getLogger(__name__)

BUILTIN_ORIGIN = "built-in"
MAX_OUTPUT = 1_000_000
"""Characters one template may produce; far above any channel's message size."""
MAX_STEPS = 200_000
"""Loop steps (`range` items) one render may take."""
MAX_SEQUENCE = 100_000
_WIDE_FORMAT = re.compile(r"\d{5,}")


@attrs.frozen
class TemplateSource:
    """One template's text, and where it lives (shown in every problem about it)."""

    name: str
    text: str
    origin: str
    """`ConfigMap ns/name key K`, a file path, or `built-in`."""
    document: str = ""
    """The config document it came from (`templates.yaml#2`, `k8s:ConfigMap/ns/name`), for located problems."""
    object: str = ""
    """`ConfigMap/ns/name` for problems reported against the object."""


def builtin_sources() -> dict[str, TemplateSource]:
    """The built-in set, by name (`nm.default.html` from `nmcore/templates/nm.default.html.j2`)."""
    folder = importlib.resources.files("nmcore") / "templates"
    sources = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".j2"):
            name = entry.name.removesuffix(".j2")
            sources[name] = TemplateSource(name, entry.read_text(encoding="utf-8"), BUILTIN_ORIGIN)
    return sources


@functools.cache
def builtins() -> Mapping[str, TemplateSource]:
    return builtin_sources()


# ---- the sandbox and its limits ----------------------------------------------------------------------------
@attrs.define
class _Budget:
    steps: int = MAX_STEPS


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("nmcore_template_budget", default=None)


def _bounded_range(*args: int) -> range:
    numbers = safe_range(*args)
    budget = _budget.get()
    if budget is not None:
        budget.steps -= len(numbers)
        if budget.steps < 0:
            raise SecurityError(f"the template loops too much (over {MAX_STEPS:,} steps in one message)")
    return numbers


def _too_long(value: Any, times: Any) -> bool:
    return isinstance(times, int) and isinstance(value, str | list | tuple) and len(value) * times > MAX_SEQUENCE


class BoundedSandbox(SandboxedEnvironment):
    """The Jinja2 sandbox, plus limits on repetition, powers and format widths a template could abuse."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and (_too_long(left, right) or _too_long(right, left)):
            raise SecurityError(f"the template repeats a value into more than {MAX_SEQUENCE:,} items")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("the template raises a number to a power over 64")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise SecurityError("the template asks for a format width over 9999")
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDE_FORMAT.search(value.__self__):
            raise SecurityError("the template asks for a format width over 9999")
        return wrapped


class _SourcesLoader(jinja2.BaseLoader):
    """Templates by name from in-memory sources; the 'file name' is where the source lives, so Jinja's
    tracebacks (and our messages) point at the ConfigMap and key."""

    def __init__(self, sources: Mapping[str, TemplateSource]):
        self.sources = sources

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source = self.sources.get(template)
        if source is None:
            raise jinja2.TemplateNotFound(template)
        return source.text, source.origin, lambda: True

    def list_templates(self) -> list[str]:
        return sorted(self.sources)


@jinja2.pass_context
def _translate_filter(context: jinja2.runtime.Context, value: object, **values: object) -> str:
    return context["translate"](value, **values)  # type: ignore[no-any-return]


@jinja2.pass_context
def _message_filter(context: jinja2.runtime.Context, alert: object) -> str:
    return context["message"](alert)  # type: ignore[no-any-return]


def make_environment(sources: Mapping[str, TemplateSource], *, autoescape: bool) -> BoundedSandbox:
    env = BoundedSandbox(loader=_SourcesLoader(sources), autoescape=autoescape, trim_blocks=True,
                         lstrip_blocks=True, auto_reload=False, cache_size=-1)
    env.globals["range"] = _bounded_range
    env.filters.update(when=format_time, translate=_translate_filter, message=_message_filter)
    env.tests["http_url"] = _is_http_url
    return env


def _is_http_url(value: object) -> bool:
    """Links in the built-in templates are http(s) only: a `javascript:` generatorURL never becomes a link."""
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _line_in(exc: BaseException, origins: set[str]) -> int | None:
    """The template line an exception was raised at (Jinja2 rewrites tracebacks to point into templates)."""
    tb: TracebackType | None = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in origins:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _located(origin: str, line: int | None, message: str) -> str:
    """`dir/text.j2:3: why` for a file (editors jump there), `ConfigMap ns/name key k, line 3: why` otherwise."""
    if not line:
        return f"{origin}: {message}"
    return f"{origin}, line {line}: {message}" if " " in origin else f"{origin}:{line}: {message}"


def render_limited(template: jinja2.Template, context: Mapping[str, Any]) -> str:
    """Render within the sandbox's budget; raises what the template raised (SecurityError for a limit)."""
    token = _budget.set(_Budget())
    try:
        out: list[str] = []
        size = 0
        for piece in template.generate(context):
            size += len(piece)
            if size > MAX_OUTPUT:
                raise SecurityError(f"the template writes more than {MAX_OUTPUT:,} characters")
            out.append(piece)
        return "".join(out)
    finally:
        _budget.reset(token)


def describe_failure(exc: BaseException, origins: set[str]) -> str:
    """`ZeroDivisionError: division by zero (line 3)`: what a template raised, and where."""
    line = _line_in(exc, origins)
    return f"{type(exc).__name__}: {exc}" + (f" (line {line})" if line else "")


# ---- a checked, layered set of templates --------------------------------------------------------------------
@attrs.frozen
class Refused:
    source: TemplateSource
    reason: str

    def __str__(self) -> str:
        return f"template {self.source.name}: {self.reason}"


class TemplateStack:
    """Templates by name, first layer first (a receiver's own, then the global ones, then the built-in set).

    Every source outside the built-in set is checked once here: syntax and unknown filters (with the line),
    unknown names (`notification.alerts` from an old template), and a trial render on `sample` contexts (which
    catches type errors). A source that fails is refused: its name then means the next layer's template, so a
    broken override of `nm.default.html` leaves the built-in look in force, never a blank.
    """

    def __init__(self, layers: Sequence[Mapping[str, TemplateSource]],
                 samples: Sequence[Mapping[str, Any]] = ()):
        self.refused: list[Refused] = []
        checker = make_environment({}, autoescape=False)
        kept: list[dict[str, TemplateSource]] = []
        for layer in layers:
            kept.append({})
            for name, source in layer.items():
                reason = "" if source.origin == BUILTIN_ORIGIN else self._compile_problem(checker, source)
                if reason:
                    self.refused.append(Refused(source, reason))
                else:
                    kept[-1][name] = source
        while True:  # each round refuses at least one source, or ends
            merged = _merge(kept)
            failed = {r.source.origin + r.source.name: r for context in samples for r in self._trial(merged, context)}
            if not failed:
                break
            for refusal in failed.values():
                self.refused.append(refusal)
                for layer in kept:
                    if layer.get(refusal.source.name) is refusal.source:
                        del layer[refusal.source.name]
        self.sources: Mapping[str, TemplateSource] = merged
        self.origins = {s.origin for s in merged.values()}
        self._plain = make_environment(merged, autoescape=False)
        self._html = make_environment(merged, autoescape=True)

    @staticmethod
    def _compile_problem(env: BoundedSandbox, source: TemplateSource) -> str:
        try:
            env.compile(source.text, source.name, source.origin)
            unknown = sorted(jinja2.meta.find_undeclared_variables(env.parse(source.text))
                             - CONTEXT_NAMES - set(env.globals))
        except jinja2.TemplateSyntaxError as exc:
            return _located(source.origin, exc.lineno, exc.message or "syntax error")
        if unknown:
            return _located(source.origin, None, f"unknown name {unknown[0]!r} (a template sees: "
                                                 f"{', '.join(sorted(CONTEXT_NAMES))})")
        return ""

    @staticmethod
    def _trial(merged: Mapping[str, TemplateSource], context: Mapping[str, Any]) -> list[Refused]:
        env = make_environment(merged, autoescape=False)
        origins = {s.origin for s in merged.values()}
        failed = []
        for name, source in sorted(merged.items()):
            if source.origin == BUILTIN_ORIGIN:
                continue
            try:
                render_limited(env.get_template(name), context)
            except Exception as exc:
                failed.append(Refused(source, _located(source.origin, _line_in(exc, origins),
                                      f"fails on a sample notification: {type(exc).__name__}: {exc}")))
        return failed

    def has(self, name: str) -> bool:
        return name in self.sources

    def template(self, name: str, *, html: bool) -> jinja2.Template:
        return (self._html if html else self._plain).get_template(name)

    def inline(self, text: str, *, html: bool) -> jinja2.Template:
        """A template written in place of a name (`subjectTemplate: "[{{ status }}] …"`), cached by text."""
        return (self._html if html else self._plain).from_string(text)

    def check_inline(self, text: str) -> str:
        """Why an inline template cannot work ('' when it can)."""
        return self._compile_problem(self._plain, TemplateSource("inline", text, "inline template"))


def _merge(layers: Sequence[Mapping[str, TemplateSource]]) -> dict[str, TemplateSource]:
    merged: dict[str, TemplateSource] = {}
    for layer in reversed(layers):
        merged.update(layer)
    return merged


def is_inline(value: str) -> bool:
    """A template value is its text (not a name) when it holds Jinja markup, as the original accepts both."""
    return "{{" in value or "{%" in value
