"""A loopback DingTalk that behaves like oapi.dingtalk.com: group robots and the app API, with their errors.

Robots (`POST /robot/send?access_token=…`) check their own security settings the way DingTalk does: a
signed robot wants `timestamp` (ms, within an hour) and `sign` = base64(HMAC-SHA256(secret, ts + "\\n" +
secret)); a robot with keywords wants one of them in the content; more than `per_minute` messages in a
minute earn 130101. The app API trades appkey/appsecret for a token (`GET /gettoken`) that `chat/send`
wants; `expire_tokens()` ages every token so the next call meets 42001.
"""

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import nm_dingtalk
import pytest
from aiohttp import web
from nm_dingtalk.schema import DingTalkConfigBlock, DingTalkReceiverBlock
from nm_dingtalk.sender import DingTalkSender

from nmcore.sdk import Alert, SendRequest
from nmcore.testing import block_request, running_sender, send_request, serving, snapshot_from_yaml, structure

ROBOT_MAX_BYTES = 20000
CHAT_MAX_BYTES = 5000


@attrs.define
class Robot:
    token: str
    secret: str | None = None
    keywords: tuple[str, ...] = ()
    per_minute: int = 20
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    sent_at: deque[float] = attrs.field(factory=deque)

    def texts(self) -> list[str]:
        return [m["text"]["content"] if m["msgtype"] == "text" else m["markdown"]["text"] for m in self.messages]


@attrs.define
class FakeDingTalk:
    appkey: str = "dingappkey0001"
    appsecret: str = "app-secret-9f2c41"
    chats: set[str] = attrs.field(factory=lambda: {"chat894f9f4d634eb283933af6c7102977b2", "chat-ops"})
    robots: dict[str, Robot] = attrs.field(factory=dict)
    chat_messages: list[dict[str, Any]] = attrs.field(factory=list)
    calls: Counter[str] = attrs.field(factory=Counter)
    replies: Counter[int] = attrs.field(factory=Counter)
    url: str = ""
    _live: set[str] = attrs.field(factory=set)
    _expired: set[str] = attrs.field(factory=set)

    def robot(self, name: str, token: str = "", **settings: Any) -> tuple[Robot, str]:
        """Add a robot (with `token`, or a new one); returns it and its webhook URL."""
        robot = self.robots[name] = Robot(token=token or f"{name}-{secrets.token_hex(16)}", **settings)
        return robot, f"{self.url}/robot/send?access_token={robot.token}"

    def expire_tokens(self) -> None:
        self._expired |= self._live
        self._live.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/robot/send", self.robot_send)
        app.router.add_get("/gettoken", self.gettoken)
        app.router.add_post("/chat/send", self.chat_send)
        return app

    async def robot_send(self, request: web.Request) -> web.Response:
        self.calls["robot/send"] += 1
        robot = next((r for r in self.robots.values() if r.token == request.query.get("access_token")), None)
        if robot is None:
            return self._answer(300005, "token is not exist")
        if robot.secret is not None and (refusal := _check_signature(robot.secret, request.query)):
            return self._answer(310000, refusal)
        body = await request.json()
        content = _content(body)
        if content is None:
            return self._answer(40035, "缺少参数 json")
        if robot.keywords and not any(k in content for k in robot.keywords):
            return self._answer(310000, "keywords not in content")
        if len(content.encode()) > ROBOT_MAX_BYTES:
            return web.Response(status=400, text="message too long")
        now = time.monotonic()
        while robot.sent_at and now - robot.sent_at[0] >= 60:
            robot.sent_at.popleft()
        if len(robot.sent_at) >= robot.per_minute:
            self.replies[130101] += 1
            return web.json_response({"status": 1111, "wait": 5, "punish": "deny", "errcode": 130101,
                                      "errmsg": "send too fast, exceed 20 times per minute"})
        robot.sent_at.append(now)
        robot.messages.append(body)
        return self._answer(0, "ok")

    async def gettoken(self, request: web.Request) -> web.Response:
        self.calls["gettoken"] += 1
        if (request.query.get("appkey"), request.query.get("appsecret")) != (self.appkey, self.appsecret):
            return self._answer(40089, "不合法的corpid或corpsecret")
        if not self._live:
            self._live.add(secrets.token_hex(16))
        return self._answer(0, "ok", access_token=next(iter(self._live)), expires_in=7200)

    async def chat_send(self, request: web.Request) -> web.Response:
        self.calls["chat/send"] += 1
        token = request.query.get("access_token", "")
        if token in self._expired:
            return self._answer(42001, "access_token超时")
        if token not in self._live:
            return self._answer(40014, "不合法的access_token")
        body = await request.json()
        content = _content(body.get("msg", {}))
        if body.get("chatid") not in self.chats or content is None:
            return self._answer(40035, "缺少参数 chatid")
        if len(content.encode()) > CHAT_MAX_BYTES:
            return web.Response(status=400, text="message too long")
        self.chat_messages.append(body)
        return self._answer(0, "ok", messageId=secrets.token_hex(8))

    def _answer(self, code: int, errmsg: str, **fields: Any) -> web.Response:
        self.replies[code] += 1
        return web.json_response({"errcode": code, "errmsg": errmsg, **fields})

    def texts(self) -> list[str]:
        """Every message's content, the robots' first, then the chats', each in the order received."""
        return [t for robot in self.robots.values() for t in robot.texts()] + [
            _content(m["msg"]) or "" for m in self.chat_messages]

    def chat_texts(self, chat: str) -> list[str]:
        return [_content(m["msg"]) or "" for m in self.chat_messages if m["chatid"] == chat]


def _content(message: Any) -> str | None:
    kind = message.get("msgtype") if isinstance(message, dict) else None
    part = message.get(kind) if kind in ("text", "markdown") else None
    if not isinstance(part, dict):
        return None
    value = part.get("content" if kind == "text" else "text")
    return value if isinstance(value, str) else None


def _check_signature(secret: str, query: Any) -> str:
    """DingTalk's check of a signed robot's request, written apart from nmcore's signing code."""
    timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
    if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3600_000:
        return "invalid timestamp"
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), digestmod=hashlib.sha256)
    return "" if hmac.compare_digest(base64.b64encode(mac.digest()).decode(), sign) else "sign not match"


@pytest.fixture
async def dingtalk() -> AsyncIterator[FakeDingTalk]:
    fake = FakeDingTalk()
    async with serving(fake.app()) as base:
        fake.url = base
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[DingTalkSender]:
    """The sender as the core builds it, with the core's HTTP client."""
    async with running_sender(DingTalkSender, "dingtalk") as dingtalk_sender:
        yield dingtalk_sender


V1_TEMPLATE = """
apiVersion: v1
kind: Secret
metadata: {{name: dingtalk}}
stringData: {secrets}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DingTalkConfig
metadata: {{name: default-dingtalk-config, labels: {{type: default}}}}
spec:
{spec}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: DingTalkReceiver
metadata: {{name: global-dingtalk-receiver, labels: {{type: global}}}}
spec: {receiver}
"""
V1_RECEIVER = "DingTalkReceiver/kubesphere-monitoring-system/global-dingtalk-receiver"


@pytest.fixture
def v1_request() -> Callable[..., SendRequest]:
    """A send request for the global v1alpha1 DingTalkReceiver and a default DingTalkConfig with `spec`, its
    Secret `dingtalk` holding `secrets`; the receiver's spec is `receiver` (flow YAML)."""

    def build(spec: str, alerts: Iterable[Alert] = (), receiver: str = "{}", **secrets: str) -> SendRequest:
        snapshot = snapshot_from_yaml(V1_TEMPLATE.format(spec=spec, secrets=json.dumps(secrets), receiver=receiver),
                                      plugins=[nm_dingtalk])
        assert not snapshot.problems, [str(p) for p in snapshot.problems]
        return send_request(snapshot, V1_RECEIVER, alerts)

    return build


@pytest.fixture
def v2_request() -> Callable[..., SendRequest]:
    """A send request for a global v2beta2 Receiver's `dingtalk` block (and a Config's), as the v2beta2 loader
    of the core will build it; secrets by Secret name and key."""

    def build(receiver: dict, config: dict | None = None, alerts: Iterable[Alert] = (),
              secrets: Mapping[str, Mapping[str, str]] | None = None) -> SendRequest:
        block = structure(receiver, DingTalkReceiverBlock, "$.spec.dingtalk")
        config_block = None if config is None else structure(config, DingTalkConfigBlock, "$.spec.dingtalk")
        return block_request(block, config_block, channel="dingtalk", alerts=alerts, secrets=secrets)

    return build

SEED = (Path(__file__).parent / "seed_dingtalk.yaml").read_text()
SIGNING_SECRET = "SEC9a8b7c6d5e4f30211f2e3d4c5b6a79880f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def seed(dingtalk: FakeDingTalk) -> tuple[str, Robot, Robot]:
    """The seed-like manifests pointed at the fake: the text, the global robot and the tenant's robot."""
    global_robot, global_url = dingtalk.robot("global", secret=SIGNING_SECRET, keywords=("kubesphere",))
    tenant_robot, tenant_url = dingtalk.robot("tenant", keywords=("kubesphere",))
    text = SEED
    for placeholder, value in (("ROBOT_GLOBAL", global_url), ("ROBOT_TENANT", tenant_url), ("API_URL", dingtalk.url),
                               ("APPKEY", dingtalk.appkey), ("APPSECRET", dingtalk.appsecret),
                               ("SIGNING_SECRET", SIGNING_SECRET)):
        text = text.replace(placeholder, value)
    return text, global_robot, tenant_robot
