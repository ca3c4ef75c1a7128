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

MAX_CONNECTIONS = 256


def new_session() -> aiohttp.ClientSession:
    """No cookie jar (notifications are stateless), a pool shared by every channel; call inside the loop."""
    connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=30)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


def make_http_client(*, timeout: float = 10.0, session: aiohttp.ClientSession | None = None) -> httpx.AsyncClient:
    """httpx's API over aiohttp; over `session`'s pool when given (closing the client closes the session)."""
    redact_http_logs()
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64)
    transport = AiohttpTransport(limits=limits, client=session) if session is not None else None
    return HttpxAiohttpClient(timeout=timeout, limits=limits, transport=transport)
