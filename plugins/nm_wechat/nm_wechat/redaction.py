"""Keeping the application Secret, the access_token and robot keys out of errors and logs.

WeChat Work takes them in the query string (`gettoken?corpsecret=…`, `message/send?access_token=…`, a
group robot's `webhook/send?key=…`), and URLs leak: httpx logs every request URL at INFO, and aiohttp
(under the core's client) raises errors whose text holds the URL. The core scrubs the Secrets it resolved
from errors, but it does not know the access_token.
"""

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from nmcore.channel import DeliveryError, TransientError
from nmcore.httpfailures import transport_errors

_SENSITIVE = re.compile(r"\b(access_token|corpsecret|key)=[^&\s'\"]*")


def redact(text: str) -> str:
    return _SENSITIVE.sub(r"\1=<redacted>", text)


class QueryRedactor(logging.Filter):
    """Rewrites a log record's message with the sensitive query values hidden."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = redact(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


def redact_http_logs() -> None:
    """Install the redactor on httpx's logger, once per process."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, QueryRedactor) for f in logger.filters):
        logger.addFilter(QueryRedactor())


@contextmanager
def http_errors(service: str) -> Iterator[None]:
    """`transport_errors`, with every error that leaves redacted and unchained (a cause may hold the URL)."""
    try:
        with transport_errors(service):
            yield
    except DeliveryError as exc:
        raise type(exc)(redact(str(exc)), retry_after=exc.retry_after) from None
    except Exception as exc:  # aiohttp's own errors (a malformed reply) come through httpx-aiohttp
        raise TransientError(f"{service} failed: {type(exc).__name__}: {redact(str(exc))}") from None
