"""Fallback receivers: where a dead-lettered notification goes next, so a failing channel is not silence.

A receiver labelled `notification.kubesphere.io/fallback: "true"` is a fallback, and so is the global receiver a
NotificationManager names in `spec.fallback.receiver` (the default fallback). When a delivery is given up on, or
is still failing `spec.fallback.after` (or `nm run --fallback-after`) after it was first due (accepted, or for a
batch released: its wait is not time spent failing), its notification is sent once to a fallback: one of the same
tenant when there is one, else a global labelled one, else the default (global receivers may see every alert).
Never to another tenant's receiver: that is the isolation rule routing keeps, and `choose_fallback` keeps it too
(tests/test_fallback.py checks it for any snapshot). A fallback's own dead letter goes nowhere further. A fallback
is otherwise an ordinary receiver.

"Once" needs no state of its own: a delivery's attempts are scheduled one after another (the store keeps each
one's time), so exactly one attempt's failure moves the next try past the time limit (`crosses_limit`); that one
falls back, whichever replica makes it, and a delivery that fell back so is not sent to the fallback again when
it is dead-lettered (`fell_back_before`).
"""

import attrs

from nmcore.alerts import Notification
from nmcore.snapshot import Snapshot, Target
from nmcore.store import Job

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
    labelled = next((t for t in snapshot.global_targets if is_fallback(t) and t.receiver.ref != notification.receiver),
                    None)
    if labelled is not None:
        return labelled
    default = snapshot.targets.get(snapshot.settings.default_fallback)
    if default is None or default.tenant or default.receiver.ref == notification.receiver:
        return None  # (a tenant's receiver is never the default; the snapshot refuses to name one, and so does this)
    return default


def scheduled(job: Job) -> float:
    """When the attempt `job` is about to make (or just made) was due."""
    return max(job.not_before, job.first_due)


def crosses_limit(job: Job, retry: Job, after: float) -> bool:
    """The failed attempt of `job` is the last before the delivery has been failing `after` seconds: its retry
    (`retry.not_before`) is past the limit and the attempt itself was not."""
    return after > 0 and scheduled(job) < job.first_due + after <= retry.not_before


def fell_back_before(job: Job, after: float) -> bool:
    """`job` (now dead-lettered) already went to its fallback because it was failing for `after` seconds."""
    return after > 0 and scheduled(job) >= job.first_due + after


def redirected(notification: Notification, fallback: Target) -> Notification:
    """The same alerts, addressed to the fallback (its tenant stays the original's or becomes global)."""
    return attrs.evolve(notification, receiver=fallback.receiver.ref, channel=fallback.channel,
                        tenant=fallback.tenant)
