"""Delivering jobs: one lane per receiver, retries with backoff, dead letters, the same for every channel.

Each receiver has its own FIFO lane with a small concurrency limit, so a receiver that is down or slow
never delays the others. A job that fails transiently goes back to the head of its lane until its retry
time: later work for that receiver waits behind it, so a resolved notification is never delivered before
the firing one it follows. Jobs whose alerts overlap one in flight wait for it, for the same reason.

A job waiting in its batch (batchMaxWait, nmcore.batching) is kept beside its lane until the batch goes; then the
batch joins the lane as one job, and the store swaps it for its members just before it is sent. Its alerts meet
the Silences again then (`on_release`): what a Silence made during the wait mutes is left out, and a batch it
mutes whole ends unsent, as silenced.

After an outage the first success to a destination (the config a receiver sends with, or the receiver itself
when it needs none) is proof it is back: the jobs waiting out their backoff for it are retried at once, instead
of each waiting up to its full backoff (a minute and more after a long outage). A wait a server asked for
(Retry-After) is still honoured.

This is the hot path: it uses asyncio's own tasks, events and timeouts, through `nmcore.hotpath` (see the
concurrency rule there).
"""

import logging
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs

from nmcore import batching, hotpath
from nmcore.attempt import send_once
from nmcore.channel import StartedChannel
from nmcore.render import Renderer
from nmcore.snapshot import Snapshot
from nmcore.store import Job, Store

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring a channel's retry_after, until `deadline` seconds old."""

    initial_delay: float = 1.0
    max_delay: float = 300.0
    multiplier: float = 2.0
    jitter: float = 0.2
    deadline: float = 24 * 3600.0

    def delay(self, attempts: int, retry_after: float | None) -> float:
        backoff = min(self.max_delay, self.initial_delay * self.multiplier ** max(0, attempts - 1))
        backoff *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(backoff, retry_after or 0.0)


@attrs.frozen(kw_only=True)
class Outcome:
    """The end of one job: delivered, or given up on (dead-lettered) and why."""

    receiver: str
    channel: str
    ok: bool
    error: str = ""
    attempts: int = 0
    warnings: tuple[str, ...] = ()
    notification_key: str = ""
    silenced: str = ""
    """Why it ended unsent (with ok): a Silence that began while it waited in its batch mutes all its alerts."""


@attrs.define
class _Lane:
    queue: deque[Job] = attrs.field(factory=deque)
    in_flight: int = 0
    fingerprints: Counter[str] = attrs.field(factory=Counter)
    waiting: batching.Waiting = attrs.field(factory=batching.Waiting)
    """Its jobs waiting in their batches to go."""

    @property
    def idle(self) -> bool:
        return not self.queue and not self.in_flight and not self.waiting


class Dispatcher:
    def __init__(
        self,
        *,
        store: Store,
        channels: Mapping[str, StartedChannel],
        snapshot: Callable[[], Snapshot],
        renderer: Renderer,
        policy: RetryPolicy = RetryPolicy(),
        per_receiver: int = 4,
        max_in_flight: int = 512,
        report: Callable[[Outcome, Job], None] = lambda outcome, job: None,
        on_attempt: Callable[[str, str, str, float], None] = lambda channel, receiver, result, seconds: None,
        on_send: Callable[[Job, bool, str], None] = lambda job, ok, answer: None,
        on_retry: Callable[[Job, Job], None] = lambda job, retry: None,
        on_merge: Callable[[str, tuple[str, ...]], None] = lambda job_id, members: None,
        on_release: Callable[[Job], Awaitable[dict[str, str]]] | None = None,
    ):
        self._store = store
        self._channels = channels
        self._snapshot = snapshot
        self._renderer = renderer
        self._policy = policy
        self._per_receiver = per_receiver
        self._max_in_flight = max_in_flight
        self._report = report
        self._on_attempt = on_attempt
        self._on_send = on_send
        self._on_retry = on_retry
        """Told of each failed attempt that will be retried: (the job as attempted, its retry)."""
        self._on_merge = on_merge
        """Told of each batch released as one job: (its id, the ids of the jobs it replaces)."""
        self._on_release = on_release
        """Asked of each batch as it goes which of its alerts a Silence mutes now: fingerprint → why."""
        self._released: set[str] = set()
        """Ids of released batches' jobs not yet attempted: `on_release` is asked of them first."""
        self._lanes: dict[str, _Lane] = {}
        self._backing_off: dict[str, str] = {}
        """Job id → destination, for queued jobs waiting out our own backoff (not a server's Retry-After)."""
        self._waiting: dict[str, set[str]] = {}
        """Destination → the receivers whose lanes hold such jobs."""
        self._merges: dict[str, tuple[str, ...]] = {}
        """Id of a released batch's job → the ids of the stored jobs it replaces (swapped just before it is sent)."""
        self._workers: set[hotpath.Task[None]] = set()
        self._crashed: BaseException | None = None
        self._in_flight = 0
        self._pending = 0
        self._wake = hotpath.Event()
        self._idle = hotpath.Event()
        self._idle.set()
        self._stopping = False

    @property
    def pending(self) -> int:
        """Jobs accepted and not yet finished: queued, waiting to retry, or in flight."""
        return self._pending

    @property
    def waiting_in_batches(self) -> dict[str, int]:
        """Receiver → the jobs waiting in its batches (they are pending too)."""
        return {receiver: len(lane.waiting) for receiver, lane in self._lanes.items() if lane.waiting}

    def enqueue(self, jobs: Sequence[Job]) -> None:
        max_size: int | None = None
        for job in jobs:
            lane = self._lanes.setdefault(job.receiver, _Lane())
            if job.waiting:
                if max_size is None:
                    max_size = self._snapshot().settings.batch_max_size
                lane.waiting.add(job, max_size)
            else:
                lane.queue.append(job)
        if jobs:
            self._pending += len(jobs)
            self._idle.clear()
            self._wake.set()

    async def drain(self) -> None:
        """Wait until every accepted job is delivered or dead-lettered."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Start no new send; return once every send in flight has finished and been recorded."""
        self._stopping = True
        self._wake.set()
        await hotpath.finish(set(self._workers))

    async def run(self) -> None:
        """Start jobs as lanes allow, until cancelled. Sends in flight then finish (each is bounded by its
        channel's timeout); nothing new starts, and what is queued stays pending in the store."""
        try:
            while self._crashed is None:
                next_due = self._start_ready()
                self._wake.clear()
                delay = max(0.0, next_due - time.time()) if next_due else 3600
                try:
                    async with hotpath.deadline(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            raise self._crashed
        finally:
            self._stopping = True
            await hotpath.finish(self._workers)

    def _start_ready(self) -> float | None:
        """Start a lane worker for every job that may start now; return when the earliest retry is due."""
        now = time.time()
        next_due: float | None = None
        max_size: int | None = None
        for receiver, lane in list(self._lanes.items()):
            if lane.waiting:
                if max_size is None:
                    max_size = self._snapshot().settings.batch_max_size
                self._release_batches(lane, now, max_size)
                due = lane.waiting.next_due()
                next_due = min(next_due or due, due) if due else next_due
            while lane.in_flight < self._per_receiver and self._in_flight < self._max_in_flight:
                job = self._take(lane, now)
                if job is None:
                    break
                self._in_flight += 1
                self._workers.add(hotpath.spawn(self._work(receiver, lane, job), self._worker_done))
            if lane.queue and lane.queue[0].not_before > now:
                next_due = min(next_due or lane.queue[0].not_before, lane.queue[0].not_before)
            if lane.idle:
                del self._lanes[receiver]
        return next_due

    def _release_batches(self, lane: _Lane, now: float, max_size: int) -> None:
        """Move the batches that go now into the lane's queue."""
        for part in lane.waiting.release(now, max_size):
            if self._on_release is not None:
                self._released.add(part.job.id)
            if part.members:
                self._merges[part.job.id] = part.members
                self._pending -= len(part.members) - 1
                self._on_merge(part.job.id, part.members)
            lane.queue.append(part.job)

    def _worker_done(self, worker: hotpath.Task[None]) -> None:
        """A worker that raised is a bug in the dispatcher itself: stop `run` with it rather than lose jobs."""
        self._workers.discard(worker)
        if not worker.cancelled() and (exc := worker.exception()) is not None and self._crashed is None:
            self._crashed = exc
            self._wake.set()

    def _take(self, lane: _Lane, now: float) -> Job | None:
        """The lane's next job if it may start now: due, and no alert of it in flight (order per alert)."""
        if not lane.queue or self._stopping:
            return None
        head = lane.queue[0]
        if head.not_before > now:
            return None
        fingerprints = [a.fingerprint for a in head.notification.alerts]
        if any(lane.fingerprints[f] for f in fingerprints):
            return None
        lane.queue.popleft()
        self._backing_off.pop(head.id, None)
        lane.in_flight += 1
        lane.fingerprints.update(fingerprints)
        return head

    async def _work(self, receiver: str, lane: _Lane, job: Job | None) -> None:
        """Deliver `job`, then keep taking the lane's next one: one task per busy lane slot, not per job.

        Workers are plain tasks outside any cancel scope, so a stop lets the send in flight finish (each is
        bounded by its timeout) and be recorded; no new job is taken once stopping.
        """
        while job is not None:
            retry = await self._attempt(job)
            lane.in_flight -= 1
            lane.fingerprints.subtract(a.fingerprint for a in job.notification.alerts)
            lane.fingerprints += Counter()
            if retry is not None:
                lane.queue.appendleft(retry)  # the lane waits for it: order is kept
                break
            self._pending -= 1
            if self._pending == 0:
                self._idle.set()
            job = self._take(lane, time.time())
        saturated = self._in_flight >= self._max_in_flight
        self._in_flight -= 1
        if lane.idle and self._lanes.get(receiver) is lane:
            del self._lanes[receiver]
        # The scheduler scans every lane: wake it only when it has something to do (a retry to time, a lane
        # waiting for a slot, the stop), not after every delivery.
        if lane.queue or saturated or self._stopping:
            self._wake.set()

    async def _attempt(self, job: Job) -> Job | None:
        """Send once. Return the job to retry, or None when it is finished (delivered or buried)."""
        members = self._merges.pop(job.id, ())
        released, silenced = job, ""
        if job.id in self._released:
            self._released.discard(job.id)
            job, members, silenced = await self._without_silenced(job, members)
        if members and not await self._store.merge(job, members):
            log.warning("a batch of %d notifications to %s is no longer this replica's (its claim lapsed): another "
                        "replica sends it", len(members), job.receiver)
            return None
        notification = job.notification
        if silenced and not notification.alerts:
            log.info("a batch to %s is not sent: %s", notification.receiver, silenced)
            await self._store.finish(job)  # nothing was sent, so no firing is remembered as delivered
            self._report(Outcome(receiver=notification.receiver, channel=notification.channel, ok=True,
                                 silenced=silenced, notification_key=notification.key),
                         attrs.evolve(job, notification=released.notification))  # what was muted, for the history
            return None
        snapshot = self._snapshot()
        target = snapshot.targets.get(notification.receiver)
        channel = self._channels.get(notification.channel)
        attempts = job.attempts + 1
        if target is None or channel is None:
            why = snapshot.skipped.get(notification.receiver, "it is no longer configured")
            reason = (f"channel {notification.channel!r} is not installed" if channel is None
                      else f"receiver {notification.receiver} cannot send: {why}")
            await self._finish(job, attempts, error=reason)
            return None
        result = await send_once(channel, snapshot, target, notification, self._renderer)
        self._on_send(job, result.ok, "; ".join(result.warnings) if result.ok else result.error)
        destination = target.config.ref if target.config else target.receiver.ref
        if result.ok:
            self._retry_now(destination)
            self._on_attempt(notification.channel, notification.receiver, "ok", result.seconds)
            for warning in result.warnings:
                log.warning("delivered to %s with a warning: %s", notification.receiver, warning)
            await self._finish(job, attempts, warnings=result.warnings)
            return None
        error, transient = result.error, result.transient
        self._on_attempt(notification.channel, notification.receiver,
                         "transient" if transient else "permanent", result.seconds)
        age = time.time() - job.first_due
        if transient and not self._stopping and age < self._policy.deadline:
            delay = self._policy.delay(attempts, result.retry_after)
            if age + delay < self._policy.deadline:
                log.warning("delivery to %s failed (attempt %d), retrying in %.1fs: %s",
                            notification.receiver, attempts, delay, error)
                retry = attrs.evolve(job, attempts=attempts, not_before=time.time() + delay, last_error=error)
                await self._store.reschedule(retry)
                self._on_retry(job, retry)
                if self._store.shared:
                    # A shared store hands the retry to whichever process claims it when due (so the prompt retry
                    # after an outage below applies to this process's own lanes only).
                    return None
                if result.retry_after is None:
                    self._backing_off[retry.id] = destination
                    self._waiting.setdefault(destination, set()).add(notification.receiver)
                return retry  # this lane waits for it
            error = f"gave up after {attempts} attempts over {age:.0f}s: {error}"
        elif transient and self._stopping:
            # Shutting down: leave it pending in the store for the next start, without a verdict.
            await self._store.reschedule(attrs.evolve(job, attempts=attempts, last_error=error))
            return None
        await self._finish(job, attempts, error=error)
        return None

    async def _without_silenced(self, job: Job, members: tuple[str, ...]) -> tuple[Job, tuple[str, ...], str]:
        """A released batch less the alerts a Silence mutes now: when some are, a new job to put in place of the
        stored ones (its members, or the job itself), holding the rest (perhaps none); and why."""
        assert self._on_release is not None
        muted = await self._on_release(job)
        if not muted:
            return job, members, ""
        kept = tuple(a for a in job.notification.alerts if a.fingerprint not in muted)
        smaller = attrs.evolve(job, id=uuid.uuid4().hex, notification=attrs.evolve(job.notification, alerts=kept))
        self._on_merge(smaller.id, (job.id,))
        return smaller, members or (job.id,), "; ".join(dict.fromkeys(muted.values()))

    def _retry_now(self, destination: str) -> None:
        """`destination` just took a send: what waits out a backoff for it goes now (after an outage)."""
        receivers = self._waiting.pop(destination, None)
        if not receivers:
            return
        now, woken = time.time(), 0
        for receiver in receivers:
            lane = self._lanes.get(receiver)
            if lane is None:
                continue
            queue: deque[Job] = deque()
            for job in lane.queue:
                if self._backing_off.get(job.id) == destination and job.not_before > now:
                    del self._backing_off[job.id]
                    job = attrs.evolve(job, not_before=now)
                    woken += 1
                queue.append(job)
            lane.queue = queue
        if woken:
            log.info("%s took a delivery again: retrying the %d waiting for it now", destination, woken)
            self._wake.set()

    async def _finish(self, job: Job, attempts: int, *, error: str = "", warnings: tuple[str, ...] = ()) -> None:
        notification = job.notification
        if error:
            log.error("delivery to %s (%s) failed for good after %d attempt(s): %s",
                      notification.receiver, notification.channel, attempts, error)
            await self._store.bury(attrs.evolve(job, attempts=attempts, last_error=error), error)
        else:
            await self._store.finish(job)
        self._report(Outcome(receiver=notification.receiver, channel=notification.channel, ok=not error,
                             error=error, attempts=attempts, warnings=warnings,
                             notification_key=notification.key), job)
