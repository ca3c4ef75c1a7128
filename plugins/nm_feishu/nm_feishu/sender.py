"""Sending one notification to a Feishu receiver: through its robot, to its users and departments, or both."""

from functools import partial

from nm_feishu import app, chatbot
from nm_feishu.app import Request
from nm_feishu.message import MAX_JSON_BYTES
from nm_feishu.schema import needs_config
from nmcore.sdk import ChannelContext, ChannelLimits, PermanentError, Progress, SendReport, to_each

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
        warnings: set[str] = set()
        destinations = []
        if receiver.chatbot is not None:
            destinations.append(partial(self._robots.send, request, receiver.chatbot, receiver.tmpl_type))
        if request.config is not None and needs_config(receiver):
            destinations.append(partial(self._apps.send, request, request.config.spec, request.config.ref, warnings))
        with self._progress.notification(request.notification.key):
            report = await to_each(destinations)  # a robot holding its messages does not hold the app back
        warnings.update(report.warnings if report else ())
        return SendReport(warnings=tuple(sorted(warnings))) if warnings else None

    async def aclose(self) -> None:
        """Nothing to close: the HTTP client is the core's."""
