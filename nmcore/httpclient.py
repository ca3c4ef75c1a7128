"""The process-wide HTTP connection pool: one aiohttp session, also offered with httpx's API.

Plain `httpx.AsyncClient` slows down sharply with many requests in flight (encode/httpx#3215: about 230
req/s at 50 concurrent, against thousands with aiohttp). Channel plugins get httpx's API over aiohttp's
pool (httpx-aiohttp); the built-in webhook channel, the hot path, posts through the aiohttp session itself,
which costs about a third of the CPU per request (bench/RESULTS.md).
"""

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport, HttpxAiohttpClient

from nmcore.httpfailures import redact_http_logs

MAX_KEEPALIVE = 64
"""Idle connections kept for reuse by the httpx face (per destination in aiohttp's pool)."""


def new_session() -> aiohttp.ClientSession:
    """No cookie jar (notifications are stateless), one pool shared by every channel; call inside the loop.

    The pool has no connection cap of its own, neither in total nor per host: the dispatcher already bounds
    the sends in flight (a few per receiver, and a total), so a cap here could only make a receiver wait for
    a connection held by another one. With one pool of 256, 70 hanging receivers (4 sends each) left the
    healthy ones queueing for a connection until the hanging sends timed out.
    """
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def make_http_client(*, timeout: float = 10.0, session: aiohttp.ClientSession | None = None) -> httpx.AsyncClient:
    """httpx's API over aiohttp; over `session`'s pool when given (closing the client closes the session)."""
    redact_http_logs()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=MAX_KEEPALIVE)
    transport = AiohttpTransport(limits=limits, client=session) if session is not None else None
    return HttpxAiohttpClient(timeout=timeout, limits=limits, transport=transport)
