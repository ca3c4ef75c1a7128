"""Building a channel's SendRequest from a snapshot, and keeping the secrets it used out of error text."""

import attrs

from nmcore.alerts import Notification
from nmcore.channel import Rendered, SendRequest
from nmcore.resources import SecretKeySelector
from nmcore.snapshot import Snapshot, Target

REDACTED = "<redacted>"


@attrs.define
class SecretTracker:
    """Resolves Secret keys for one send and remembers the values, so errors can be scrubbed of them."""

    snapshot: Snapshot = attrs.field(repr=False)
    namespace: str
    used: set[str] = attrs.field(factory=set, repr=False)

    def __call__(self, ref: SecretKeySelector) -> str:
        value = self.snapshot.secret(self.namespace, ref)
        if value:
            self.used.add(value)
        return value

    def scrub(self, text: str) -> str:
        for value in sorted(self.used, key=len, reverse=True):
            if len(value) >= 3:
                text = text.replace(value, REDACTED)
        return text


def build_request(
    snapshot: Snapshot, target: Target, notification: Notification, message: Rendered
) -> tuple[SendRequest, SecretTracker]:
    owner = target.config or target.receiver
    tracker = SecretTracker(snapshot, owner.metadata.namespace)
    request = SendRequest(
        notification=notification, message=message, receiver=target.receiver, config=target.config, secret=tracker
    )
    return request, tracker
