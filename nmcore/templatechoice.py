"""Which template renders each part of a receiver's messages, with the Go original's precedence:

    receiver (`template`, `subjectTemplate`, `titleTemplate`, `tmplType`)
      > channel options (NotificationManager `receivers.options.<channel>`)
      > global (`receivers.options.global.template`, `nm run --templates DIR`)
      > built-in (`nm.default.<format>`)

A receiver's `template` applies to the format its messages are sent in (`tmplType`, else the channel's default:
html for email, text for most others); the other formats keep their global or built-in templates. The receiver
kinds of any API version expose the same fields (v1alpha1 as optional spec fields, v2beta2 in its blocks), and
`choose` reads them by name, so it works for whatever receiver kinds a plugin registers.
"""

from collections.abc import Mapping
from typing import Any

import attrs

from nmcore.resources import ConfigMapKeySelector

FORMATS = ("subject", "title", "text", "markdown", "html", "post")
BUILTIN_PREFIX = "nm.default."


@attrs.frozen(kw_only=True)
class ReceiverTemplates:
    """The template fields every receiver kind has: a base class for a channel's Receiver spec.

    `template` and `tmplText` as in the Go original's v2beta2 receivers; `language` is nmcore's: this receiver's
    messages in another language than the global one. Channels add `subjectTemplate`, `titleTemplate` and
    `tmplType` where they have those (email: subject and html|text).
    """

    template: str | None = None
    """A template name (`nm.default.text`, a key of `tmplText`'s ConfigMap) or the template text itself."""
    tmpl_text: ConfigMapKeySelector | None = None
    """A ConfigMap of this receiver's own templates, by key: they shadow the global and built-in ones of the same
    name for this receiver only."""
    language: str | None = None


@attrs.frozen(kw_only=True)
class ChannelTemplateOptions:
    """`receivers.options.<channel>` of the NotificationManager: defaults for every receiver of one channel."""

    template: str | None = None
    subject_template: str | None = None
    title_template: str | None = None
    tmpl_type: str | None = None


@attrs.frozen(kw_only=True)
class TemplateSettings:
    """The NotificationManager-level template settings (`spec.template` and the template names under
    `spec.receivers.options`), and nmcore's global `--templates DIR` / `--language` flags, which fill the same
    places."""

    text: ConfigMapKeySelector | None = None
    """The global templates ConfigMap (`spec.template.text`)."""
    language: str = "English"
    language_pack: tuple[ConfigMapKeySelector, ...] = ()
    template: str | None = None
    """`options.global.template`: the body template of every receiver without a more specific one."""
    formats: Mapping[str, str] = attrs.field(factory=dict)
    """Format → template name for every receiver (`--templates DIR` with `subject.j2`, `html.j2`, …)."""
    channels: Mapping[str, ChannelTemplateOptions] = attrs.field(factory=dict)


@attrs.frozen
class TemplateChoice:
    names: Mapping[str, str]
    """Format → template name (or inline template text)."""
    fields: Mapping[str, str]
    """Format → the setting the choice came from (`$.spec.subjectTemplate`, `--templates`, `built-in`)."""
    body_format: str
    language: str
    tmpl_text: ConfigMapKeySelector | None


def _field(spec: Any, name: str) -> str | None:
    value = getattr(spec, name, None)
    return value if isinstance(value, str) and value.strip() else None


def choose(spec: Any, channel: str, default_body_format: str, settings: TemplateSettings) -> TemplateChoice:
    """The template of every format for a receiver whose spec is `spec`, on `channel`."""
    options = settings.channels.get(channel, ChannelTemplateOptions())
    body = _field(spec, "tmpl_type") or options.tmpl_type or default_body_format
    names: dict[str, str] = {}
    fields: dict[str, str] = {}

    def pick(fmt: str, *candidates: tuple[str | None, str]) -> None:
        for value, where in candidates:
            if value:
                names[fmt], fields[fmt] = value, where
                return
        names[fmt], fields[fmt] = BUILTIN_PREFIX + fmt, "built-in"

    for fmt in FORMATS:
        global_format = (settings.formats.get(fmt), "--templates")
        if fmt == "subject":
            pick(fmt, (_field(spec, "subject_template"), "$.spec.subjectTemplate"),
                 (options.subject_template, f"options.{channel}.subjectTemplate"), global_format)
        elif fmt == "title":
            pick(fmt, (_field(spec, "title_template"), "$.spec.titleTemplate"),
                 (options.title_template, f"options.{channel}.titleTemplate"), (names["subject"], fields["subject"]))
        elif fmt == body:
            pick(fmt, (_field(spec, "template"), "$.spec.template"), (options.template, f"options.{channel}.template"),
                 (settings.template, "options.global.template"), global_format)
        else:
            pick(fmt, global_format)
    language = _field(spec, "language") or settings.language
    tmpl_text = getattr(spec, "tmpl_text", None)
    return TemplateChoice(names=names, fields=fields, body_format=body, language=language,
                          tmpl_text=tmpl_text if isinstance(tmpl_text, ConfigMapKeySelector) else None)
