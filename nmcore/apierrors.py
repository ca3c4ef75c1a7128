"""Chat APIs that answer HTTP 200 with a code in the body (`{"errcode": 0, "errmsg": "ok"}`), read one way.

WeChat Work, DingTalk and Feishu all do this: the HTTP status says little and the body's code says what
happened. A channel declares its vendor's codes once, as data (which are worth retrying and after how
long, what the common ones mean for the operator), and gets located, actionable errors from `check`.
"""

from collections.abc import Mapping
from typing import Any

import attrs
import httpx

from nmcore.errors import DeliveryError, PermanentError, TransientError
from nmcore.httpfailures import TRANSIENT_STATUS, check_status, excerpt, json_object, retry_after

__all__ = ["ApiCodes", "check_api_url"]


@attrs.frozen(kw_only=True)
class ApiCodes:
    vendor: str
    """How errors name the service: "WeChat Work", "DingTalk", "Feishu"."""
    code_field: str = "errcode"
    message_field: str = "errmsg"
    transient: Mapping[int, float | None] = attrs.field(factory=dict)
    """Codes worth retrying, each with the least wait before the retry (None: the core's backoff)."""
    hints: Mapping[int, str] = attrs.field(factory=dict)
    """What a code means for the operator: which field to check, what to change."""
    wait_header: str = ""
    """A response header giving the seconds to wait after a rate limit (Feishu's `x-ogw-ratelimit-reset`)."""

    def reply(self, response: httpx.Response, service: str, what: str) -> Mapping[str, Any]:
        """The JSON object the API answered with; an HTTP failure or anything else is an error naming `service`.

        A code in the body says more than the status (Feishu answers an expired token with 400, its rate limit
        with 429): a transient code raises at once (named as `what`, as `check` names it) with the wait the
        response asks for; another code is returned for the caller to check, unless the status itself is
        transient (429, 5xx)."""
        reply = json_object(response)
        if reply is not None and self.code(reply) in self.transient:
            raise self.failure(reply, what, wait=_longest(_seconds(response.headers.get(self.wait_header, "")),
                                                          retry_after(response.headers)))
        if reply is not None and response.status_code not in TRANSIENT_STATUS and self.code_field in reply:
            return reply
        check_status(response, service)
        if reply is None:
            kind = response.headers.get("content-type", "no content type")
            raise PermanentError(f"{service} answered HTTP {response.status_code} with {kind}, not a "
                                 f"{self.vendor} JSON reply: check the URL")
        return reply

    def code(self, reply: Mapping[str, Any]) -> int:
        """The reply's code: 0 for success (also when absent); a code that is not a number counts as -1."""
        code = reply.get(self.code_field, 0)
        return code if isinstance(code, int) and not isinstance(code, bool) else -1

    def failure(self, reply: Mapping[str, Any], what: str, hint: str = "", wait: float | None = None) -> DeliveryError:
        """The error for a reply whose code is not 0; `what` says which call, for which object; `wait` is
        what the server asked for, honoured when longer than the code's own wait."""
        code = self.code(reply)
        text = excerpt(str(reply.get(self.message_field, "")))
        hint = hint or self.hints.get(code, "")
        message = f"{what}: {self.vendor} answered {self.code_field} {code} ({text})" + (f"; {hint}" if hint else "")
        if code in self.transient:
            return TransientError(message, retry_after=_longest(self.transient[code], wait))
        return PermanentError(message)

    def check(self, reply: Mapping[str, Any], what: str) -> Mapping[str, Any]:
        if self.code(reply) != 0:
            raise self.failure(reply, what)
        return reply

    def answer(self, response: httpx.Response, service: str, what: str) -> Mapping[str, Any]:
        """`reply` and `check` at once, for a call whose every non-zero code is a failure."""
        return self.check(self.reply(response, service, what), what)


def check_api_url(url: str, default: str) -> None:
    """For a schema's `apiUrl` field (a proxy, a test server, a compatible API such as Lark's for Feishu)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"apiUrl must be an http(s) URL such as {default}, got {url!r}")


def _longest(*waits: float | None) -> float | None:
    return max((w for w in waits if w is not None), default=None)


def _seconds(value: str) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        return None

