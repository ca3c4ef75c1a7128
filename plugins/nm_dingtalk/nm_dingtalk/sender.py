"""Sending one notification to a DingTalk receiver: through its robot, to its chats, or both."""

from functools import partial
from typing import Any

from nm_dingtalk import chatbot, conversation
from nm_dingtalk.schema import plan_of
from nmcore.sdk import (
    ChannelContext,
    ChannelLimits,
    PermanentError,
    Progress,
    SendReport,
    SendRequest,
    to_each,
)

LIMITS = ChannelLimits(max_message_bytes=chatbot.MAX_BYTES, send_timeout=30.0)
"""The largest message any destination takes: a robot's 19,960 bytes (a conversation's are cut at 5,000)."""


class DingTalkSender:
    def __init__(self, ctx: ChannelContext):
        self._progress = Progress()
        self._robots = chatbot.Robots(ctx.http, self._progress)
        self._chats = conversation.Conversations(ctx.http, self._progress, ctx.logger)

    async def send(self, request: SendRequest[Any, Any]) -> SendReport | None:
        plan = plan_of(request)
        content = request.message.markdown if plan.msg_type == "markdown" else request.message.text
        if plan.robot is None and not plan.chat_ids:
            raise PermanentError(f"{plan.owner}: nowhere to send: no DingTalkConfig with a chatbot or conversation")
        if plan.chat_ids and plan.app is None:
            raise PermanentError(f"{plan.owner}: conversation.chatids need a DingTalk Config with conversation."
                                 "appkey and conversation.appsecret: label one `type: default` or select one")
        destinations = []
        if plan.robot is not None:
            destinations.append(partial(self._robots.send, request, plan.robot, plan.owner, plan.msg_type, content))
        if plan.chat_ids and plan.app is not None:
            destinations.append(partial(self._chats.send, request, plan.app, plan.chat_ids, plan.owner, plan.msg_type,
                                        content))
        with self._progress.notification(request.notification.key):
            return await to_each(destinations)  # a robot holding its messages does not hold the chats back

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client is the core's."""
