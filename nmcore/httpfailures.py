"""How HTTP-based channels report failures, the same way for all of them."""

import email.utils
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import aiohttp
import httpx

from nmcore.channel import PermanentError, TransientError

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def retry_after(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` as seconds, whether given as seconds or as an HTTP date."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def check_status(response: httpx.Response, service: str) -> None:
    """Raise for a non-2xx reply: 408/429/5xx are transient (with Retry-After), other codes permanent."""
    if 200 <= response.status_code < 300:
        return
    body = response.text[:300].strip()
    message = f"{service} answered HTTP {response.status_code}" + (f": {body}" if body else "")
    if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
        raise TransientError(message, retry_after=retry_after(response.headers))
    raise PermanentError(message)


@contextmanager
def transport_errors(service: str) -> Iterator[None]:
    """Connection failures and timeouts are transient; say which service could not be reached."""
    try:
        yield
    except httpx.TransportError as exc:
        # httpx-aiohttp reports refused connections and certificate failures as ConnectTimeout: look at the cause.
        refused = isinstance(exc.__cause__, aiohttp.ClientConnectorError)
        if isinstance(exc, httpx.TimeoutException) and not refused:
            raise TransientError(f"{service} timed out ({type(exc).__name__})") from None
        raise TransientError(f"{service} unreachable: {exc}") from None
