"""The `msg` object DingTalk's robot and conversation APIs both take, in text or markdown."""

from typing import Any, Literal

MsgType = Literal["text", "markdown"]


def message(msg_type: MsgType, title: str, text: str) -> dict[str, Any]:
    """Markdown has a title (shown in the chat list and notifications); text has only its content."""
    if msg_type == "markdown":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return {"msgtype": "text", "text": {"content": text}}
