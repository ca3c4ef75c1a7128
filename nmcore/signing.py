"""Robot webhook signatures: base64 HMAC-SHA256 of `<timestamp>\n<secret>`, as DingTalk and Feishu sign.

Both chat robots check that a message comes from someone holding the robot's secret, with a timestamp so an
old request cannot be replayed. They sign the same string with the roles swapped: DingTalk keys the HMAC with
the secret over the string (timestamp in milliseconds, sent as URL parameters); Feishu keys it with the
string over nothing (timestamp in seconds, sent in the JSON body).
"""

import base64
import hashlib
import hmac
from typing import Literal

__all__ = ["timestamp_signature"]


def timestamp_signature(secret: str, timestamp: int, *, keyed_by: Literal["secret", "string"]) -> str:
    """The base64 signature of `<timestamp>\n<secret>`, the HMAC keyed by the secret or by that string."""
    string = f"{timestamp}\n{secret}".encode()
    key, message = (secret.encode(), string) if keyed_by == "secret" else (string, b"")
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
