"""Building a channel's SendRequest from a snapshot, and keeping the secrets it used out of error text."""

import attrs

from nmcore import v2beta2
from nmcore.alerts import Notification
from nmcore.channel import Rendered, SendRequest
from nmcore.errors import PermanentError
from nmcore.resources import Credential
from nmcore.snapshot import SecretRef, Snapshot, Target
from nmcore.tlsconfig import SecretSource

REDACTED = "<redacted>"


@attrs.define
class SecretTracker:
    """Resolves Secret keys and credentials for one send and remembers the values, so errors can be scrubbed of
    them. A Secret is read from the snapshot at send time: a rotated Secret is used from the next send on.

    Only the references the receiver and its config name can be read, each with the namespace and owner of the
    object naming it: a channel cannot read another tenant's Secret, whatever it asks for.
    """

    snapshot: Snapshot = attrs.field(repr=False)
    target: Target
    used: set[str] = attrs.field(factory=set, repr=False)

    def __call__(self, ref: SecretSource) -> str:
        if isinstance(ref, Credential | v2beta2.Credential):
            source = ref.value_from.secret_key_ref if ref.value_from is not None else None
            value = ref.value or "" if source is None else self._read(source)
        else:
            value = self._read(ref)
        if value:
            self.used.add(value)
        return value

    def _read(self, ref: SecretRef) -> str:
        holder = self.target.credentials.get(ref)
        if holder is None:
            raise PermanentError(f"{ref} is named neither by {self.target.receiver.ref} nor by its config")
        return self.snapshot.secret(holder, ref)

    def scrub(self, text: str) -> str:
        for value in sorted(self.used, key=len, reverse=True):
            if len(value) >= 3:
                text = text.replace(value, REDACTED)
        return text


def build_request(
    snapshot: Snapshot, target: Target, notification: Notification, message: Rendered, timeout: float = 10.0
) -> tuple[SendRequest, SecretTracker]:
    tracker = SecretTracker(snapshot, target)
    request = SendRequest(notification=notification, message=message, receiver=target.receiver,
                          config=target.config, secret=tracker, timeout=timeout)
    return request, tracker
