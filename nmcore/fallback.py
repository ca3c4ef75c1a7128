"""Fallback receivers: where a dead-lettered notification goes next, so a failing channel is not silence.

A receiver labelled `notification.kubesphere.io/fallback: "true"` is a fallback. When a delivery is given up
on, its notification is sent once more, to a fallback of the same tenant when there is one, else to a global
fallback (global receivers may see every alert). Never to another tenant's receiver: that is the isolation
rule routing keeps, and `choose_fallback` keeps it too (tests/test_fallback.py checks it for any snapshot).
A fallback's own dead letter goes nowhere further. A fallback is otherwise an ordinary receiver.
"""

import attrs

from nmcore.alerts import Notification
from nmcore.snapshot import Snapshot, Target

FALLBACK_LABEL = "notification.kubesphere.io/fallback"


def is_fallback(target: Target) -> bool:
    return target.receiver.labels.get(FALLBACK_LABEL, "").lower() == "true"


def choose_fallback(snapshot: Snapshot, notification: Notification) -> Target | None:
    """The fallback for a notification that `notification.receiver` could not deliver, or None."""
    failed = snapshot.targets.get(notification.receiver)
    if failed is not None and is_fallback(failed):
        return None
    candidates: tuple[Target, ...] = ()
    if notification.tenant:
        candidates = snapshot.targets_for_user(notification.tenant)
    same_tenant = [t for t in candidates if is_fallback(t) and t.receiver.ref != notification.receiver]
    if same_tenant:
        return same_tenant[0]
    return next((t for t in snapshot.global_targets if is_fallback(t) and t.receiver.ref != notification.receiver),
                None)


def redirected(notification: Notification, fallback: Target) -> Notification:
    """The same alerts, addressed to the fallback (its tenant stays the original's or becomes global)."""
    return attrs.evolve(notification, receiver=fallback.receiver.ref, channel=fallback.channel,
                        tenant=fallback.tenant)
