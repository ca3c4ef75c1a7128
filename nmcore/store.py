"""Where accepted work lives until it is delivered: the Store interface and the in-memory store.

A job is one notification for one receiver. Ingest adds the jobs of an alert group in one call (one
transaction, for a durable store) before answering 200; the dispatcher reports each job's fate back. The
store also remembers, per (receiver, alert fingerprint), the last status accepted for delivery and when, so a
duplicate (an Alertmanager HA pair sends everything twice) is dropped within the dedup window while a re-fire
(firing, resolved, firing again) is not: it tells the receiver something new.
"""

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio
import attrs
import orjson

from nmcore.alerts import Notification
from nmcore.errors import StoreError
from nmcore.history import HistoryEntry, HistoryQuery, MemoryHistory, Retention
from nmcore.schema import converter


@attrs.frozen(kw_only=True)
class Job:
    id: str
    notification: Notification
    created: float
    attempts: int = 0
    not_before: float = 0.0
    last_error: str = ""
    batch: str = ""
    """The batch this job waits in before it is sent (nmcore.batching); "" for a job sent as it is."""
    due: float = 0.0
    """When its batch was released (nmcore.batching), for a job that waited in one; 0: due when accepted."""

    @property
    def receiver(self) -> str:
        return self.notification.receiver

    @property
    def first_due(self) -> float:
        """When it was first due to be sent: the retry deadline and spec.fallback.after count from here, so a batch's
        wait is not counted as time spent failing."""
        return self.due or self.created

    @property
    def waiting(self) -> bool:
        """Held in its batch until the batch is released: never attempted yet (a retry is not held again)."""
        return bool(self.batch) and self.attempts == 0


@attrs.frozen(kw_only=True)
class DeadLetter:
    job: Job
    reason: str
    buried: float


def notification_json(notification: Notification) -> str:
    """How a store keeps a job's notification (read back by `job_from_row`)."""
    return orjson.dumps(converter.unstructure(notification)).decode()


def job_from_row(row: Sequence[Any], where: str) -> Job:
    """A stored job: (id, receiver, created, attempts, not_before, last_error, notification JSON, batch, due), read
    back."""
    job_id, _receiver, created, attempts, not_before, last_error, notification, batch, due = row
    try:
        parsed = converter.structure(orjson.loads(notification), Notification)
        if not all(isinstance(n, int | float) for n in (created, attempts, not_before, due)) or not all(
                isinstance(text, str) for text in (last_error, batch)):
            raise ValueError("a column holds the wrong type")
    except Exception as exc:  # any failure here means the stored row is unreadable
        raise StoreError(f"{where}: delivery {job_id} cannot be read ({exc})") from None
    return Job(id=job_id, notification=parsed, created=created, attempts=attempts, not_before=not_before,
               last_error=last_error, batch=batch, due=due)


def _number(value: Any) -> float:
    return value if isinstance(value, int | float) else 0.0


def dead_letter_from_row(row: Sequence[Any], where: str) -> DeadLetter:
    """A stored dead letter: (id, receiver, created, attempts, last_error, notification JSON, reason, buried). One
    whose row cannot be read (quarantined as unreadable) keeps its id, receiver and reason, and no alerts."""
    job_id, receiver, created, attempts, last_error, notification, reason, buried = row
    try:
        job = job_from_row((job_id, receiver, created, attempts, 0.0, last_error, notification, "", 0.0), where)
    except StoreError:
        job = Job(id=job_id, notification=Notification(receiver=str(receiver), channel="", tenant="", alerts=()),
                  created=_number(created), attempts=int(_number(attempts)), last_error=str(last_error))
    return DeadLetter(job=job, reason=reason, buried=buried)


LastStates = Mapping[str, tuple[str, float]]
"""Alert fingerprint → (the status last accepted for one receiver, when), as a store remembers it."""


def is_repeat(notification: Notification, last: LastStates, now: float, window: float) -> bool:
    """True when every alert of `notification` was last accepted for its receiver in the same status within
    `window` seconds: the receiver already has (or will get) exactly this news. Any alert whose status
    changed since, or that is new, makes the notification news again."""
    if window <= 0 or not notification.alerts:
        return False
    for alert in notification.alerts:
        seen = last.get(alert.fingerprint)
        if seen is None or seen[0] != alert.status or now - seen[1] >= window:
            return False
    return True


class Store(Protocol):
    shared: bool
    """False: this process alone delivers the store's work; `open` and `add` return the jobs for its dispatcher.
    True: several processes deliver from it (PostgreSQL). Then a job reaches a dispatcher only when `watch` claims
    it for this process, and a job rescheduled after a failure goes back to the store for any of them to retry."""

    async def open(self) -> list[Job]:
        """Prepare the store; return the jobs still pending from an earlier run, oldest first."""
        ...

    async def add(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        """Commit `jobs` atomically, leaving out the repeats (`is_repeat`) within the window."""
        ...

    async def finish(self, job: Job) -> None:
        """The job was delivered. Its firing alerts are remembered for its receiver, its resolved ones forgotten
        (see `owed_resolved`)."""
        ...

    async def owed_resolved(self, fingerprints: Sequence[str]) -> dict[str, set[str]]:
        """For each fingerprint, the receivers that were delivered its firing and not yet its resolved."""
        ...

    async def merge(self, merged: Job, members: Sequence[str]) -> bool:
        """Put `merged` (a released batch, nmcore.batching) in place of the jobs `members`, atomically. False when
        they are no longer this process's to merge (a shared store whose claim on them lapsed): then send nothing."""
        ...

    async def reschedule(self, job: Job) -> None:
        """Record a failed attempt (attempts, not_before and last_error are already updated on `job`)."""
        ...

    async def bury(self, job: Job, reason: str) -> None:
        """Move a job that will never be delivered to the dead letters, with the reason."""
        ...

    async def dead_letters(self) -> list[DeadLetter]: ...

    async def redrive(self, ids: Sequence[str] | None) -> list[str]:
        """Move dead letters (all, or those with `ids`) back to pending; return the ids moved."""
        ...

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Keep finished deliveries' history entries (see nmcore.history)."""
        ...

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]: ...

    async def prune_history(self, retention: Retention, now: float) -> int: ...

    async def watch(self, enqueue: Callable[[Sequence[Job]], None]) -> None:
        """Until cancelled, pass `enqueue` the pending jobs put back from outside (`nm deliveries redrive`) and,
        when shared, the jobs claimed for this process."""
        ...

    def unavailable(self) -> str:
        """Why the store cannot take work now (a database that stopped answering), or "": /readyz says it."""
        ...

    def backlog(self) -> int | None:
        """The jobs pending in a shared store, for every process (an estimate kept fresh by `watch`); None when
        not shared: the dispatcher's own count is the whole backlog then."""
        ...

    async def close(self) -> None: ...


class MemoryStore(MemoryHistory):
    """Keeps nothing across restarts; for embedding and tests. The dead letters kept are bounded; its history is
    MemoryHistory's."""

    shared = False

    def __init__(self, *, max_dead_letters: int = 10_000):
        self._last: dict[str, dict[str, tuple[str, float]]] = {}
        """Receiver → its LastStates."""
        self._remembered = 0
        self._dead: deque[DeadLetter] = deque(maxlen=max_dead_letters)
        super().__init__()
        self._fired: dict[str, set[str]] = {}
        self._redriven: list[Job] = []
        self._redrive_ready = anyio.Event()

    async def open(self) -> list[Job]:
        return []

    async def add(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        now = time.time()
        if self._remembered > 100_000:
            self._forget(now - dedup_window)
        accepted = []
        for job in jobs:
            last = self._last.setdefault(job.receiver, {})
            if is_repeat(job.notification, last, now, dedup_window):
                continue
            before = len(last)
            last.update((a.fingerprint, (a.status, now)) for a in job.notification.alerts)
            self._remembered += len(last) - before
            accepted.append(job)
        return accepted

    def _forget(self, before: float) -> None:
        for receiver, last in list(self._last.items()):
            kept = {fp: seen for fp, seen in last.items() if seen[1] >= before}
            self._last[receiver] = kept
            if not kept:
                del self._last[receiver]
        self._remembered = sum(map(len, self._last.values()))

    async def finish(self, job: Job) -> None:
        for alert in job.notification.alerts:
            receivers = self._fired.setdefault(alert.fingerprint, set())
            (receivers.add if alert.status == "firing" else receivers.discard)(job.receiver)
            if not receivers:
                del self._fired[alert.fingerprint]

    async def owed_resolved(self, fingerprints: Sequence[str]) -> dict[str, set[str]]:
        return {f: set(self._fired[f]) for f in fingerprints if f in self._fired}

    async def merge(self, merged: Job, members: Sequence[str]) -> bool:
        return True

    async def reschedule(self, job: Job) -> None:
        return None

    async def bury(self, job: Job, reason: str) -> None:
        self._dead.append(DeadLetter(job=job, reason=reason, buried=time.time()))

    async def dead_letters(self) -> list[DeadLetter]:
        return list(self._dead)

    async def redrive(self, ids: Sequence[str] | None) -> list[str]:
        chosen = [d for d in self._dead if ids is None or d.job.id in ids]
        for letter in chosen:
            self._dead.remove(letter)
            self._redriven.append(attrs.evolve(letter.job, attempts=0, not_before=0.0, created=time.time()))
        self._redrive_ready.set()
        return [d.job.id for d in chosen]

    async def watch(self, enqueue: Callable[[Sequence[Job]], None]) -> None:
        while True:
            await self._redrive_ready.wait()
            self._redrive_ready = anyio.Event()
            jobs, self._redriven = self._redriven, []
            enqueue(jobs)

    def backlog(self) -> int | None:
        return None

    def unavailable(self) -> str:
        return ""

    async def close(self) -> None:
        return None
