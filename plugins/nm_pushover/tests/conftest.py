"""A fake of Pushover's messages API (POST /1/messages.json) on 127.0.0.1, behaving as Pushover does.

It knows its applications (their tokens and monthly message allowance) and users (their keys and active
devices); it refuses with HTTP 400, `status: 0`, the offending field set to "invalid" and `errors`, enforces
the 1024-character message and 250-character title, delivers to all of a user's devices when none of the
named ones is active, and answers 429 once an application's allowance is used up, with the X-Limit-App-*
headers naming when it resets.
"""

import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import nm_pushover
import pytest
from aiohttp import web

from nmcore.testing import running_sender, serving

TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"  # the original's documentation example
OTHER_USER = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
SOUNDS = {"pushover", "bike", "bugle", "cashregister", "classical", "cosmic", "falling", "gamelan", "incoming",
          "intermission", "magic", "mechanical", "pianobar", "siren", "spacealarm", "tugboat", "alien", "climb",
          "persistent", "echo", "updown", "vibrate", "none"}


@attrs.define
class Push:
    user: str
    devices: list[str]
    title: str
    message: str
    sound: str


@attrs.define
class FakePushover:
    apps: dict[str, int] = attrs.field(factory=lambda: {TOKEN: 10000})
    """Application token → messages left this month."""
    users: dict[str, list[str]] = attrs.field(factory=lambda: {USER: ["droid2", "iphone"], OTHER_USER: ["pixel"]})
    """User key → active device names."""
    pushes: list[Push] = attrs.field(factory=list)
    outage: int = 0
    resets_at: int | None = None
    """When the allowances reset (Unix time); by default the 1st of next month, as Pushover's do."""
    url: str = ""

    def rate_limit(self, retry_after: int) -> None:
        """Every application's allowance used up until `retry_after` seconds from now."""
        self.apps = dict.fromkeys(self.apps, 0)
        self.resets_at = math.ceil(time.time()) + retry_after

    def texts(self) -> list[str]:
        return [p.message for p in self.pushes]

    def to(self, user: str) -> list[Push]:
        return [p for p in self.pushes if p.user == user]

    def _limit_headers(self, token: str) -> dict[str, str]:
        now = time.gmtime()
        first_of_next_month = time.mktime((now.tm_year + now.tm_mon // 12, now.tm_mon % 12 + 1, 1, 0, 0, 0, 0, 0, 0))
        reset = self.resets_at if self.resets_at is not None else int(first_of_next_month)
        return {"X-Limit-App-Limit": "10000", "X-Limit-App-Remaining": str(max(0, self.apps.get(token, 0))),
                "X-Limit-App-Reset": str(reset)}

    async def messages(self, request: web.Request) -> web.Response:
        if self.outage:
            self.outage -= 1
            return web.Response(status=500, text="<h1>Internal Server Error</h1>", content_type="text/html")
        body: dict[str, Any] = await request.json()
        token, user = body.get("token", ""), body.get("user", "")
        if token not in self.apps:
            return _refuse(token="invalid", errors=["application token is invalid, see https://pushover.net/api"])
        if self.apps[token] <= 0:
            reply = {"errors": ["application has exceeded its monthly message limit"], "status": 0,
                     "request": str(uuid.uuid4())}
            return web.json_response(reply, status=429, headers=self._limit_headers(token))
        if user not in self.users:
            return _refuse(user="invalid", errors=["user identifier is not a valid user, group, or subscribed "
                                                   "user key, see https://pushover.net/api#identifiers"])
        message, title = str(body.get("message") or ""), str(body.get("title") or "")
        if not message.strip():
            return _refuse(message="cannot be blank", errors=["message cannot be blank"])
        if len(message) > 1024:
            return _refuse(message="is too long", errors=["message cannot be longer than 1024 characters"])
        if len(title) > 250:
            return _refuse(title="is too long", errors=["title cannot be longer than 250 characters"])
        sound = body.get("sound", "")
        if sound and sound not in SOUNDS:
            return _refuse(sound="invalid", errors=["sound is not a valid sound, see https://pushover.net/api#sounds"])
        named = [d for d in str(body.get("device") or "").split(",") if d in self.users[user]]
        self.apps[token] -= 1
        self.pushes.append(Push(user, named or list(self.users[user]), title, message, sound))
        return web.json_response({"status": 1, "request": str(uuid.uuid4())}, headers=self._limit_headers(token))


def _refuse(**reply: Any) -> web.Response:
    return web.json_response({**reply, "status": 0, "request": str(uuid.uuid4())}, status=400)


@pytest.fixture
async def pushover() -> AsyncIterator[FakePushover]:
    fake = FakePushover()
    app = web.Application()
    app.router.add_post("/1/messages.json", fake.messages)
    async with serving(app) as fake.url:
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[nm_pushover.PushoverSender]:
    async with running_sender(nm_pushover.PushoverSender, "pushover") as pushover_sender:
        yield pushover_sender


@pytest.fixture
def seed() -> Callable[..., str]:
    """`seed_yaml`, for tests (conftest is not importable under --import-mode=importlib)."""
    return seed_yaml


def seed_yaml(api_url: str, *, token: str = TOKEN, profiles: str | None = None) -> str:
    """Shaped like the seed's manifests (tenant receiver and config, default config, global receiver), apiUrl
    pointing at the fake; the tenant's profile is the original documentation's."""
    profiles = profiles or f"[{{userKey: {USER}, devices: [droid2], sound: bike}}]"
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: test-user-pushover, namespace: kubesphere-monitoring-system, labels: {{user: test-user}}}}
stringData: {{token: "{token}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverConfig
metadata:
  name: test-user-config
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  pushoverTokenSecret: {{name: test-user-pushover, key: token}}
  apiUrl: {api_url}/1
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverReceiver
metadata:
  name: test-user-pushover
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  pushoverConfigSelector: {{matchLabels: {{type: tenant, user: test-user}}}}
  profiles: {profiles}
---
apiVersion: v1
kind: Secret
metadata: {{name: default-pushover, namespace: kubesphere-monitoring-system}}
stringData: {{token: "{TOKEN}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverConfig
metadata:
  name: default-pushover-config
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: default}}
spec:
  pushoverTokenSecret: {{name: default-pushover, key: token}}
  apiUrl: {api_url}/1
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverReceiver
metadata:
  name: global-pushover
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: global}}
spec:
  profiles: [{{userKey: {OTHER_USER}}}]
"""
