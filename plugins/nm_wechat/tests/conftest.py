"""A loopback WeChat Work API that behaves like qyapi.weixin.qq.com/cgi-bin, and the seed manifests pointed at it."""

import base64
import functools
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import nm_wechat
import pytest
from aiohttp import web
from nm_wechat.sender import WechatSender

from nmcore.testing import running_sender, serving, snapshot_from_yaml

SEED = (Path(__file__).parent / "seed_wechat.yaml").read_text()
SEED_API_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
CORP_ID = "wwfd76b24f06513578"
AGENT_ID = 1000002
SEED_SECRET = "test"  # dGVzdA== in the seed's Secrets
TENANT_SECRET_LABELS = "    app: notification-manager\n  name: test-user-wechat-secret"


def seed_manifests(api_url: str, *, fix_secret_name: bool = True, secret: str = SEED_SECRET) -> str:
    """The seed's WeChat manifests, sending to `api_url`, the tenant's Secret labelled for its user (nmcore lets a
    tenant's config use only its own Secrets); by default with the Secret name typo fixed."""
    text = SEED.replace(SEED_API_URL, api_url).replace(TENANT_SECRET_LABELS, TENANT_SECRET_LABELS.replace(
        "\n  name:", "\n    user: test-user\n  name:"))
    text = text.replace("dGVzdA==", base64.b64encode(secret.encode()).decode())
    if fix_secret_name:
        text = text.replace("name: test-user-wehat-secret", "name: test-user-wechat-secret")
    return text


@attrs.define
class FakeWechatWork:
    """The parts of the WeChat Work API nm_wechat uses, with its replies, error codes and limits.

    One application (corp, Secret, AgentId) and a directory of users, parties and tags. Tokens last 7200 s
    unless `expire_tokens()` ages them; `rate_limit` makes message/send answer 45009 after that many messages;
    `fail_with` makes the next message/send answer that errcode. A group robot with key `robot_key` takes
    webhook/send (text up to 2048 bytes, markdown up to 4096), at most `robot_rate_limit` messages.
    """

    corp_id: str = CORP_ID
    secret: str = SEED_SECRET
    agent_id: int = AGENT_ID
    users: frozenset[str] = frozenset({"user1", "user2", "global"})
    parties: frozenset[str] = frozenset({"party1", "party2", "global"})
    tags: frozenset[str] = frozenset({"tag1", "tag2", "global"})
    rate_limit: int | None = None
    robot_key: str = "robot-key-0b1f"
    robot_rate_limit: int = 20
    fail_with: tuple[int, str] | None = None
    url: str = ""
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    robot_messages: list[dict[str, Any]] = attrs.field(factory=list)
    calls: Counter[str] = attrs.field(factory=Counter)
    replies: Counter[int] = attrs.field(factory=Counter)
    _live: set[str] = attrs.field(factory=set)
    _expired: set[str] = attrs.field(factory=set)

    def expire_tokens(self) -> None:
        self._expired |= self._live
        self._live.clear()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self.gettoken)
        app.router.add_post("/cgi-bin/message/send", self.send)
        app.router.add_post("/cgi-bin/webhook/send", self.robot)
        return app

    async def gettoken(self, request: web.Request) -> web.Response:
        self.calls["gettoken"] += 1
        if request.query.get("corpid") != self.corp_id:
            return _reply(40013, "invalid corpid, hint: [1700000000_1_a], from ip: 127.0.0.1")
        if request.query.get("corpsecret") != self.secret:
            return _reply(40001, "invalid credential, hint: [1700000000_1_b], from ip: 127.0.0.1")
        if not self._live:  # within its lifetime, gettoken returns the same token again
            self._live.add(secrets.token_urlsafe(32))
        return _reply(0, "ok", access_token=next(iter(self._live)), expires_in=7200)

    async def send(self, request: web.Request) -> web.Response:
        self.calls["message/send"] += 1
        token = request.query.get("access_token")
        if not token:
            return self._answer(41001, "access_token missing")
        if token in self._expired:
            return self._answer(42001, "access_token expired, hint: [1700000000_2_c]")
        if token not in self._live:
            return self._answer(40014, "invalid access_token, hint: [1700000000_2_d]")
        body = await request.json()  # raises (HTTP 500) on bytes that are not UTF-8
        if body.get("agentid") != self.agent_id:
            return self._answer(40056, "invalid agentid")
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown") or not isinstance(body.get(msgtype), dict):
            return self._answer(40008, "invalid message type")
        if len(body[msgtype].get("content", "").encode()) > 2048:
            return self._answer(45002, "content size out of limit")
        wanted = {field: [n for n in body.get(field, "").split("|") if n] for field in ("touser", "toparty", "totag")}
        if len(wanted["touser"]) > 1000 or len(wanted["toparty"]) > 100 or len(wanted["totag"]) > 100:
            return self._answer(40058, "invalid parameter: too many receivers")
        if self.fail_with:
            (code, errmsg), self.fail_with = self.fail_with, None
            return self._answer(code, errmsg)
        if self.rate_limit is not None and len(self.messages) >= self.rate_limit:
            return self._answer(45009, "api freq out of limit")
        invalid = {
            "invaliduser": [n for n in wanted["touser"] if n not in self.users],
            "invalidparty": [n for n in wanted["toparty"] if n not in self.parties],
            "invalidtag": [n for n in wanted["totag"] if n not in self.tags],
        }
        if sum(map(len, invalid.values())) == sum(map(len, wanted.values())):
            return self._answer(81013, "user & party & tag all invalid")
        self.messages.append(body)
        return self._answer(0, "ok", msgid=secrets.token_hex(8),
                            **{field: "|".join(names) for field, names in invalid.items() if names})

    async def robot(self, request: web.Request) -> web.Response:
        self.calls["webhook/send"] += 1
        if request.query.get("key") != self.robot_key:
            return self._answer(93000, "invalid webhook url, hint: [1700000000_3_e]")
        body = await request.json()
        msgtype = body.get("msgtype")
        limit = {"text": 2048, "markdown": 4096}.get(msgtype)
        if limit is None or not isinstance(body.get(msgtype), dict):
            return self._answer(40008, "invalid message type")
        if len(body[msgtype].get("content", "").encode()) > limit:
            return self._answer(45002, "content exceed max length")
        if len(self.robot_messages) >= self.robot_rate_limit:
            return self._answer(45009, "api freq out of limit")
        self.robot_messages.append(body)
        return self._answer(0, "ok")

    def _answer(self, code: int, errmsg: str, **fields: Any) -> web.Response:
        self.replies[code] += 1
        return _reply(code, errmsg, **fields)

    def contents(self) -> list[str]:
        return [m[m["msgtype"]]["content"] for m in self.messages]


def _reply(errcode: int, errmsg: str, **fields: Any) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg, **fields})


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWechatWork]:
    fake = FakeWechatWork()
    async with serving(fake.app()) as base:
        fake.url = f"{base}/cgi-bin/"
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[WechatSender]:
    """The sender as the core builds it, with the core's HTTP client."""
    async with running_sender(WechatSender, "wechat") as wechat_sender:
        yield wechat_sender


@pytest.fixture
def seed_yaml(wechat: FakeWechatWork) -> Callable[..., str]:
    """`seed_manifests` pointed at the fake (test modules cannot import conftest under --import-mode=importlib)."""
    return functools.partial(seed_manifests, wechat.url)


@pytest.fixture
def seed_snapshot(seed_yaml: Callable[..., str]):
    snapshot = snapshot_from_yaml(seed_yaml(), plugins=[nm_wechat])
    assert not snapshot.problems, [str(p) for p in snapshot.problems]
    return snapshot
