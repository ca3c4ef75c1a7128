"""A notification as the `content` of Feishu messages, which the robot and batch_send both take: `{"text": …}`,
or `{"post": …}` (rich text: per language a title and rows of elements, as the `post` template renders it).

Feishu limits a message by its JSON, so pieces are measured as JSON: a post is cut between rows (a row too
long alone, between the lines of its text), each piece keeps the title, and every alert arrives, in order.
"""

import json
from collections.abc import Sequence
from typing import Any, Literal

from nmcore.sdk import Rendered, keyword_footer, split_text, with_keyword

MsgType = Literal["post", "text"]
MAX_JSON_BYTES = 19_000
"""A robot takes at most 20 KB of request body; this leaves room for the rest of it."""
Row = list[dict[str, Any]]


def contents(message: Rendered, msg_type: MsgType, keywords: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The message's contents, each within MAX_JSON_BYTES of JSON; with `keywords`, each contains one."""
    if msg_type == "text":
        footer = keyword_footer(keywords, ",")
        pieces = split_text(message.text, MAX_JSON_BYTES, lambda piece: _size({"text": piece + footer}))
        return [{"text": with_keyword(piece, keywords, ",")} for piece in pieces]
    post: dict[str, Any] = json.loads(message.post)  # the renderer checked it is JSON
    pages = {language: _pages(page, MAX_JSON_BYTES // len(post), keywords) for language, page in post.items()}
    count = max(len(p) for p in pages.values())
    return [{"post": {lang: p[i] for lang, p in pages.items() if i < len(p)}} for i in range(count)]


def _pages(page: dict[str, Any], budget: int, keywords: Sequence[str]) -> list[dict[str, Any]]:
    title = str(page.get("title", ""))
    if _size(title) > budget // 4:  # a subject quoting a long alert: the alert itself is in the rows
        title = split_text(title, budget // 4 - 3, _size)[0].rstrip() + "…"
    keyword_row: Row = [{"tag": "text", "text": keyword_footer(keywords, ",").strip()}] if keywords else []
    base = _size({"title": title, "content": [keyword_row]})
    groups: list[list[Row]] = [[]]
    size = base
    for row in _rows_within(page.get("content", []), budget - base):
        cost = _size(row) + 1
        if groups[-1] and size + cost > budget:
            groups.append([])
            size = base
        groups[-1].append(row)
        size += cost
    return [{"title": title, "content": _with_keyword(rows, keywords, keyword_row)} for rows in groups]


def _rows_within(rows: list[Row], room: int) -> list[Row]:
    """`rows`, a row too long alone cut into rows of one element, a text element's text between its lines."""
    fitted: list[Row] = []
    for row in rows:
        if _size(row) <= room:
            fitted.append(row)
            continue
        for element in row:
            text = element.get("text") if element.get("tag") == "text" else None
            parts = split_text(text, room - _size({**element, "text": ""}), _size) if isinstance(text, str) else []
            fitted += [[{**element, "text": part}] for part in parts] or [[element]]
    return fitted


def _with_keyword(rows: list[Row], keywords: Sequence[str], keyword_row: Row) -> list[Row]:
    texts = " ".join(str(element.get("text", "")) for row in rows for element in row)
    return rows if not keywords or with_keyword(texts, keywords) == texts else [*rows, keyword_row]


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())

