"""A loopback Feishu that behaves like open.feishu.cn/open-apis: custom robots and the app's batch messages.

Robots (`POST /open-apis/bot/v2/hook/<id>`) check their security settings as Feishu does: a signed robot
wants `timestamp` (seconds, within an hour) and `sign` = base64(HMAC-SHA256(key = ts + "\\n" + secret,
message = "")) in the body (19021 otherwise); a robot with keywords wants one in the message (19024); a
request body over 20 KB is refused; more than 5 a second or `per_minute` a minute earn 9499. The app API
trades appID/appSecret for a tenant_access_token (`expire_tokens()` makes the next batch_send meet
99991663), takes up to 200 of each kind of ID, and answers its frequency limit with HTTP 429, code
99991400 and `x-ogw-ratelimit-reset`.
"""

import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from nm_feishu.sender import FeishuSender

from nmcore.testing import running_sender, serving

MAX_BODY = 20 * 1024


@attrs.define
class Robot:
    hook: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    per_minute: int = 100
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    sent_at: deque[float] = attrs.field(factory=deque)


@attrs.define
class FakeFeishu:
    app_id: str = "cli_a1b2c3d4e5f60718"
    app_secret: str = "Feishu-app-secret-5d41402abc4b2a76"
    users: frozenset[str] = frozenset({"test", "ops-lead", "ou_7d8a6e6df7621556ce0d21922b676706"})
    departments: frozenset[str] = frozenset({"dev", "od-4e6ac4d14bcd8b3b"})
    robots: dict[str, Robot] = attrs.field(factory=dict)
    batches: list[dict[str, Any]] = attrs.field(factory=list)
    rate_limit_next: int = 0
    """Answer this many coming batch_send calls with the frequency limit."""
    rate_limit_reset: int = 3
    """The seconds `x-ogw-ratelimit-reset` names when the frequency limit is answered."""
    rate_limit_call: int = 0
    """Answer the batch_send call with this number (counting from 1) with the frequency limit."""
    calls: Counter[str] = attrs.field(factory=Counter)
    replies: Counter[int] = attrs.field(factory=Counter)
    url: str = ""
    _live: set[str] = attrs.field(factory=set)
    _expired: set[str] = attrs.field(factory=set)

    @property
    def api(self) -> str:
        return f"{self.url}/open-apis/"

    def robot(self, name: str, hook: str = "", **settings: Any) -> tuple[Robot, str]:
        robot = self.robots[name] = Robot(hook=hook or str(uuid.uuid4()), **settings)
        return robot, f"{self.api}bot/v2/hook/{robot.hook}"

    @staticmethod
    def text_of(message: dict[str, Any]) -> str:
        """What a reader sees of a robot or batch message: its text, or its post's lines."""
        return post_text(message)

    @staticmethod
    def rows_of(messages: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The rows of posts, one after another (the first language of each), as a reader scrolls them."""
        return [row for m in messages for row in next(iter(m["content"]["post"].values()))["content"]]

    def expire_tokens(self) -> None:
        self._expired |= self._live
        self._live.clear()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/open-apis/bot/v2/hook/{hook}", self.robot_send)
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self.token)
        app.router.add_post("/open-apis/message/v4/batch_send/", self.batch_send)
        return app

    async def robot_send(self, request: web.Request) -> web.Response:
        self.calls["robot"] += 1
        robot = next((r for r in self.robots.values() if r.hook == request.match_info["hook"]), None)
        if robot is None:
            return self._answer(19001, "param invalid: incoming webhook access token invalid")
        raw = await request.read()
        if len(raw) > MAX_BODY:
            return self._answer(9499, "Bad Request: request body too large", status=400)
        body = json.loads(raw)
        if robot.secret is not None and not _signed(robot.secret, body):
            return self._answer(19021, "sign match fail or timestamp is not within one hour from current time")
        text = json.dumps(body.get("content"), ensure_ascii=False)
        if robot.keywords and not any(k in text for k in robot.keywords):
            return self._answer(19024, "Key Words Not Found")
        now = time.monotonic()
        while robot.sent_at and now - robot.sent_at[0] >= 60:
            robot.sent_at.popleft()
        if len(robot.sent_at) >= robot.per_minute or sum(now - t < 1 for t in robot.sent_at) >= 5:
            return self._answer(9499, "too many request")
        robot.sent_at.append(now)
        robot.messages.append(body)
        return self._answer(0, "success", data={})

    async def token(self, request: web.Request) -> web.Response:
        self.calls["token"] += 1
        body = await request.json()
        if body.get("app_id") != self.app_id:
            return self._answer(10003, "invalid param")
        if body.get("app_secret") != self.app_secret:
            return self._answer(10014, "app secret invalid")
        if not self._live:
            self._live.add(f"t-{secrets.token_hex(20)}")
        return self._answer(0, "ok", tenant_access_token=next(iter(self._live)), expire=7200)

    async def batch_send(self, request: web.Request) -> web.Response:
        self.calls["batch_send"] += 1
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self._live:
            return self._answer(99991663, "Invalid access token for authorization. Please make a request with "
                                          "token attached.", status=400)
        if self.rate_limit_next or self.calls["batch_send"] == self.rate_limit_call:
            self.rate_limit_next = max(0, self.rate_limit_next - 1)
            return self._answer(99991400, "request trigger frequency limit", status=429,
                                headers={"x-ogw-ratelimit-limit": "50",
                                         "x-ogw-ratelimit-reset": str(self.rate_limit_reset)})
        body = await request.json()
        wanted = {field: body.get(field) or [] for field in ("user_ids", "open_ids", "department_ids")}
        if any(len(ids) > 200 for ids in wanted.values()) or not any(wanted.values()):
            return self._answer(10002, "param invalid")
        if body.get("msg_type") not in ("text", "post") or len(json.dumps(body["content"]).encode()) > 30 * 1024:
            return self._answer(10002, "param invalid: content")
        self.batches.append(body)
        invalid = {"invalid_user_ids": [u for u in wanted["user_ids"] if u not in self.users],
                   "invalid_open_ids": [u for u in wanted["open_ids"] if u not in self.users],
                   "invalid_department_ids": [d for d in wanted["department_ids"] if d not in self.departments]}
        return self._answer(0, "ok", data={"message_id": f"bm-{secrets.token_hex(8)}", **invalid})

    def _answer(self, code: int, msg: str, *, status: int = 200, headers: dict | None = None,
                **fields: Any) -> web.Response:
        self.replies[code] += 1
        return web.json_response({"code": code, "msg": msg, **fields}, status=status, headers=headers)


def _signed(secret: str, body: dict[str, Any]) -> bool:
    """Feishu's check of a signed robot's request, written apart from nmcore's signing code."""
    timestamp = str(body.get("timestamp", ""))
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 3600:
        return False
    expected = hmac.new(f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), str(body.get("sign", "")))


def post_text(message: dict[str, Any]) -> str:
    """What a reader sees of a robot message or a batch message: its text, or its post's lines."""
    content = message["content"]
    if message["msg_type"] == "text":
        return content["text"]
    page = next(iter(content["post"].values()))
    return "\n".join(item["text"] for line in page["content"] for item in line)


@pytest.fixture
async def feishu() -> AsyncIterator[FakeFeishu]:
    fake = FakeFeishu()
    async with serving(fake.app()) as base:
        fake.url = base
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[FeishuSender]:
    async with running_sender(FeishuSender, "feishu") as feishu_sender:
        yield feishu_sender


SEED = (Path(__file__).parent / "seed_feishu.yaml").read_text()


@pytest.fixture
def seed(feishu: FakeFeishu) -> Callable[..., str]:
    """The seed-like manifests pointed at the fake, the global receiver's robot at `robot_url`."""

    def text(robot_url: str, signing_secret: str = "unused") -> str:
        values = {"API_URL": feishu.api, "APP_ID": feishu.app_id, "APP_SECRET": feishu.app_secret,
                  "ROBOT_URL": robot_url, "SIGNING_SECRET": signing_secret}
        return functools.reduce(lambda text, pair: text.replace(*pair), values.items(), SEED)

    return text
