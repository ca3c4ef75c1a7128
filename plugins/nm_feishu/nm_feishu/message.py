"""The `content` of a Feishu message, as the robot and batch_send both take it: `text`, or `post` (rich text
with a title, one paragraph per line), and its size as JSON, which is what Feishu limits."""

import json
from typing import Any, Literal

MsgType = Literal["post", "text"]
MAX_JSON_BYTES = 19_000
"""A robot takes at most 20 KB of request body; this leaves room for the rest of it."""


def content(msg_type: MsgType, title: str, text: str) -> dict[str, Any]:
    if msg_type == "text":
        return {"text": text}
    paragraphs = [[{"tag": "text", "text": line}] for line in text.split("\n")]
    return {"post": {"zh_cn": {"title": title, "content": paragraphs}}}


def json_size(msg_type: MsgType, title: str, text: str) -> int:
    return len(json.dumps(content(msg_type, title, text), ensure_ascii=False).encode())
