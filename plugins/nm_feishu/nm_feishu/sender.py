"""Sending one notification to a Feishu receiver: through its robot, to its users and departments, or both."""

from nm_feishu import app, chatbot
from nm_feishu.app import Request
from nm_feishu.message import MAX_JSON_BYTES
from nm_feishu.schema import needs_config
from nmcore.sdk import ChannelContext, ChannelLimits, PermanentError, Progress, SendReport

LIMITS = ChannelLimits(max_message_bytes=MAX_JSON_BYTES, send_timeout=30.0)


class FeishuSender:
    def __init__(self, ctx: ChannelContext):
        self._log = ctx.logger
        self._progress = Progress()
        self._robots = chatbot.Robots(ctx.http, self._progress)
        self._apps = app.Apps(ctx.http, self._progress, ctx.logger)

    async def send(self, request: Request) -> SendReport | None:
        receiver = request.receiver.spec
        if needs_config(receiver) and request.config is None:
            raise PermanentError(f"{request.receiver.ref}: user and department need a Feishu config with appID and "
                                 "appSecret: label one `type: default` or select one")
        sent, warnings = 0, set[str]()
        with self._progress.notification(request.notification.key):
            if receiver.chatbot is not None:
                sent += await self._robots.send(request, receiver.chatbot, receiver.tmpl_type)
            if request.config is not None and needs_config(receiver):
                sent_by_app, warnings = await self._apps.send(request, request.config.spec, request.config.ref)
                sent += sent_by_app
        self._log.debug("sent %d Feishu message(s) for %s", sent, request.receiver.ref)
        return SendReport(warnings=tuple(sorted(warnings))) if warnings else None

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client is the core's."""
