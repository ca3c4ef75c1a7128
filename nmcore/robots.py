"""What chat robots (DingTalk's and Feishu's group webhooks) check before they post: a signature and keywords.

Both robots can demand a signature, so only someone holding the robot's secret can post: base64
HMAC-SHA256 of `<timestamp>\n<secret>`, with the roles swapped: DingTalk keys the HMAC with the secret over
that string (timestamp in milliseconds, sent as URL parameters); Feishu keys it with the string over
nothing (timestamp in seconds, in the JSON body). Both can demand that every message contains one of the
robot's keywords; the Go original appended them as a `[Keywords] …` line, which nmcore does only to a
message that has none of them.
"""

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

__all__ = ["keyword_footer", "timestamp_signature", "with_keyword"]


def timestamp_signature(secret: str, timestamp: int, *, keyed_by: Literal["secret", "string"]) -> str:
    """The base64 signature of `<timestamp>\n<secret>`, the HMAC keyed by the secret or by that string."""
    string = f"{timestamp}\n{secret}".encode()
    key, message = (secret.encode(), string) if keyed_by == "secret" else (string, b"")
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def keyword_footer(keywords: Sequence[str], separator: str = ", ") -> str:
    """What `with_keyword` may append (empty without keywords), so a split can leave room for it."""
    return "\n\n[Keywords] " + separator.join(keywords) if keywords else ""


def with_keyword(text: str, keywords: Sequence[str], separator: str = ", ") -> str:
    """`text` as it is if it contains one of `keywords` (or there are none), else with the keywords line."""
    if not keywords or any(keyword in text for keyword in keywords):
        return text
    return text + keyword_footer(keywords, separator)
