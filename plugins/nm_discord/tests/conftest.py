"""A fake of Discord's Execute Webhook endpoint on 127.0.0.1, behaving as Discord does.

It knows its webhooks (an unknown ID: 404 code 10015, a wrong token: 401 code 50027), enforces the message
limits (2000 characters of content, 10 embeds, 256 per title, 4096 per description, 6000 in all) with
Discord's 400 "Invalid Form Body" and its nested `errors`, answers `?wait=true` with the created message,
rate-limits each webhook (5 requests per 2 seconds, 429 with `retry_after` and `Retry-After`), and records
who a message would notify under `allowed_mentions`.
"""

import math
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import nm_discord
import pytest
from aiohttp import web

from nmcore.testing import running_sender, serving

WEBHOOK_ID, WEBHOOK_TOKEN = "1045315993465012244", "Jb0oFOjVzdRWlHfTEdNXVI5pCmLJ7SmUBmbJNpHRLQFN_XIxPmmq1ckU9DfS57SnOEJJ"


@attrs.define
class Posted:
    body: dict[str, Any]
    pinged_users: list[str]
    pinged_roles: list[str]
    pinged_everyone: bool

    @property
    def text(self) -> str:
        """The content and every embed's title and description."""
        embeds = [f"{e.get('title', '')}\n{e.get('description', '')}" for e in self.body.get("embeds") or []]
        return "\n".join([self.body.get("content") or "", *embeds])


@attrs.define
class FakeDiscord:
    webhooks: dict[str, str] = attrs.field(factory=lambda: {WEBHOOK_ID: WEBHOOK_TOKEN, "1045315993465099999": "other"})
    """Webhook ID → its token."""
    posted: list[Posted] = attrs.field(factory=list)
    per_window: int = 5
    window: float = 2.0
    recent: list[float] = attrs.field(factory=list)
    outage: int = 0
    refusals: list[tuple[int, dict[str, Any]]] = attrs.field(factory=list)
    """Answers to give the coming calls instead of handling them (what this fake cannot provoke itself)."""
    url: str = ""

    def rate_limit(self, retry_after: int) -> None:
        """The next call finds the webhook's bucket empty for `retry_after` seconds."""
        self.recent = [time.monotonic() - self.window + retry_after] * self.per_window

    def texts(self) -> list[str]:
        return [p.body.get("content") or p.text for p in self.posted]

    def webhook_url(self, webhook_id: str = WEBHOOK_ID, token: str | None = None) -> str:
        return f"{self.url}/api/webhooks/{webhook_id}/{token or self.webhooks.get(webhook_id, 'x')}"

    def the_window_passes(self) -> None:
        self.recent.clear()

    async def execute(self, request: web.Request) -> web.Response:
        webhook_id, token = request.match_info["id"], request.match_info["token"]
        if webhook_id not in self.webhooks:
            return web.json_response({"message": "Unknown Webhook", "code": 10015}, status=404)
        if self.webhooks[webhook_id] != token:
            return web.json_response({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        if self.outage:
            self.outage -= 1
            return web.Response(status=503, text="upstream connect error", content_type="text/plain")
        if self.refusals:
            status, reply = self.refusals.pop(0)
            return web.json_response(reply, status=status)
        now = time.monotonic()
        self.recent = [t for t in self.recent if now - t < self.window]
        if len(self.recent) >= self.per_window:
            wait = round(self.window - (now - self.recent[0]), 3)
            headers = {"Retry-After": str(math.ceil(wait)), "X-RateLimit-Limit": str(self.per_window),
                       "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(wait)}
            return web.json_response({"message": "You are being rate limited.", "retry_after": wait,
                                      "global": False}, status=429, headers=headers)
        self.recent.append(now)
        body = await request.json()
        errors = _check(body)
        if errors == "empty":
            return web.json_response({"message": "Cannot send an empty message", "code": 50006}, status=400)
        if errors:
            return web.json_response({"message": "Invalid Form Body", "code": 50035, "errors": errors}, status=400)
        self.posted.append(_delivered(body))
        if request.query.get("wait") != "true":
            return web.Response(status=204)
        return web.json_response({"id": str(1100000000000000000 + len(self.posted)), "type": 0,
                                  "channel_id": "1045280620097570000", "webhook_id": webhook_id,
                                  "content": body.get("content", ""), "embeds": body.get("embeds", [])})


def _error(code: str, message: str) -> dict[str, Any]:
    return {"_errors": [{"code": code, "message": message}]}


def _check(body: dict[str, Any]) -> dict[str, Any] | str | None:
    content, embeds = body.get("content") or "", body.get("embeds") or []
    if not content and not embeds:
        return "empty"
    if len(content) > 2000:
        return {"content": _error("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")}
    if len(embeds) > 10:
        return {"embeds": _error("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")}
    for index, embed in enumerate(embeds):
        for key, limit in (("title", 256), ("description", 4096)):
            if len(embed.get(key, "")) > limit:
                return {"embeds": {str(index): {key: _error("BASE_TYPE_MAX_LENGTH",
                                                            f"Must be {limit} or fewer in length.")}}}
    if sum(len(e.get("title", "")) + len(e.get("description", "")) for e in embeds) > 6000:
        return {"embeds": _error("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")}
    allowed = body.get("allowed_mentions") or {}
    if "users" in allowed.get("parse", []) and allowed.get("users"):
        return {"allowed_mentions": _error("MUTUALLY_EXCLUSIVE", "parse:[\"users\"] and users: [ids] ...")}
    return None


def _delivered(body: dict[str, Any]) -> Posted:
    """Who Discord would notify: mentions in the content only, filtered by allowed_mentions."""
    content = body.get("content") or ""
    allowed = body.get("allowed_mentions")
    parse = allowed.get("parse", []) if allowed is not None else ["users", "roles", "everyone"]
    users = [u for u in re.findall(r"<@!?(\d+)>", content)
             if "users" in parse or u in (allowed or {}).get("users", [])]
    roles = [r for r in re.findall(r"<@&(\d+)>", content)
             if "roles" in parse or r in (allowed or {}).get("roles", [])]
    everyone = "everyone" in parse and bool(re.search(r"@(everyone|here)\b", content))
    return Posted(body, users, roles, everyone)


@pytest.fixture
async def discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    app = web.Application()
    app.router.add_post("/api/webhooks/{id}/{token}", fake.execute)
    async with serving(app) as fake.url:
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[nm_discord.DiscordSender]:
    async with running_sender(nm_discord.DiscordSender, "discord") as discord_sender:
        yield discord_sender


@pytest.fixture
def seed() -> Callable[..., str]:
    """`seed_yaml`, for tests (conftest is not importable under --import-mode=importlib)."""
    return seed_yaml


def seed_yaml(webhook_url: str, *, kind: str = "content", users: str = "[]", roles: str = "[]",
              global_webhook_url: str | None = None) -> str:
    """Shaped like the seed's manifests: a tenant receiver with its own webhook (in a Secret, as the original's
    v2beta2 block), and a global receiver posting through the default DiscordConfig's webhook."""
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: test-user-discord, namespace: kubesphere-monitoring-system, labels: {{user: test-user}}}}
stringData: {{webhook: "{webhook_url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DiscordReceiver
metadata:
  name: test-user-discord
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  webhook: {{valueFrom: {{secretKeyRef: {{name: test-user-discord, key: webhook}}}}}}
  type: {kind}
  mentionedUsers: {users}
  mentionedRoles: {roles}
---
apiVersion: v1
kind: Secret
metadata: {{name: default-discord, namespace: kubesphere-monitoring-system}}
stringData: {{webhook: "{global_webhook_url or webhook_url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DiscordConfig
metadata:
  name: default-discord-config
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: default}}
spec:
  webhook: {{valueFrom: {{secretKeyRef: {{name: default-discord, key: webhook}}}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DiscordReceiver
metadata:
  name: global-discord
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: global}}
spec:
  type: embed
"""
