"""A fake ntfy server on 127.0.0.1: JSON publishing to `/`, topics protected by access tokens, the 4096-byte
message limit, and the visitor request limit (a burst, then 429 with ntfy's error body)."""

import time
from collections.abc import AsyncIterator
from typing import Any

import attrs
import nm_ntfy
import pytest
from aiohttp import web

from nmcore.testing import running_sender, serving

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"


@attrs.define
class FakeNtfy:
    protected: dict[str, str] = attrs.field(factory=lambda: {"ops-private": TOKEN})
    """Topic → the token allowed to publish to it; other topics are public."""
    burst: int = 60
    published: list[dict[str, Any]] = attrs.field(factory=list)
    url: str = ""

    def rate_limit(self, retry_after: int) -> None:
        """ntfy's 429 names no wait: the visitor's burst is simply used up."""
        self.burst = 0

    def texts(self) -> list[str]:
        return [m["message"] for m in self.published]

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [m for m in self.published if m["topic"] == topic]

    async def publish(self, request: web.Request) -> web.Response:
        if self.burst <= 0:
            return _error(429, 42901, "limit reached: too many requests", "https://ntfy.sh/docs/publish/#limitations")
        self.burst -= 1
        body = await request.json()
        topic, message = body.get("topic", ""), body.get("message", "")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if topic in self.protected and not token:
            return _error(401, 40101, "unauthorized", "https://ntfy.sh/docs/publish/#authentication")
        if topic in self.protected and token != self.protected[topic]:
            return _error(403, 40301, "forbidden", "https://ntfy.sh/docs/publish/#authentication")
        if len(message.encode()) > 4096:
            return _error(413, 41301, "message too large")
        self.published.append(body)
        return web.json_response({"id": f"m{len(self.published)}", "time": int(time.time()), "event": "message",
                                  "topic": topic, "message": message})


def _error(status: int, code: int, error: str, link: str = "") -> web.Response:
    return web.json_response({"code": code, "http": status, "error": error, **({"link": link} if link else {})},
                             status=status)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ntfy() -> AsyncIterator[FakeNtfy]:
    fake = FakeNtfy()
    app = web.Application()
    app.router.add_post("/", fake.publish)
    async with serving(app) as fake.url:
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[nm_ntfy.NtfySender]:
    async with running_sender(nm_ntfy.NtfySender, "ntfy") as ntfy_sender:
        yield ntfy_sender
