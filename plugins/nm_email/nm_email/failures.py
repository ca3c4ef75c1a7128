"""SMTP failures as the core understands them: transient (retry) or permanent, with the server's reply.

RFC 5321: 4xx replies are temporary and 5xx permanent. Connection trouble and timeouts are transient; a
certificate that does not verify is permanent (retrying cannot make it trusted).
"""

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtplib import (
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from nmcore.sdk import DeliveryError, PermanentError, TransientError


def reply_error(code: int) -> type[DeliveryError]:
    """The error class for an SMTP reply code: only 5xx is final."""
    return PermanentError if 500 <= code < 600 else TransientError


def _untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


@contextmanager
def smtp_errors(server: str, doing: str) -> Iterator[None]:
    """Turn aiosmtplib and socket errors raised while `doing` something with `server` into DeliveryErrors."""
    try:
        yield
    except DeliveryError:
        raise
    except SMTPRecipientsRefused as exc:
        replies = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        transient = any(not 500 <= r.code < 600 for r in exc.recipients)
        raise (TransientError if transient else PermanentError)(
            f"{server} refused every recipient while {doing} ({replies})") from None
    except SMTPResponseException as exc:
        raise reply_error(exc.code)(
            f"{server} answered {exc.code} {exc.message} while {doing}") from None
    except (SMTPTimeoutError, TimeoutError):
        raise TransientError(f"{server} did not answer in time while {doing}") from None
    except SMTPServerDisconnected as exc:
        raise TransientError(f"{server} closed the connection while {doing} ({exc})") from None
    except (SMTPException, OSError) as exc:
        untrusted = _untrusted_certificate(exc)
        if untrusted is not None:
            raise PermanentError(
                f"{server}: the TLS certificate is not trusted ({untrusted.verify_message}) while {doing}; "
                "set tls.rootCA to the CA that signed it, or tls.serverName if it is issued for another name"
            ) from None
        if isinstance(exc, OSError):
            raise TransientError(f"{server} unreachable while {doing}: {exc}") from None
        raise PermanentError(f"{server}: {exc} while {doing}") from None
