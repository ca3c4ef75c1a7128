"""Who got it, after the fact: one history entry per notification sent (or given up on) to one receiver.

An entry holds the notification's alerts (fingerprint, name, status), every attempt (time, the channel's
answer, already scrubbed of secrets by `nmcore.attempt`), the receivers that routing withheld the group from
and why, and the final outcome. Entries are buffered in memory and written in batches by a background task
(`HistoryRecorder`), never on the delivery path; the store keeps them (`HistoryStore`) and prunes them by age
and by count.
"""

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
import attrs
import orjson

from nmcore.alerts import Notification

if TYPE_CHECKING:
    from nmcore.store import Job

log = logging.getLogger(__name__)

Outcome = Literal["delivered", "dead", "silenced"]
"""silenced: a batch ended unsent, every alert of it muted by a Silence that began while it waited."""
OUTCOMES: tuple[str, ...] = ("delivered", "dead", "silenced")


@attrs.frozen(kw_only=True)
class AttemptRecord:
    at: float
    ok: bool
    answer: str = ""
    """The channel's answer when it failed (scrubbed), or its warnings when it delivered."""


@attrs.frozen(kw_only=True)
class AlertRecord:
    fingerprint: str
    alertname: str
    status: str


@attrs.frozen(kw_only=True)
class Withheld:
    receiver: str
    reason: str


@attrs.frozen(kw_only=True)
class HistoryEntry:
    id: str
    """The delivery (job) id: `nm deliveries redrive` takes it."""
    receiver: str
    channel: str
    tenant: str
    group_key: str
    accepted: float
    finished: float
    outcome: Outcome
    error: str = ""
    alerts: tuple[AlertRecord, ...] = ()
    attempts: tuple[AttemptRecord, ...] = ()
    withheld: tuple[Withheld, ...] = ()

    def to_json(self) -> dict:
        return attrs.asdict(self)


def alert_records(notification: Notification) -> tuple[AlertRecord, ...]:
    return tuple(AlertRecord(fingerprint=a.fingerprint, alertname=a.labels.get("alertname", ""), status=a.status)
                 for a in notification.alerts)


@attrs.frozen(kw_only=True)
class HistoryQuery:
    """Filters, all optional and combined with AND; newest first, at most `limit`."""

    receiver: str | None = None
    tenant: str | None = None
    alertname: str | None = None
    fingerprint: str | None = None
    since: float | None = None
    until: float | None = None
    outcome: str | None = None
    limit: int = 100

    def matches(self, entry: HistoryEntry) -> bool:
        return ((self.receiver is None or entry.receiver == self.receiver)
                and (self.tenant is None or entry.tenant == self.tenant)
                and (self.outcome is None or entry.outcome == self.outcome)
                and (self.since is None or entry.finished >= self.since)
                and (self.until is None or entry.finished < self.until)
                and (self.alertname is None or any(a.alertname == self.alertname for a in entry.alerts))
                and (self.fingerprint is None or any(a.fingerprint == self.fingerprint for a in entry.alerts)))


def parse_time(text: str, now: float | None = None) -> float:
    """A point in time: Unix seconds, ISO 8601 (`2026-12-02T03:00:00Z`), or an age ago (`90s`, `30m`, `2h`, `7d`)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    try:
        if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
            return (now if now is not None else time.time()) - float(text[:-1]) * units[text[-1]]
        if text.replace(".", "", 1).isdigit():
            return float(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"{text!r} is not a time: give Unix seconds, ISO 8601 or an age like 30m, 2h, 7d") from None


def query_from(params: Mapping[str, str]) -> HistoryQuery:
    """A HistoryQuery from filters by name (the API query string, the CLI flags); ValueError names the bad one."""
    unknown = set(params) - QUERY_FIELDS
    if unknown:
        raise ValueError(f"unknown filter {sorted(unknown)[0]!r}; filters are {', '.join(sorted(QUERY_FIELDS))}")
    outcome = params.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, got {outcome!r}")
    limit = params.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= 10_000:
        raise ValueError(f"limit must be a whole number from 1 to 10000, got {limit!r}")
    times = {k: parse_time(params[k]) for k in ("since", "until") if params.get(k)}
    return HistoryQuery(receiver=params.get("receiver"), tenant=params.get("tenant"),
                        alertname=params.get("alertname"), fingerprint=params.get("fingerprint"),
                        outcome=outcome, limit=int(limit), **times)


QUERY_FIELDS = frozenset(a.name for a in attrs.fields(HistoryQuery))

HISTORY_COLUMNS = "h.id, h.receiver, h.channel, h.tenant, h.group_key, h.accepted, h.finished, h.outcome, h.error"
"""What a store's history query selects, then the entry's detail JSON (`entry_from_row` reads them back)."""


def history_sql(query: HistoryQuery, mark: str, alert_filter: Callable[[str], str], detail: str) -> tuple[
        str, list[Any]]:
    """The SELECT for `query` on a store's `history` table (aliased h), in a store's dialect: `mark` is its
    parameter placeholder, `alert_filter(column)` its condition on an alert's fingerprint or alertname, `detail`
    how it reads the detail JSON as text. Every filter has an index in both stores (tests check the plans)."""
    where, params = [], []
    for column in ("receiver", "tenant", "outcome"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"h.{column} = {mark}")
            params.append(value)
    if query.since is not None:
        where.append(f"h.finished >= {mark}")
        params.append(query.since)
    if query.until is not None:
        where.append(f"h.finished < {mark}")
        params.append(query.until)
    for column in ("fingerprint", "alertname"):
        value = getattr(query, column)
        if value is not None:
            where.append(alert_filter(column))
            params.append(value)
    sql = (f"SELECT {HISTORY_COLUMNS}, {detail} FROM history h" + (" WHERE " + " AND ".join(where) if where else "")
           + f" ORDER BY h.finished DESC LIMIT {mark}")
    return sql, [*params, query.limit]


def detail_json(entry: HistoryEntry) -> str:
    """The parts of an entry a store keeps as one JSON document: alerts, attempts, withheld receivers."""
    return orjson.dumps({"alerts": [attrs.asdict(a) for a in entry.alerts],
                         "attempts": [attrs.asdict(a) for a in entry.attempts],
                         "withheld": [attrs.asdict(w) for w in entry.withheld]}).decode()


def entry_from_row(row: Sequence[Any]) -> HistoryEntry:
    """A stored entry: the HISTORY_COLUMNS and the detail JSON, read back."""
    job_id, receiver, channel, tenant, group_key, accepted, finished, outcome, error, detail = row
    parsed = orjson.loads(detail)
    return HistoryEntry(
        id=job_id, receiver=receiver, channel=channel, tenant=tenant, group_key=group_key, accepted=accepted,
        finished=finished, outcome=outcome, error=error,
        alerts=tuple(AlertRecord(**a) for a in parsed["alerts"]),
        attempts=tuple(AttemptRecord(**a) for a in parsed["attempts"]),
        withheld=tuple(Withheld(**w) for w in parsed["withheld"]))


@attrs.frozen(kw_only=True)
class Retention:
    max_age: float = 30 * 24 * 3600.0
    """Seconds an entry is kept; 0: no age limit."""
    max_entries: int = 1_000_000
    """Entries kept at most (the oldest go first); 0: no count limit."""
    prune_every: float = 300.0


class HistoryStore(Protocol):
    """The part of a Store that keeps history (SQLite, PostgreSQL, and memory)."""

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None: ...

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]: ...

    async def prune_history(self, retention: Retention, now: float) -> int:
        """Delete what `retention` no longer keeps; return how many entries went."""
        ...


class MemoryHistory:
    """History in a bounded deque, for the in-memory store."""

    def __init__(self) -> None:
        self._entries: deque[HistoryEntry] = deque()

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None:
        self._entries.extend(entries)

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        found = [e for e in reversed(self._entries) if query.matches(e)]
        return sorted(found, key=lambda e: e.finished, reverse=True)[:query.limit]

    async def prune_history(self, retention: Retention, now: float) -> int:
        before = len(self._entries)
        if retention.max_age:
            self._entries = deque(e for e in self._entries if e.finished >= now - retention.max_age)
        while retention.max_entries and len(self._entries) > retention.max_entries:
            self._entries.popleft()
        return before - len(self._entries)


class HistoryRecorder:
    """Collects attempts and outcomes from the dispatcher (synchronous, O(1) per call) and writes finished
    entries in batches from its own task, so a slow history write never delays a delivery.

    Attempts of a delivery still pending at a stop are kept only in memory: after a restart its entry lists
    the attempts made since, with the total count in `attempts` of the last one's answer.
    """

    def __init__(self, store: HistoryStore, *, retention: Retention = Retention(), flush_every: float = 0.5,
                 batch: int = 1000):
        self._store = store
        self._retention = retention
        self._flush_every = flush_every
        self._batch = batch
        self._attempts: dict[str, list[AttemptRecord]] = {}
        self._withheld: dict[str, tuple[Withheld, ...]] = {}
        self._buffer: list[HistoryEntry] = []
        self._wake = anyio.Event()
        self.publish: Callable[[Sequence[HistoryEntry]], Awaitable[None]] | None = None
        """Where every batch also goes (the history webhook), after it is stored; its failures are logged."""

    def withheld(self, job_ids: Sequence[str], withheld: tuple[Withheld, ...]) -> None:
        if withheld:
            for job_id in job_ids:
                self._withheld[job_id] = withheld

    def merged(self, job_id: str, members: Sequence[str]) -> None:
        """A released batch's job (nmcore.batching) takes over what routing withheld its members from, once each."""
        withheld = [w for member in members for w in self._withheld.pop(member, ())]
        if withheld:
            self._withheld[job_id] = tuple(dict.fromkeys(withheld))

    def withheld_alerts(self, job_id: str, withheld: Withheld) -> None:
        """Some alerts of the delivery were left out of it (muted after their batch wait): said beside the rest."""
        self._withheld[job_id] = (*self._withheld.get(job_id, ()), withheld)

    def attempt(self, job_id: str, ok: bool, answer: str) -> None:
        self._attempts.setdefault(job_id, []).append(AttemptRecord(at=time.time(), ok=ok, answer=answer))

    def attempt_of(self, job: "Job", ok: bool, answer: str) -> None:
        self.attempt(job.id, ok, answer)

    def finished(self, job_id: str, notification: Notification, accepted: float, outcome: Outcome,
                 error: str) -> None:
        self._buffer.append(HistoryEntry(
            id=job_id, receiver=notification.receiver, channel=notification.channel, tenant=notification.tenant,
            group_key=notification.group_key, accepted=accepted, finished=time.time(),
            outcome=outcome, error=error, alerts=alert_records(notification),
            attempts=tuple(self._attempts.pop(job_id, ())), withheld=self._withheld.pop(job_id, ())))
        if len(self._buffer) >= self._batch:
            self._wake.set()

    async def flush(self) -> None:
        """Write what is buffered now (also called at stop)."""
        batch, self._buffer = self._buffer, []
        if batch:
            try:
                await self._store.record_history(batch)
            except Exception:  # history is an account, not the work: never stop delivering for it
                log.exception("%d history entries could not be written", len(batch))
            if self.publish is not None:
                try:
                    await self.publish(batch)
                except Exception as exc:
                    log.warning("history webhook: %d entries not posted: %s", len(batch), exc)

    async def run(self) -> None:
        """Until cancelled: flush every `flush_every` seconds (sooner when a batch fills), prune now and then."""
        pruned = 0.0
        try:
            while True:
                with anyio.move_on_after(self._flush_every):
                    await self._wake.wait()
                self._wake = anyio.Event()
                await self.flush()
                now = time.time()
                if now - pruned >= self._retention.prune_every:
                    pruned = now
                    try:
                        gone = await self._store.prune_history(self._retention, now)
                    except Exception:
                        log.exception("history could not be pruned")
                    else:
                        if gone:
                            log.info("history: %d entries past retention pruned", gone)
        finally:
            with anyio.CancelScope(shield=True):
                await self.flush()
