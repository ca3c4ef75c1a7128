"""Batching (`batchMaxWait`): a receiver's alerts of one group wait up to the wait, then go as one notification.

With `spec.batchMaxWait` above zero, ingest accepts each job *waiting*: stored like any accepted job (so a batch
waiting survives a restart and a replica's death), with `batch` naming the group it waits in and `not_before` the
end of its wait. A group is the receiver's groupLabels values, or Alertmanager's group key without groupLabels, so
alerts of several Alertmanager posts (and groups) with the same groupLabels values go out together, as the Go
original's do.

The dispatcher keeps waiting jobs beside its lanes, not in them, so a batch waiting never holds up the receiver's
other work. A batch goes when its oldest member's wait is over (everything in it), or as soon as its members fill
`batchMaxSize` alerts (the full notifications; the rest waits on). Its members become one notification, which the
store swaps for them in one transaction just before it is sent. Within a batch an alert that changed (firing, then
resolved) is sent as it is now, once.
"""

import heapq
import math
import uuid
from collections.abc import Iterable, Sequence

import attrs

from nmcore.alerts import Alert, Notification
from nmcore.store import Job


def batch_of(notification: Notification, group_labels: Sequence[str] | None) -> str:
    """The batch a receiver's notification waits in: its groupLabels values, else its Alertmanager group."""
    if group_labels is None:
        return f"group:{notification.group_key}"
    return "labels:" + ",".join(f"{name}={notification.group_labels.get(name, '')!r}" for name in group_labels)


def waiting(jobs: Iterable[Job], group_labels: Sequence[str] | None, wait: float) -> list[Job]:
    """`jobs` as accepted with a batchMaxWait of `wait` seconds: each waits in its batch until its wait is over."""
    return [attrs.evolve(job, batch=batch_of(job.notification, group_labels), not_before=job.created + wait)
            for job in jobs]


@attrs.frozen
class Release:
    """A batch's members that go now, and the job that is sent for them."""

    job: Job
    members: tuple[str, ...]
    """The ids of the stored jobs `job` replaces; empty when `job` is the only member itself."""


def distinct_alerts(jobs: Iterable[Job]) -> dict[str, Alert]:
    """Fingerprint → the newest state of that alert, in the order alerts first appeared."""
    alerts: dict[str, Alert] = {}
    for job in jobs:
        for alert in job.notification.alerts:
            alerts[alert.fingerprint] = alert  # an existing key keeps its place and takes the newer state
    return alerts


def chunks(members: Sequence[Job], max_size: int) -> list[list[Job]]:
    """Members, in acceptance order, packed whole into notifications of at most `max_size` alerts (0: no limit).
    A member is never split: it is one stored job, swapped out whole."""
    packed: list[list[Job]] = []
    seen: set[str] = set()
    for job in members:
        fingerprints = {a.fingerprint for a in job.notification.alerts}
        new = fingerprints - seen  # not `seen | fingerprints`: that copies the whole chunk's set for every member
        if packed and (not max_size or len(seen) + len(new) <= max_size):
            packed[-1].append(job)
            seen |= new
        else:
            packed.append([job])
            seen = fingerprints
    return packed


def release(members: Sequence[Job], *, max_size: int, now: float) -> tuple[list[Release], list[Job]]:
    """What of one batch goes now, and what waits on. Everything goes once the oldest member's wait is over;
    before that only notifications that are full (the last one, still filling, waits)."""
    packed = chunks(members, max_size)
    rest: list[Job] = []
    if deadline(members) > now:
        last = packed[-1]
        if not max_size or len(distinct_alerts(last)) < max_size:
            packed, rest = packed[:-1], last
    return [_released(part, now) for part in packed], rest


def _released(part: Sequence[Job], now: float) -> Release:
    """`part` as the one job sent for it, due from `now` (`Job.first_due`: the wait is not time spent failing)."""
    first = part[0]
    if len(part) == 1:
        return Release(attrs.evolve(first, batch="", not_before=0.0, due=now), ())
    keys = {job.notification.group_key for job in part}
    notification = attrs.evolve(
        first.notification, alerts=tuple(distinct_alerts(part).values()),
        external_url=part[-1].notification.external_url,
        group_key=keys.pop() if len(keys) == 1 else first.batch)
    merged = Job(id=uuid.uuid4().hex, notification=notification, created=min(job.created for job in part), due=now)
    return Release(merged, tuple(job.id for job in part))


def deadline(members: Iterable[Job]) -> float:
    """When a batch goes at the latest: its oldest member's wait is over."""
    return min(job.not_before for job in members)


@attrs.define
class _Batch:
    members: list[Job] = attrs.field(factory=list)
    alerts: set[str] = attrs.field(factory=set)
    """Its members' distinct fingerprints: how full it is."""
    deadline: float = math.inf


class Waiting:
    """One receiver's batches waiting to go. The dispatcher asks whether any goes now on each of its passes over
    the lanes, so the answer costs O(1) however many wait: the deadlines are kept in a heap and the batches that
    filled batchMaxSize in a set, as jobs arrive; only the batches that go are packed (`release`)."""

    def __init__(self) -> None:
        self._batches: dict[str, _Batch] = {}
        self._deadlines: list[tuple[float, str]] = []
        """(deadline, batch) for each batch; an entry whose batch has since gone or changed deadline is stale."""
        self._full: set[str] = set()
        self._count = 0

    def __len__(self) -> int:
        """The jobs waiting."""
        return self._count

    def add(self, job: Job, max_size: int) -> None:
        batch = self._batches.setdefault(job.batch, _Batch())
        self._join(job.batch, batch, [job])
        if max_size and len(batch.alerts) >= max_size:
            self._full.add(job.batch)

    def _join(self, key: str, batch: _Batch, jobs: Sequence[Job]) -> None:
        earliest = batch.deadline
        for job in jobs:
            batch.members.append(job)
            batch.alerts.update(a.fingerprint for a in job.notification.alerts)
            earliest = min(earliest, job.not_before)
        self._count += len(jobs)
        if earliest < batch.deadline:
            batch.deadline = earliest
            heapq.heappush(self._deadlines, (earliest, key))

    def next_due(self) -> float | None:
        """When the next batch's wait is over (None: nothing waits)."""
        heap = self._deadlines
        while heap and (heap[0][1] not in self._batches or self._batches[heap[0][1]].deadline != heap[0][0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def release(self, now: float, max_size: int) -> list[Release]:
        """What goes now, oldest batch first: each batch whose wait is over, and the full notifications of each that
        filled batchMaxSize; the rest waits on."""
        due = self.next_due()
        if not self._full and (due is None or due > now):
            return []
        keys = set(self._full)
        self._full.clear()
        while self._deadlines and self._deadlines[0][0] <= now:
            keys.add(heapq.heappop(self._deadlines)[1])  # a stale entry's batch is only looked at once more
        going: list[Release] = []
        for key in sorted(keys & self._batches.keys(), key=lambda k: self._batches[k].deadline):
            batch = self._batches.pop(key)
            released, rest = release(batch.members, max_size=max_size, now=now)
            going += released
            self._count -= len(batch.members)
            if rest:
                self._join(key, self._batches.setdefault(key, _Batch()), rest)
        return going
