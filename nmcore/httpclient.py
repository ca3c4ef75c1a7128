"""The process-wide HTTP client: httpx's API over aiohttp's connection pool.

Plain `httpx.AsyncClient` slows down sharply with many requests in flight (encode/httpx#3215: about 230
req/s at 50 concurrent, against thousands with aiohttp); the httpx-aiohttp transport keeps httpx's API,
which channel plugins and their tests use, without that cost.
"""

import ssl

import httpx
from httpx_aiohttp import HttpxAiohttpClient

from nmcore.httpfailures import redact_http_logs

MAX_CONNECTIONS = 256


def make_http_client(*, verify: ssl.SSLContext | bool = True, timeout: float = 10.0) -> httpx.AsyncClient:
    redact_http_logs()
    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=64)
    return HttpxAiohttpClient(verify=verify, timeout=timeout, limits=limits)
