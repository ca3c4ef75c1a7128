"""A fake of the Telegram Bot API's sendMessage on 127.0.0.1, behaving as Telegram does.

It checks the bot token in the URL path (malformed: 404, unknown: 401), knows which chats exist, which ones
the bot may write to and which group became a supergroup, enforces the 4096-character limit (UTF-16 units)
and Telegram's flood control for groups (20 messages per minute; a 429 names the seconds left to wait).
"""

import math
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import nm_telegram
import pytest
from aiohttp import web

from nmcore.testing import running_sender, serving

TOKEN = "123456789:AAE-test-token-for-the-fake-bot-00000"
TOKEN_FORMAT = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
TEXT_LIMIT = 4096


@attrs.define
class Chat:
    id: int
    username: str = ""
    kind: str = "supergroup"
    bot_is_member: bool = True
    blocked: bool = False
    migrated_to: int | None = None


@attrs.define
class Sent:
    chat: int
    text: str
    token: str


@attrs.define
class FakeTelegram:
    tokens: set[str] = attrs.field(factory=lambda: {TOKEN})
    chats: list[Chat] = attrs.field(factory=lambda: [
        Chat(-1001000000001, "@alert_room"), Chat(-1001000000002, "@global_room"),
        Chat(-1001000000003, "@ops_channel", kind="channel"), Chat(424242, kind="private"),
        Chat(-1001000000004, "@gone_channel", kind="channel", bot_is_member=False),
        Chat(555, kind="private", blocked=True), Chat(-4000001, kind="group", migrated_to=-1001000000009),
    ])
    sent: list[Sent] = attrs.field(factory=list)
    group_per_minute: int = 20
    minute: float = 60.0
    """The flood-control window in seconds (shortened by tests that let the core wait it out)."""
    recent: dict[int, list[float]] = attrs.field(factory=dict)
    """Send times per group chat in the current minute, for flood control."""
    outage: int = 0
    """Answer this many coming calls with 502 Bad Gateway."""
    flood_wait: int | None = None
    """Answer the next call with flood control asking for this many seconds."""
    url: str = ""

    def rate_limit(self, retry_after: int) -> None:
        self.flood_wait = retry_after

    def texts(self) -> list[str]:
        return [s.text for s in self.sent]

    def in_chat(self, chat: int | str) -> list[str]:
        found = self._find(chat)
        return [s.text for s in self.sent if found is not None and s.chat == found.id]

    def a_minute_passes(self) -> None:
        self.recent.clear()

    def _find(self, chat: Any) -> Chat | None:
        return next((c for c in self.chats if str(chat) in (str(c.id), c.username)), None)

    async def send_message(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if not TOKEN_FORMAT.fullmatch(token):
            return _error(404, "Not Found")
        if token not in self.tokens:
            return _error(401, "Unauthorized")
        if self.outage:
            self.outage -= 1
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        if self.flood_wait is not None:
            wait, self.flood_wait = self.flood_wait, None
            return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        body = await request.json()
        chat = self._find(body.get("chat_id", ""))
        if chat is None:
            return _error(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                          migrate_to_chat_id=chat.migrated_to)
        if not chat.bot_is_member:
            return _error(403, f"Forbidden: bot is not a member of the {chat.kind} chat")
        if chat.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        text = body.get("text") or ""
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > TEXT_LIMIT:
            return _error(400, "Bad Request: message is too long")
        if chat.kind != "private":
            now = time.monotonic()
            window = [t for t in self.recent.get(chat.id, []) if now - t < self.minute]
            if len(window) >= self.group_per_minute:
                wait = max(1, math.ceil(self.minute - (now - window[0])))
                return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
            self.recent[chat.id] = [*window, now]
        self.sent.append(Sent(chat.id, text, token))
        return web.json_response({"ok": True, "result": {
            "message_id": len(self.sent), "date": int(time.time()), "text": text,
            "chat": {"id": chat.id, "type": chat.kind}}})


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    reply: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        reply["parameters"] = parameters
    return web.json_response(reply, status=code)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram()
    app = web.Application()
    app.router.add_post("/bot{token}/sendMessage", fake.send_message)
    async with serving(app) as fake.url:
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[nm_telegram.TelegramSender]:
    async with running_sender(nm_telegram.TelegramSender, "telegram") as telegram_sender:
        yield telegram_sender


@pytest.fixture
def seed() -> Callable[..., str]:
    """`seed_yaml`, for tests (conftest is not importable under --import-mode=importlib)."""
    return seed_yaml


def seed_yaml(api_url: str, *, token: str = TOKEN, tenant_chats: str = "['@alert_room']",
              mentions: str = "[]") -> str:
    """Manifests shaped like the seed's for Slack (tenant receiver and config, default config, global
    receiver), with apiUrl pointing at the fake."""
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: test-user-telegram-secret, namespace: kubesphere-monitoring-system, labels: {{app: notification-manager, user: test-user}}}}
stringData: {{token: "{token}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramConfig
metadata:
  name: test-user-config
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  telegramTokenSecret: {{name: test-user-telegram-secret, key: token}}
  apiUrl: {api_url}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramReceiver
metadata:
  name: test-user-telegram
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  telegramConfigSelector: {{matchLabels: {{type: tenant, user: test-user}}}}
  channels: {tenant_chats}
  mentionedUsers: {mentions}
---
apiVersion: v1
kind: Secret
metadata: {{name: default-telegram-secret, namespace: kubesphere-monitoring-system, labels: {{app: notification-manager}}}}
stringData: {{token: "{TOKEN}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramConfig
metadata:
  name: default-telegram-config
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: default}}
spec:
  telegramTokenSecret: {{name: default-telegram-secret, key: token}}
  apiUrl: {api_url}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramReceiver
metadata:
  name: global-telegram
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: global}}
spec:
  channels: [-1001000000002]
"""
