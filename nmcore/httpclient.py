"""The process-wide HTTP connection pool: one aiohttp session, also offered with httpx's API.

Plain `httpx.AsyncClient` slows down sharply with many requests in flight (encode/httpx#3215: about 230
req/s at 50 concurrent, against thousands with aiohttp). Channel plugins get httpx's API over aiohttp's
pool (httpx-aiohttp); the built-in webhook channel, the hot path, posts through the aiohttp session itself,
which costs about a third of the CPU per request (bench/RESULTS.md).
"""

import logging
from collections.abc import AsyncIterable
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from nmcore.httpfailures import redact_http_logs
from nmcore.netpolicy import NetworkPolicy
from nmcore.redaction import note_request

MAX_REPLY_BYTES = 64 * 1024
"""The most of any reply body nmcore reads: the replies it needs are small JSON or a short error text. A
server answering `Content-Length: 10 GB` grew nm by gigabytes, on every retry, before replies were bounded."""

READ_CHUNK = 16 * 1024

_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
"""Headers that describe the body as sent, not the decoded prefix kept."""

MAX_KEEPALIVE = 64
"""Idle connections kept for reuse by the httpx face (per destination in aiohttp's pool)."""


def new_session(policy: NetworkPolicy | None = None) -> aiohttp.ClientSession:
    """No cookie jar (notifications are stateless), one pool shared by every channel; call inside the loop.

    Every socket it opens is checked against `policy` (by default: no link-local metadata addresses) on the
    address actually dialled, after DNS.

    The pool has no connection cap of its own, neither in total nor per host: the dispatcher already bounds
    the sends in flight (a few per receiver, and a total), so a cap here could only make a receiver wait for
    a connection held by another one. With one pool of 256, 70 hanging receivers (4 sends each) left the
    healthy ones queueing for a connection until the hanging sends timed out.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30,
                                     socket_factory=(policy or NetworkPolicy()).socket_factory)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def make_http_client(*, timeout: float = 10.0, session: aiohttp.ClientSession | None = None,
                     max_reply_bytes: int = MAX_REPLY_BYTES) -> httpx.AsyncClient:
    """httpx's API over aiohttp; over `session`'s pool when given (closing the client closes the session).
    Every reply body is read at most to `max_reply_bytes` (`BoundedReplies`).

    httpx logs every request's URL at INFO, and a URL may be the credential itself (a Slack incoming webhook, a
    WeChat robot key): its logger is set to WARNING unless someone set a level for it. nmcore logs its own
    verdict of each send."""
    redact_http_logs()
    httpx_log = logging.getLogger("httpx")
    if httpx_log.level == logging.NOTSET:
        httpx_log.setLevel(logging.WARNING)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=MAX_KEEPALIVE)
    transport = AiohttpTransport(limits=limits, client=session) if session is not None else None
    return BoundedClient(timeout=timeout, limits=limits, transport=transport, max_reply_bytes=max_reply_bytes)


class BoundedReplies(httpx.AsyncClient):
    """An httpx client that keeps at most `max_reply_bytes` of any reply body, whichever method a caller uses
    (`post`, `get`, `request`, `stream`): the response it returns holds that decoded prefix, the rest is never
    read and its connection is closed. A longer body arrives cut, so a JSON check on it fails and says so.
    Every channel and core helper gets its HTTP through one of these, so no server can make nm read 10 GB.
    Each request is noted for the send making it (`nmcore.redaction.note_request`), whose errors are then
    scrubbed of the credentials it carried."""

    def __init__(self, *, max_reply_bytes: int = MAX_REPLY_BYTES, **options: Any):
        super().__init__(**options)
        self.max_reply_bytes = max_reply_bytes

    async def send(self, request: httpx.Request, *, stream: bool = False, **options: Any) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body: not searched for credential fields
            body = b""
        # The send's errors will be scrubbed of what this request carries: a signature, a token, a key.
        note_request(str(request.url), request.headers.multi_items(), body, request.headers.get("content-type", ""))
        response = await super().send(request, stream=True, **options)
        try:
            body = await read_prefix(response.aiter_bytes(), self.max_reply_bytes)
        finally:
            await response.aclose()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _BODY_HEADERS]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request,
                              extensions=response.extensions, history=response.history)


class BoundedClient(BoundedReplies, HttpxAiohttpClient):
    """`BoundedReplies` over aiohttp's pool: the client channels get (`ChannelContext.http`)."""


async def read_prefix(chunks: AsyncIterable[bytes], limit: int = MAX_REPLY_BYTES) -> bytes:
    """At most `limit` bytes of a reply body; the rest is never read (its connection is then closed, not
    reused, by the client that owns it). Works on any chunk stream: aiohttp's `content.iter_chunked(n)`,
    httpx's `aiter_bytes()`."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) >= limit:
            break
    return bytes(body[:limit])
