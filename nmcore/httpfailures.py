"""How HTTP-based channels report failures, the same way for all of them, without leaking credentials.

Many services take credentials in the query string (WeChat's `corpsecret` and `access_token`, DingTalk's
robot token and `sign`) or in the path (a Feishu robot's hook ID, Telegram's bot token, a Discord webhook's
token), and URLs end up in error text and in httpx's request log. Every query value and every token-like path
segment is hidden in both, and so is a URL password (`https://user:password@host/`), and in the reply text
quoted in an error (a proxy's page may echo the URL).
"""

import email.utils
import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx

from nmcore.errors import PermanentError, TransientError
from nmcore.netpolicy import POLICY_NAME, DeniedDestination

TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

EXCERPT_CHARS = 200
"""The most of a reply's text an error quotes: enough to see what the server said, too little to turn
`nm verify` into a way of reading an internal service's pages (it echoed a `db_password=…` error body)."""

_QUERY_VALUE = re.compile(r"([?&][^=&\s'\"<>]+)=[^&\s'\"<>]*")
_URL_PASSWORD = re.compile(r"(://[^/:@\s'\"<>]*):[^/@\s'\"<>]*@")
TOKEN_SEGMENT = re.compile(r"(?=[A-Za-z_:-]*[0-9])[A-Za-z0-9_:-]{16,}")
"""A path segment of 16 or more letters, digits, `-`, `_` and `:` with a digit in it: a hook ID or a token
(Telegram's `bot123456:AAE…`, a Discord webhook's ID and token), not a word of an API path
(`tenant_access_token`, `batch_send`, `v2`). The same test hides them in URLs here and finds them in the requests
a send made (nmcore.redaction)."""
_TOKEN_IN_URL = re.compile(rf"(?<=/){TOKEN_SEGMENT.pattern}(?=[/?#\s'\"<>]|$)")


def redact_url_secrets(text: str) -> str:
    """`https://u:pw@x/hook/7f0c…e2?access_token=abc` →
    `https://u:<redacted>@x/hook/<redacted>?access_token=<redacted>`."""
    text = _URL_PASSWORD.sub(r"\1:<redacted>@", _QUERY_VALUE.sub(r"\1=<redacted>", text))
    return _TOKEN_IN_URL.sub("<redacted>", text)


class UrlRedactor(logging.Filter):
    """Hides URL credentials in log records (httpx logs every request URL at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = redact_url_secrets(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def redact_http_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, UrlRedactor) for f in logger.filters):
        logger.addFilter(UrlRedactor())


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


_WORD = re.compile(r"[^\s\"'<>,;(){}\[\]]+$")
"""A run of characters a credential may be made of, at the end of the text (separators end it). `:`, `=`, `&` and
`?` are in credentials too (a Telegram bot token `123456:AAE…`, base64's padding, a URL with its query): a cut
after `123456:` would leave the token's first half, one after `abc` of `abc==` the whole value but its padding."""


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The start of a reply's text for an error message, on one line, cut visibly at `limit` characters.

    A cut never ends inside a word: the word goes whole. Credentials in the text are scrubbed later, by whole
    value, and half of a token echoed back would escape that."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if _WORD.search(text[limit - 1]):  # the cut falls inside a word
        cut = _WORD.sub("", cut)
    return cut.rstrip() + "…"


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The reply's JSON object, or None when the body is not one (an HTML error page, a proxy, a wrong URL):
    each channel then says which of its settings to check."""
    try:
        reply = response.json()
    except ValueError:
        return None
    return reply if isinstance(reply, dict) else None


def check_status(response: httpx.Response, service: str) -> None:
    """Raise for a non-2xx reply: 408/429/5xx are transient (with Retry-After), other codes permanent."""
    raise_for_status(response.status_code, response.headers, response.text, service)


def raise_for_status(status: int, headers: Mapping[str, str], body: str, service: str) -> None:
    """`check_status` for any client: the status, the headers and the reply's text."""
    if 200 <= status < 300:
        return
    body = redact_url_secrets(excerpt(body))
    message = f"{service} answered HTTP {status}" + (f": {body}" if body else "")
    if status in TRANSIENT_STATUS or status >= 500:
        raise TransientError(message, retry_after=retry_after(headers))
    raise PermanentError(message)


@contextmanager
def transport_errors(service: str) -> Iterator[None]:
    """Connection failures, timeouts and malformed replies are transient; say which service failed.

    Errors leave unchained and with query values hidden: the cause's text may hold the request URL. A connection
    the network policy refused is permanent: retrying will not change where the receiver points.
    """
    try:
        yield
    except (httpx.TransportError, aiohttp.ClientConnectorError) as exc:
        if (denied := _denied(exc)) is not None:
            raise PermanentError(f"{service} not contacted: {denied}") from None
        if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unresolvable, or an unverifiable certificate
            raise TransientError(f"{service} unreachable: {redact_url_secrets(str(exc))}") from None
        # httpx-aiohttp reports refused connections and certificate failures as ConnectTimeout: look at the cause.
        refused = isinstance(exc.__cause__, aiohttp.ClientConnectorError)
        if isinstance(exc, httpx.TimeoutException) and not refused:
            raise TransientError(f"{service} timed out ({type(exc).__name__})") from None
        raise TransientError(f"{service} unreachable: {redact_url_secrets(str(exc))}") from None
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        raise TransientError(f"{service} timed out ({type(exc).__name__})") from None
    except (aiohttp.ClientError, httpx.HTTPError) as exc:  # e.g. a malformed status line, a dropped connection
        raise TransientError(f"{service} failed: {type(exc).__name__}: {redact_url_secrets(str(exc))}") from None


def _denied(exc: BaseException) -> str | None:
    """The network policy's refusal behind a connection error (aiohttp's os_error, httpx's cause), if it is one."""
    seen: BaseException | None = exc
    while seen is not None:
        os_error = getattr(seen, "os_error", None)
        for candidate in (seen, os_error):
            if isinstance(candidate, DeniedDestination):
                return str(candidate)
            if isinstance(candidate, OSError) and POLICY_NAME in str(candidate):  # several addresses, all denied
                return str(candidate)
        seen = seen.__cause__
    return None
