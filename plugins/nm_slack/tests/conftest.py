"""A fake of Slack's Web API (chat.postMessage) and of incoming webhooks, on 127.0.0.1, as Slack behaves.

It checks the bearer token and its scopes, knows which channels exist and which the bot is in, enforces the
message limits (so an over-limit message fails a test) and can be told to rate-limit or fail the next calls.
"""

import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import nm_slack
import pytest
from aiohttp import web

from nmcore.testing import running_sender, serving

SECTION_LIMIT, MAX_BLOCKS, TEXT_LIMIT = 3000, 50, 40000


@attrs.define
class Channel:
    id: str
    name: str
    bot_is_member: bool = True
    archived: bool = False


@attrs.define
class Posted:
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    token: str


@attrs.define
class FakeSlack:
    tokens: dict[str, set[str]] = attrs.field(factory=lambda: {"test": {"chat:write"}})
    """Valid token → its scopes."""
    revoked: set[str] = attrs.field(factory=set)
    channels: list[Channel] = attrs.field(factory=lambda: [
        Channel("C0000ALERT", "alert"), Channel("C000GLOBAL", "global"), Channel("C00000OPS", "ops"),
        Channel("C0000QUIET", "quiet", bot_is_member=False), Channel("C0000OLD00", "old", archived=True),
    ])
    webhooks: dict[str, str] = attrs.field(factory=lambda: {"/services/T0001/B0001/abcdefSECRETpath": "alert"})
    """Incoming-webhook path → the channel it posts to."""
    posted: list[Posted] = attrs.field(factory=list)
    calls: int = 0
    scripted: deque[web.Response | None] = attrs.field(factory=deque)
    """Answers to give instead of handling the next calls; None handles that call normally."""
    url: str = ""

    def fail_next(self, *, status: int = 200, error: str = "", retry_after: int | None = None,
                  body: str | None = None, after: int = 0) -> None:
        """Answer a coming call this way (a rate limit, an outage, an odd reply), `after` calls handled normally."""
        self.scripted.extend([None] * after)
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        if body is None:
            body = json.dumps({"ok": False, "error": error or "ratelimited"})
        self.scripted.append(web.Response(status=status, text=body, headers=headers,
                                          content_type="application/json" if body.startswith("{") else "text/plain"))

    def in_channel(self, name: str) -> list[Posted]:
        return [p for p in self.posted if p.channel == self._find(name).id]

    def _scripted(self) -> web.Response | None:
        return self.scripted.popleft() if self.scripted else None

    def _find(self, name: str) -> Channel | None:
        return next((c for c in self.channels if name in (c.id, c.name, f"#{c.name}")), None)

    async def post_message(self, request: web.Request) -> web.Response:
        self.calls += 1
        if (scripted := self._scripted()) is not None:
            return scripted
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not token:
            return _error("not_authed")
        if token in self.revoked:
            return _error("token_revoked")
        if token not in self.tokens:
            return _error("invalid_auth")
        if "chat:write" not in self.tokens[token]:
            return web.json_response({"ok": False, "error": "missing_scope", "needed": "chat:write",
                                      "provided": ",".join(sorted(self.tokens[token]))})
        body = await request.json()
        channel = self._find(body.get("channel") or "")
        if channel is None:
            return _error("channel_not_found")
        if channel.archived:
            return _error("is_archived")
        if not channel.bot_is_member:
            return _error("not_in_channel")
        problem = _check_limits(body)
        if problem:
            return _error(*problem)
        self.posted.append(Posted(channel.id, body.get("text", ""), body.get("blocks", []), token))
        return web.json_response({"ok": True, "channel": channel.id, "ts": f"1700000000.{len(self.posted):06d}"})

    async def incoming_webhook(self, request: web.Request) -> web.Response:
        self.calls += 1
        if (scripted := self._scripted()) is not None:
            return scripted
        channel = self.webhooks.get(request.path)
        if channel is None:
            return web.Response(status=404, text="no_service")
        body = await request.json()
        problem = _check_limits(body)
        if problem:
            return web.Response(status=400, text="invalid_blocks" if problem[0] != "no_text" else "no_text")
        self.posted.append(Posted(self._find(channel).id, body.get("text", ""), body.get("blocks", []), ""))
        return web.Response(text="ok")


def _error(code: str, *messages: str) -> web.Response:
    reply: dict[str, Any] = {"ok": False, "error": code}
    if messages:
        reply["response_metadata"] = {"messages": list(messages)}
    return web.json_response(reply)


def _check_limits(body: dict[str, Any]) -> tuple[str, ...] | None:
    """The limits chat.postMessage enforces, with the error codes Slack uses."""
    text, blocks = body.get("text") or "", body.get("blocks") or []
    if not text and not blocks:
        return ("no_text",)
    if len(text) > TEXT_LIMIT:
        return ("msg_too_long",)
    if len(blocks) > MAX_BLOCKS:
        return ("invalid_blocks", f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for index, block in enumerate(blocks):
        inner = block.get("text") if block.get("type") == "section" else None
        if not isinstance(inner, dict) or inner.get("type") not in ("mrkdwn", "plain_text"):
            return ("invalid_blocks", f"[ERROR] unsupported block [json-pointer:/blocks/{index}]")
        if not 1 <= len(inner.get("text", "")) <= SECTION_LIMIT:
            return ("invalid_blocks", f"[ERROR] must be between 1 and {SECTION_LIMIT} characters "
                                      f"[json-pointer:/blocks/{index}/text]")
    return None


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_post("/api/chat.postMessage", fake.post_message)
    app.router.add_post("/services/{path:.*}", fake.incoming_webhook)
    async with serving(app) as fake.url:
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[nm_slack.SlackSender]:
    async with running_sender(nm_slack.SlackSender, "slack") as slack_sender:
        yield slack_sender


@pytest.fixture
def seed() -> Callable[..., str]:
    """`seed_yaml`, for tests (conftest is not importable under --import-mode=importlib)."""
    return seed_yaml


def seed_yaml(api_url: str, *, tenant_token: str = "dGVzdA==", default_token: str = "dGVzdA==",
              tenant_channel: str = "alert") -> str:
    """The seed's Slack manifests (tenant receiver and config, default config, global receiver), with apiUrl
    pointing at the fake and the tenant's Secret labelled for its user (nmcore lets a tenant's config use only
    its own Secrets): the only lines added to what the KubeSphere document shows."""
    return f"""
apiVersion: v1
data:
  token: {tenant_token}
kind: Secret
metadata:
  labels:
    app: notification-manager
    user: test-user
  name: test-user-slack-secret
  namespace: kubesphere-monitoring-system
type: Opaque
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackConfig
metadata:
  name: test-user-config
  namespace: kubesphere-monitoring-system
  labels:
    app: notification-manager
    type: tenant
    user: test-user
spec:
  slackTokenSecret:
    key: token
    name: test-user-slack-secret
  apiUrl: {api_url}/api
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackReceiver
metadata:
  name: test-user-slack
  namespace: kubesphere-monitoring-system
  labels:
    app: notification-manager
    type: tenant
    user: test-user
spec:
  slackConfigSelector:
    matchLabels:
      type: tenant
      user: test-user
  channel: {tenant_channel}
---
apiVersion: v1
data:
  token: {default_token}
kind: Secret
metadata:
  labels:
    app: notification-manager
  name: default-slack-secret
  namespace: kubesphere-monitoring-system
type: Opaque
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackConfig
metadata:
  name: default-slack-config
  namespace: kubesphere-monitoring-system
  labels:
    app: notification-manager
    type: default
spec:
  slackTokenSecret:
    key: token
    name: default-slack-secret
  apiUrl: {api_url}/api
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackReceiver
metadata:
  name: global-slack-slack
  namespace: kubesphere-monitoring-system
  labels:
    app: notification-manager
    type: global
spec:
  channel: global
"""
