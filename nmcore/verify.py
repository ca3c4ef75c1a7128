"""Sending a test notification to a configured receiver now, and saying plainly whether it worked.

The Go original's most common complaint is "configured, but nothing arrives". `nm verify` (and
`POST /api/v2/verify` on a running manager) answers it in one step: the receiver, the config it uses, and the
channel's own verdict (an SMTP reply, a Slack error, a WeChat errcode), without waiting for a real alert.
"""

import difflib
from datetime import UTC, datetime
from typing import Any

import attrs

from nmcore.alerts import VERIFY_ALERTNAME, Alert, Notification
from nmcore.errors import UnknownReceiver
from nmcore.snapshot import Snapshot, Target

ALERTNAME = VERIFY_ALERTNAME


@attrs.frozen(kw_only=True)
class VerifyResult:
    receiver: str
    channel: str
    config: str = ""
    ok: bool
    error: str = ""
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"receiver": self.receiver, "channel": self.channel, "config": self.config or None, "ok": self.ok,
                "error": self.error, "warnings": list(self.warnings), "seconds": round(self.seconds, 3)}


def find_receiver(snapshot: Snapshot, name: str) -> str:
    """The ref of the receiver called `name`: its full ref (Kind/namespace/name, Receiver/name:block), Kind/name,
    the original's `block/name` for a v2beta2 block, or a bare name when only one receiver has it."""
    if name in snapshot.targets or name in snapshot.skipped:  # every receiver is in one of the two
        return name
    refs = [r.ref for r in snapshot.receivers]
    matches = [ref for ref in refs if _matches(ref, name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UnknownReceiver(f"{name!r} names {len(matches)} receivers: {', '.join(sorted(matches))}; "
                              f"give the full Kind/namespace/name")
    names = {_parts(ref)[1] for ref in refs}
    near = difflib.get_close_matches(name.rsplit("/", 1)[-1].split(":")[0], sorted(names), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise UnknownReceiver(f"no receiver {name!r} in the configuration{hint}")


def _parts(ref: str) -> tuple[str, str, str]:
    """(kind, name, block) of a ref."""
    kind, rest = ref.split("/", 1)
    receiver, _, block = rest.rsplit("/", 1)[-1].partition(":")
    return kind, receiver, block


def _matches(ref: str, name: str) -> bool:
    kind, receiver, block = _parts(ref)
    return name in (receiver, f"{kind}/{receiver}", *([f"{block}/{receiver}", f"{kind}/{receiver}:{block}"]
                                                       if block else []))


def verification_notification(target: Target) -> Notification:
    """A firing alert that says what it is, routed to nobody else."""
    ref = target.receiver.ref
    alert = Alert(
        labels={"alertname": ALERTNAME, "severity": "info", "receiver": target.receiver.metadata.name},
        annotations={"message": f"Test notification from nmcore for {ref}: if you can read this, the receiver "
                                f"and its config work."},
        starts_at=datetime.now(UTC).isoformat(),
    )
    return Notification(receiver=ref, channel=target.channel, tenant=target.tenant, alerts=(alert,),
                        group_labels={"alertname": ALERTNAME})
