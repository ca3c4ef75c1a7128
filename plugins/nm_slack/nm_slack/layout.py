"""A notification as Slack messages: mrkdwn section blocks per alert, a plain-text `text` twin, within limits.

Slack rejects a section over 3000 characters (`invalid_blocks`), more than 50 blocks, or a `text` over 40000
characters (`msg_too_long`). So an alert becomes lines, lines fill sections, sections fill messages, and a
long notification becomes several messages in alert order, each opening with the subject and "part i/n".
An alert stays in one message when it fits; nothing is dropped. User values are escaped (`&`, `<`, `>`).
"""

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from nmcore.sdk import Alert, AlertFacts, Notification, split_text

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
TEXT_LIMIT = 40000
PART_ROOM = 32
"""Characters kept free in each header for " (part i/n)"."""

STATUS_EMOJI = {"firing": ":red_circle:", "resolved": ":large_green_circle:"}


def escape(text: str) -> str:
    """The three characters Slack requires escaped in message text; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escaped_len(text: str) -> int:
    return len(escape(text))


@attrs.frozen
class Section:
    """One section block's mrkdwn and the same content as plain text for the `text` fallback (both escaped)."""

    mrkdwn: str
    plain: str


@attrs.frozen
class SlackMessage:
    text: str
    blocks: tuple[Mapping[str, Any], ...]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)}


def _line(mrkdwn: str, plain: str) -> list[Section]:
    """One line of unescaped text in both forms; a line too long for a section is cut into plain pieces
    (its formatting dropped, its content kept)."""
    if _escaped_len(mrkdwn) <= SECTION_LIMIT:
        return [Section(escape(mrkdwn), escape(plain))]
    return [Section(escape(piece), escape(piece)) for piece in split_text(plain, SECTION_LIMIT, _escaped_len)]


def _alert_lines(alert: Alert) -> Iterator[Section]:
    facts = AlertFacts.of(alert)
    message = f": {facts.message}" if facts.message else ""
    yield from _line(f"{STATUS_EMOJI.get(alert.status, '')} *[{facts.status}] {facts.name}*{message}", facts.headline)
    for key, value in facts.labels:
        yield from _line(f"• {key}: `{value}`", f"  {key} = {value}")
    for key, value in facts.annotations:
        yield from _line(f"• {key}: {value}", f"  {key}: {value}")
    if facts.since:
        yield from _line(f"• since {facts.since}", f"  since {facts.since}")
    if facts.source:
        yield from _line(f"• source: {facts.source}", f"  source: {facts.source}")


def _fill_sections(lines: Iterable[Section]) -> list[Section]:
    """Consecutive lines joined into as few sections as the section limit allows."""
    sections: list[Section] = []
    for line in lines:
        last = sections[-1] if sections else None
        if last is not None and len(last.mrkdwn) + 1 + len(line.mrkdwn) <= SECTION_LIMIT:
            sections[-1] = Section(f"{last.mrkdwn}\n{line.mrkdwn}", f"{last.plain}\n{line.plain}")
        else:
            sections.append(line)
    return sections


def _fill_messages(alerts: list[list[Section]], block_room: int, text_room: int) -> list[list[Section]]:
    """Sections in order, grouped under both budgets; an alert starts a new message unless it fits whole."""
    messages: list[list[Section]] = [[]]

    def fits(extra: list[Section]) -> bool:
        current = messages[-1]
        text = sum(len(s.plain) + 2 for s in current + extra)
        return len(current) + len(extra) <= block_room and text <= text_room

    for sections in alerts:
        if messages[-1] and not fits(sections):
            messages.append([])
        for section in sections:
            if messages[-1] and not fits([section]):
                messages.append([])
            messages[-1].append(section)
    return messages


def _block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _heading(subject: str) -> Section:
    """The subject as a bold first section, shortened visibly (…) when it would not fit one: every word of it
    is in the alert sections below anyway."""
    limit = SECTION_LIMIT - PART_ROOM - 2
    if _escaped_len(subject) > limit:
        subject = split_text(subject, limit - 1, _escaped_len)[0].rstrip() + "…"
    return Section(f"*{escape(subject)}*", escape(subject))


def layout(notification: Notification, subject: str) -> list[SlackMessage]:
    """The messages to post, in order, for one notification (`subject` is the core's one-line subject)."""
    heading = _heading(subject)
    alerts = [_fill_sections(_alert_lines(alert)) for alert in notification.alerts]
    groups = _fill_messages(alerts, MAX_BLOCKS - 1, TEXT_LIMIT - len(heading.plain) - 2 - PART_ROOM)
    messages = []
    for number, sections in enumerate(groups, start=1):
        part = f" (part {number}/{len(groups)})" if len(groups) > 1 else ""
        shown = [Section(heading.mrkdwn + part, heading.plain + part), *sections]
        messages.append(SlackMessage(
            text="\n\n".join(s.plain for s in shown),
            blocks=tuple(_block(s.mrkdwn) for s in shown),
        ))
    return messages


def plain_messages(text: str) -> list[SlackMessage]:
    """A receiver's own template's text as it rendered it (escaped, no blocks), in as many messages as it takes."""
    return [SlackMessage(text=piece, blocks=()) for piece in split_text(escape(text), TEXT_LIMIT)]
