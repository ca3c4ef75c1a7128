"""A notification as Adaptive Cards for a Teams Workflows webhook, each message within Teams' size limit.

Teams refuses a message over about 28 KB, and a Workflows webhook says so only in the flow's run history
(the POST itself was already answered 202), so the limit is kept here: each alert becomes a container (its
status as the style, its labels and annotations as facts), containers fill cards under a byte budget, and a
long notification becomes several cards in alert order, each headed by the subject and "(part i/n)". An alert
stays in one card when it fits one; one that cannot is cut into text blocks; nothing is dropped. Mentions
(`<at>name</at>` with an entity each) come from the receiver only, at the end of the first card.
"""

import json
from typing import Any

from nm_teams.schema import TeamsMention
from nmcore.sdk import Alert, AlertFacts, Notification, split_text

MAX_PAYLOAD = 28_000
"""Bytes of JSON Teams accepts in one message."""
BUDGET = 24_000
"""Bytes for the alerts of one card: the rest is kept for the envelope, the heading and the mentions."""
HEADING_LIMIT = 1000
STYLES = {"firing": "attention", "resolved": "good"}
Element = dict[str, Any]


def size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _text(text: str, **style: Any) -> Element:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _alert(alert: Alert) -> list[Element]:
    """One container for the alert, or several of plain text when it is too large for one card."""
    style = STYLES.get(alert.status, "default")
    shown = AlertFacts.of(alert)
    headline = shown.headline
    facts = [*shown.labels, *shown.annotations]
    facts += [("since", shown.since)] if shown.since else []
    facts += [("source", shown.source)] if shown.source else []
    container = {"type": "Container", "style": style, "items": [
        _text(headline, weight="Bolder"), {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]}]}
    if size(container) <= BUDGET:
        return [container]
    return _plain("\n".join([headline, *(f"{k}: {v}" for k, v in facts)]), style)


def _plain(text: str, style: str = "default") -> list[Element]:
    """Text as containers of one text block each, cut to fit a card."""
    return [{"type": "Container", "style": style, "items": [_text(piece)]}
            for piece in split_text(text, BUDGET - 200, size)]


def _fill(alerts: list[list[Element]]) -> list[list[Element]]:
    """Containers in order, grouped under the budget; an alert starts a new card unless it fits whole."""
    cards: list[list[Element]] = [[]]
    used = 0
    for containers in alerts:
        whole = sum(size(c) + 1 for c in containers)
        if cards[-1] and used + whole > BUDGET:
            cards.append([])
            used = 0
        for container in containers:
            if cards[-1] and used + size(container) + 1 > BUDGET:
                cards.append([])
                used = 0
            cards[-1].append(container)
            used += size(container) + 1
    return cards


def messages(notification: Notification, subject: str, mentions: tuple[TeamsMention, ...],
             text: str | None = None) -> list[dict[str, Any]]:
    """The webhook bodies to post, in order; `text`, a receiver's own template's, replaces the alerts' layout."""
    if len(subject) > HEADING_LIMIT:
        subject = subject[:HEADING_LIMIT - 1] + "…"  # every word of it is in the alert below
    groups = _fill([_alert(alert) for alert in notification.alerts] if text is None else [_plain(text)])
    bodies = []
    for number, containers in enumerate(groups, start=1):
        part = f" (part {number}/{len(groups)})" if len(groups) > 1 else ""
        body = [_text(subject + part, weight="Bolder", size="Medium", style="heading"), *containers]
        card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                "type": "AdaptiveCard", "version": "1.4", "body": body, "msteams": {"width": "Full"}}
        if mentions and number == 1:
            body.append(_text(" ".join(f"<at>{m.name}</at>" for m in mentions)))
            card["msteams"]["entities"] = [{"type": "mention", "text": f"<at>{m.name}</at>",
                                            "mentioned": {"id": m.id, "name": m.name}} for m in mentions]
        bodies.append({"type": "message", "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]})
    return bodies
