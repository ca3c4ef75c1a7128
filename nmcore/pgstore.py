"""The shared Store: PostgreSQL, so any number of `nm run` replicas accept and deliver the same work.

- Accepting (`add`): one transaction per alert group, committed before the 200. It locks the lanes (one row per
  receiver) of its notifications in name order, leaves out the repeats (every alert last accepted for that
  receiver in the same status within the dedup window: an Alertmanager HA pair posting one group to two replicas
  is accepted once, by whichever commits first, a re-fire is news), stores the rest, and NOTIFYs the others.
- Claiming (`watch`): a replica locks lanes that have work `FOR UPDATE SKIP LOCKED` (replicas never wait for each
  other's lanes), walks each lane's head in acceptance order and claims (claimed_by, lease_until) what may go out
  now: at most `per_receiver` jobs claimed per receiver across all replicas, nothing behind a job waiting for its
  retry, and no alert while an earlier notification with that alert is claimed, so a firing is never delivered
  after its resolved. Accepting takes the lane lock too, so a lane's jobs become visible in acceptance order.
- A replica renews its leases while it holds claims. One that dies or loses the database stops renewing; `lease`
  seconds later another claims that work and sends it (at least once: what was in flight may arrive twice).
  A transient failure releases the claim with its retry time, and any replica retries it.
- Finishing deletes the job; finishes that arrive while one is being written share the next statement.

The database is reached through psycopg 3's async pool; LISTEN/NOTIFY wakes idle replicas at once, and polling
every `poll_every` seconds covers retries coming due, expired leases and a lost listener. Schema migrations are
numbered SQL files in nmcore/migrations/postgresql, applied at start under an advisory lock.
"""

import asyncio
import contextlib
import logging
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import anyio
import attrs

from nmcore import history
from nmcore.errors import StoreError, StoreNotFound, StoreUnavailable
from nmcore.history import HistoryEntry, HistoryQuery, Retention
from nmcore.store import DeadLetter, Job, dead_letter_from_row, job_from_row, notification_json

try:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict
    from psycopg_pool import AsyncConnectionPool
except ModuleNotFoundError as missing:  # an optional extra
    raise StoreError(f"the PostgreSQL store needs {missing.name}: pip install 'nmcore[postgresql]'") from None

log = logging.getLogger(__name__)

T = TypeVar("T")
Conn = psycopg.AsyncConnection[Any]
Cursor = psycopg.AsyncCursor[Any]

CHANNEL = "nmcore_work"
"""NOTIFY channel: new or released work that another replica may claim."""

MIGRATION_LOCK = 0x6E6D636F7265
"""pg_advisory_lock key held while migrations run ("nmcore" in ASCII)."""

PRUNE_LOCK = MIGRATION_LOCK + 1
"""pg_try_advisory_xact_lock key of the replica pruning the history now: the others skip that round."""

CONNECTION_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
    "tcp_user_timeout": "10000",
}
"""libpq settings unless the URL gives its own: a cut network fails within seconds, not TCP's many minutes."""

_JOB_COLUMNS = "id, receiver, created, attempts, not_before, last_error, notification::text, batch, due"
_DEAD_COLUMNS = "id, receiver, created, attempts, last_error, notification::text, reason, buried"

# Lock the lanes of `receivers` (sorted by the caller), creating missing ones. `WHERE false`: every row is locked,
# none rewritten. One statement locks them in order, so two transactions never wait for each other in a cycle.
_LOCK_LANES = ("INSERT INTO lanes (receiver) SELECT unnest(%s::text[]) ORDER BY 1 "
               "ON CONFLICT (receiver) DO UPDATE SET receiver = EXCLUDED.receiver WHERE false")

# Array parameters go in binary (%b): their text form escapes every element (a notification's JSON) in Python.
_INPUT = """
    input AS (
        SELECT * FROM unnest(%(ids)b::text[], %(receivers)b::text[], %(created)b::float8[], %(attempts)b::int[],
                             %(not_before)b::float8[], %(errors)b::text[], %(notifications)b::text[],
                             %(fingerprints)b::text[], %(batches)b::text[])
            WITH ORDINALITY AS t(id, receiver, created, attempts, not_before, last_error, notification,
                                 fingerprints, batch, position))"""
_INSERT_JOBS = """
    INSERT INTO jobs (id, receiver, created, attempts, not_before, last_error, notification, fingerprints, batch)
    SELECT id, receiver, created, attempts, not_before, last_error, notification::json,
           string_to_array(fingerprints, ' '), batch
    FROM {source} ORDER BY position
    RETURNING id"""
# A job is a repeat when each of its alerts was last accepted for its receiver in the same status within the window
# (nmcore.store.is_repeat); the others are stored, and their alerts' states remembered.
_ADD_DEDUPLICATED = ("WITH " + _INPUT + """,
    alerts AS (
        SELECT input.position, input.receiver, a.fingerprint, a.status
        FROM unnest(%(alert_positions)b::int[], %(alert_fingerprints)b::text[], %(alert_statuses)b::text[])
            AS a(position, fingerprint, status)
        JOIN input ON input.position = a.position),
    repeats AS (
        SELECT alerts.position FROM alerts
        LEFT JOIN last_states AS seen ON seen.receiver = alerts.receiver AND seen.fingerprint = alerts.fingerprint
            AND seen.status = alerts.status AND seen.accepted >= now() - %(window)s * interval '1 second'
        GROUP BY alerts.position HAVING bool_and(seen.receiver IS NOT NULL)),
    fresh AS (SELECT * FROM input WHERE position NOT IN (SELECT position FROM repeats)),
    remembered AS (
        INSERT INTO last_states AS seen (receiver, fingerprint, status, accepted)
        SELECT DISTINCT ON (receiver, fingerprint) receiver, fingerprint, status, now() FROM alerts
        WHERE position IN (SELECT position FROM fresh) ORDER BY receiver, fingerprint, position DESC
        ON CONFLICT (receiver, fingerprint) DO UPDATE SET status = EXCLUDED.status, accepted = EXCLUDED.accepted)
""" + _INSERT_JOBS.format(source="fresh"))
_ADD_ALL = "WITH " + _INPUT + _INSERT_JOBS.format(source="input")

# The lanes with work another replica does not hold, locked for this claim; and the head of each in order, leaving
# out the jobs waiting in a batch (a lane with only those gives one row of NULLs: it is locked all the same).
_CLAIMABLE_HEADS = """
WITH ready AS MATERIALIZED (
    SELECT receiver FROM lanes
    WHERE receiver IN (
        SELECT receiver FROM jobs WHERE claimed_by IS NULL AND (not_before <= %(now)s OR batch <> '' AND attempts = 0)
        UNION ALL
        SELECT receiver FROM jobs WHERE claimed_by <> %(me)s AND lease_until < now())
    ORDER BY random() LIMIT %(lanes)s
    FOR UPDATE SKIP LOCKED)
SELECT ready.receiver, head.seq, head.id, head.fingerprints, head.not_before, head.held
FROM ready LEFT JOIN LATERAL (
    SELECT seq, id, fingerprints, not_before,
           claimed_by IS NOT NULL AND (claimed_by = %(me)s OR lease_until >= now()) AS held
    FROM jobs WHERE jobs.receiver = ready.receiver AND NOT (batch <> '' AND attempts = 0)
    ORDER BY seq LIMIT %(window)s) AS head ON true"""
_CLAIMED = _JOB_COLUMNS.replace("::text", "")
"""The job columns as the claim's CTEs return them (already cast)."""
_UNCLAIMED = "(claimed_by IS NULL OR (claimed_by <> %(me)s AND lease_until < now()))"
_LEASE = "claimed_by = %(me)s, lease_until = now() + %(lease)s * interval '1 second'"
# The chosen heads, and the jobs waiting in a batch in the locked lanes (as they arrive: nmcore.batching), unless
# another live replica holds some of the batch already: that one takes the rest too.
_CLAIM = f"""
WITH heads AS (
    UPDATE jobs SET {_LEASE} WHERE id = ANY(%(ids)s) AND {_UNCLAIMED}
    RETURNING seq, {_JOB_COLUMNS}),
waiting AS (
    UPDATE jobs SET {_LEASE} WHERE id IN (
        SELECT id FROM jobs AS w
        WHERE receiver = ANY(%(lanes)s) AND batch <> '' AND attempts = 0 AND {_UNCLAIMED}
            AND NOT EXISTS (SELECT 1 FROM jobs AS o WHERE o.receiver = w.receiver AND o.batch = w.batch
                            AND o.attempts = 0 AND o.claimed_by <> %(me)s AND o.lease_until >= now())
        ORDER BY seq LIMIT %(room)s)
    RETURNING seq, {_JOB_COLUMNS})
SELECT {_CLAIMED} FROM (SELECT * FROM heads UNION ALL SELECT * FROM waiting) AS claimed ORDER BY seq"""
# A released batch takes its members' place (nmcore.batching), still claimed by this replica; run only once every
# member is found claimed by it (locked: no other replica can take one meanwhile).
_MERGE = """
WITH gone AS (DELETE FROM jobs WHERE id = ANY(%(members)s) AND claimed_by = %(me)s)
INSERT INTO jobs (id, receiver, created, attempts, not_before, last_error, notification, fingerprints, batch,
                  claimed_by, lease_until, due)
VALUES (%(id)s, %(receiver)s, %(created)s, 0, 0, '', %(notification)s::json, string_to_array(%(fingerprints)s, ' '),
        '', %(me)s, now() + %(lease)s * interval '1 second', %(due)s)"""

# Delivered: the jobs go, their firing alerts are owed a resolved by their receivers, their resolved ones no longer.
_FINISH = """
WITH done AS (DELETE FROM jobs WHERE id = ANY(%(ids)s)),
owed AS (INSERT INTO fired (fingerprint, receiver) SELECT * FROM unnest(%(firing_fps)s::text[],
         %(firing_receivers)s::text[]) ON CONFLICT DO NOTHING)
DELETE FROM fired WHERE (fingerprint, receiver) IN (
    SELECT * FROM unnest(%(resolved_fps)s::text[], %(resolved_receivers)s::text[]))"""

# A batch of entries in one statement: each gets its seq first (nextval, in the materialized CTE), so its alerts'
# rows can name it; the foreign key is checked at the end of the statement, once both inserts are done.
_INSERT_HISTORY = """
WITH input AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('history', 'seq')) AS seq, t.*
    FROM unnest(%(ids)b::text[], %(receivers)b::text[], %(channels)b::text[], %(tenants)b::text[],
                %(group_keys)b::text[], %(accepted)b::float8[], %(finished)b::float8[], %(outcomes)b::text[],
                %(errors)b::text[], %(details)b::text[])
        WITH ORDINALITY AS t(id, receiver, channel, tenant, group_key, accepted, finished, outcome, error, detail,
                             position)),
entries AS (
    INSERT INTO history (seq, id, receiver, channel, tenant, group_key, accepted, finished, outcome, error, detail)
    OVERRIDING SYSTEM VALUE
    SELECT seq, id, receiver, channel, tenant, group_key, accepted, finished, outcome, error, detail::json
    FROM input ORDER BY position)
INSERT INTO history_alerts (history_seq, fingerprint, alertname, status)
SELECT input.seq, a.fingerprint, a.alertname, a.status
FROM unnest(%(positions)b::int[], %(fingerprints)b::text[], %(alertnames)b::text[], %(statuses)b::text[])
    AS a(position, fingerprint, alertname, status)
JOIN input ON input.position = a.position"""

# One replica prunes at a time: the others find the lock taken and delete nothing this round. By age, and beyond `keep`
# entries (the newest `keep` by finish time are kept, whichever replica wrote them): both on the index on finished.
_PRUNE_HISTORY = """
WITH gone AS (
    DELETE FROM history WHERE (SELECT pg_try_advisory_xact_lock(%(lock)s))
        AND ((%(by_age)s AND finished < %(before)s)
             OR (%(keep)s::bigint IS NOT NULL
                 AND finished <= (SELECT finished FROM history ORDER BY finished DESC OFFSET %(keep)s::bigint
                                  LIMIT 1)))
    RETURNING 1)
SELECT count(*) FROM gone"""


def history_sql(query: HistoryQuery) -> tuple[str, list[Any]]:
    """The SELECT for `query`: every filter is served by an index (tests/test_pgstore.py checks the plans)."""
    return history.history_sql(
        query, "%s", lambda column: f"h.seq IN (SELECT history_seq FROM history_alerts WHERE {column} = %s)",
        "h.detail::text")


def redacted(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return re.sub(r"(password\s*=\s*)\S+", r"\1***", url)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _connection_settings(url: str, application_name: str) -> dict[str, Any]:
    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreError(f"store URL {redacted(url)}: {exc}") from None
    settings: dict[str, Any] = {key: value for key, value in CONNECTION_DEFAULTS.items() if key not in given}
    settings.setdefault("application_name", given.get("application_name") or application_name)
    return settings


@attrs.frozen
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """The schema migrations shipped in the package, in order: files named NNNN_what.sql."""
    folder = resources.files("nmcore") / "migrations" / "postgresql"
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


_SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"""


async def migrate(conn: Conn, where: str) -> int:
    """Bring the schema up to date under an advisory lock (replicas starting together apply each migration once);
    return the schema version. A database newer than this nm is an error: its replicas are a newer release."""
    known = migrations()
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(_SCHEMA_VERSION_TABLE)
        cursor = await conn.execute("SELECT version FROM schema_version")
        applied = {row[0] for row in await cursor.fetchall()}
        newest = known[-1].version
        if applied and max(applied) > newest:
            raise StoreError(f"store {where}: the database schema is at version {max(applied)}, newer than this nm "
                             f"(it knows up to {newest}): run the nm release the other replicas run")
        for migration in known:
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute("INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                                   (migration.version, migration.name))
            log.info("store %s: schema migration %04d_%s applied", where, migration.version, migration.name)
        return newest
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _fingerprints(job: Job) -> str:
    return " ".join(sorted({a.fingerprint for a in job.notification.alerts}))


def walk_lane(head: Sequence[tuple[str, Sequence[str], float, bool]], per_receiver: int, now: float) -> list[str]:
    """The jobs of one lane that may be claimed now, from its head in acceptance order (id, fingerprints,
    not_before, held by a live claim): the in-flight limit counts every replica's claims; a job due later or
    sharing an alert with a claimed one stops the walk, as the head of an in-memory lane would."""
    busy: set[str] = set()
    chosen = []
    for held, (job_id, fingerprints, not_before, claimed) in enumerate(head):
        if held >= per_receiver:
            break
        if not claimed:
            if not_before > now or not busy.isdisjoint(fingerprints):
                break
            chosen.append(job_id)
        busy.update(fingerprints)
    return chosen


def default_replica_name() -> str:
    """host-pid-random: the pod's name in Kubernetes, and unique per process so a restarted pod never mistakes
    its predecessor's claims for its own."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@attrs.define
class _Finish:
    job: Job
    done: bool = False


def _fired_changes(jobs: Sequence[Job]) -> dict[str, list[str]]:
    """The (fingerprint, receiver) pairs that delivering `jobs` makes owed a resolved (firing delivered) and no longer
    owed one (resolved delivered), as parallel arrays in key order (so two replicas lock rows in the same order)."""
    firing = sorted({(a.fingerprint, j.receiver) for j in jobs for a in j.notification.alerts if a.status == "firing"})
    resolved = sorted({(a.fingerprint, j.receiver) for j in jobs for a in j.notification.alerts
                       if a.status != "firing"})
    return {"firing_fps": [f for f, _ in firing], "firing_receivers": [r for _, r in firing],
            "resolved_fps": [f for f, _ in resolved], "resolved_receivers": [r for _, r in resolved]}


class PostgresStore:
    """The Store protocol on a PostgreSQL database shared by every replica, history included."""

    shared = True

    def __init__(self, url: str, *, per_receiver: int = 4, lease: float = 30.0, poll_every: float = 1.0,
                 max_claimed: int = 512, max_waiting: int = 8192, pool_size: int = 8,
                 max_dead_letters: int = 100_000,
                 prune_every: float = 60.0, operation_timeout: float = 10.0, replica: str | None = None):
        self.url = url
        self.where = redacted(url)
        self.replica = replica or default_replica_name()
        self._per_receiver = per_receiver
        self._lease = lease
        self._poll_every = poll_every
        self._max_claimed = max_claimed
        self._max_waiting = max_waiting
        self._pool_size = pool_size
        self._max_dead_letters = max_dead_letters
        self._prune_every = prune_every
        self._timeout = operation_timeout
        self._settings = _connection_settings(url, f"nmcore {self.replica}"[:63])
        self._pool: AsyncConnectionPool | None = None
        self._claimed: set[str] = set()
        """The jobs this replica holds to send (at most `max_claimed`)."""
        self._waiting: set[str] = set()
        """The jobs it holds waiting in their batches (at most `max_waiting`): they take no send slot meanwhile."""
        self._wake = asyncio.Event()
        self._next_due = 0.0
        self._backlog = 0
        self._window = 0.0
        self._reachable = True
        self._unreachable_because = ""
        self._closing = False
        self._finishing = False
        self._finish_queue: list[_Finish] = []
        self._finished_round = asyncio.Event()

    # -- life cycle ---------------------------------------------------------------------------------------------

    async def open(self) -> list[Job]:
        """Connect, migrate the schema; nothing is resumed here: `watch` claims what is due, from any replica."""
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **self._settings)
        except psycopg.OperationalError as exc:
            raise StoreError(f"store {self.where}: cannot connect: {_first_line(exc)}") from None
        async with conn:
            try:
                version = await migrate(conn, self.where)
                self._backlog = await _count(conn, "jobs")
                dead = await _count(conn, "dead_letters")
            except psycopg.Error as exc:
                raise StoreError(f"store {self.where}: {_first_line(exc)}") from None
        self._pool = AsyncConnectionPool(
            self.url, min_size=2, max_size=self._pool_size, open=False, timeout=min(self._timeout, 3.0),
            reconnect_timeout=2.0, kwargs={"autocommit": True, **self._settings}, name="nmcore")
        await self._pool.open()
        log.info("store %s (schema version %d) as replica %s: %d deliveries pending across replicas, "
                 "%d dead letters", self.where, version, self.replica, self._backlog, dead)
        return []

    async def close(self) -> None:
        """Hand back this replica's claims, so the others take them over now rather than after the lease."""
        if self._pool is None:
            return
        self._closing = True
        with anyio.CancelScope(shield=True):
            try:
                with anyio.fail_after(5):
                    released = (await self._rows(self._release_all))[0][0]
                if released:
                    log.info("released %d claimed deliveries to the other replicas", released)
            except (StoreUnavailable, TimeoutError):
                log.warning("could not release this replica's claimed deliveries (database unreachable); other "
                            "replicas take them over when their lease ends")
            await self._pool.close()
        self._pool = None

    async def _release_all(self, conn: Conn) -> Cursor:
        await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
        return await conn.execute("WITH released AS (UPDATE jobs SET claimed_by = NULL, lease_until = NULL "
                                  "WHERE claimed_by = %s RETURNING 1) SELECT count(*) FROM released",
                                  (self.replica,))

    def backlog(self) -> int | None:
        return self._backlog

    # -- talking to the database ----------------------------------------------------------------------------------

    async def _transaction(self, operation: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `operation` in one transaction, pipelined: its statements go out together, in one round trip with
        the commit unless it reads results midway. A connection found broken (the server restarted) is retried
        once on a fresh one; past that, or after `operation_timeout`, StoreUnavailable."""
        return await self._run(operation, _same)

    async def _rows(self, operation: Callable[[Conn], Awaitable[Cursor | None]]) -> list[Any]:
        """Like `_transaction`, returning the rows of the cursor `operation` returns, read after the commit (so
        reading them costs no round trip of its own)."""
        return await self._run(operation, _rows_of)

    async def _run(self, operation: Callable[[Conn], Awaitable[Any]],
                   then: Callable[[Any], Awaitable[T]]) -> T:
        assert self._pool is not None, "the store is not open"
        for attempt in range(2):
            try:
                with anyio.fail_after(self._timeout):
                    async with self._pool.connection() as conn:
                        async with conn.pipeline(), conn.transaction():
                            result = await operation(conn)
                        done = await then(result)
                self._mark_reachable()
                return done
            except (psycopg.OperationalError, TimeoutError) as exc:
                if attempt == 1:
                    self._mark_unreachable(exc)
                    raise StoreUnavailable(f"store {self.where} unreachable: {_first_line(exc)}") from None
                with contextlib.suppress(psycopg.Error, TimeoutError), anyio.fail_after(self._timeout):
                    await self._pool.check()  # after a server restart every idle connection is broken: drop them
        raise AssertionError("unreachable")

    async def _persist(self, what: str, operation: Callable[[Conn], Awaitable[Any]]) -> None:
        """A job's fate, retried until the database takes it: dropping it would resend the job after the lease.
        When stopping, a few tries only; the job then stays claimed and another replica sends it again later."""
        delay = 0.1
        tries = 0
        while True:
            try:
                await self._transaction(operation)
                return
            except StoreUnavailable:
                tries += 1
                if self._closing and tries >= 3:
                    log.error("store %s: could not record %s while stopping; another replica will send it again "
                              "when the lease ends", self.where, what)
                    return
            await anyio.sleep(delay)
            delay = min(delay * 2, 2.0)

    def unavailable(self) -> str:
        """Why the database cannot be used now (as the last operation found it), or "" when it can: /readyz."""
        return "" if self._reachable else f"store {self.where} unreachable: {self._unreachable_because}"

    def _mark_unreachable(self, exc: BaseException) -> None:
        self._unreachable_because = _first_line(exc)
        if self._reachable:
            self._reachable = False
            log.warning("store %s unreachable (%s); alerts are answered 503 and deliveries wait until it is back",
                        self.where, _first_line(exc))

    def _mark_reachable(self) -> None:
        if not self._reachable:
            self._reachable = True
            log.info("store %s reachable again", self.where)

    # -- accepting ------------------------------------------------------------------------------------------------

    async def add(self, jobs: Sequence[Job], dedup_window: float) -> list[Job]:
        if not jobs:
            return []
        self._window = dedup_window
        alerts = [(position, a) for position, j in enumerate(jobs, start=1) for a in j.notification.alerts]
        parameters = {
            "ids": [j.id for j in jobs], "receivers": [j.receiver for j in jobs],
            "created": [j.created for j in jobs], "attempts": [j.attempts for j in jobs],
            "not_before": [j.not_before for j in jobs], "errors": [j.last_error for j in jobs],
            "notifications": [notification_json(j.notification) for j in jobs],
            "fingerprints": [_fingerprints(j) for j in jobs], "batches": [j.batch for j in jobs],
            "window": dedup_window,
            "alert_positions": [p for p, _ in alerts], "alert_fingerprints": [a.fingerprint for _, a in alerts],
            "alert_statuses": [a.status for _, a in alerts],
        }
        receivers = sorted({j.receiver for j in jobs})

        async def insert(conn: Conn) -> Cursor:
            await conn.execute(_LOCK_LANES, (receivers,))
            cursor = await conn.execute(_ADD_DEDUPLICATED if dedup_window > 0 else _ADD_ALL, parameters)
            await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
            return cursor

        rows = await self._rows(insert)
        stored = {row[0] for row in rows}
        self._backlog += len(stored)
        self._wake.set()
        return [j for j in jobs if j.id in stored]

    # -- history, redrive, resolved follows firing ----------------------------------------------------------------

    async def owed_resolved(self, fingerprints: Sequence[str]) -> dict[str, set[str]]:
        rows = await self._rows(lambda conn: conn.execute(
            "SELECT fingerprint, receiver FROM fired WHERE fingerprint = ANY(%s)", (list(fingerprints),)))
        owed: dict[str, set[str]] = {}
        for fingerprint, receiver in rows:
            owed.setdefault(fingerprint, set()).add(receiver)
        return owed

    async def record_history(self, entries: Sequence[HistoryEntry]) -> None:
        """Every entry of the batch, with its alerts, in one statement."""
        if not entries:
            return
        alerts = [(position, a) for position, e in enumerate(entries, start=1) for a in e.alerts]
        parameters = {
            "ids": [e.id for e in entries], "receivers": [e.receiver for e in entries],
            "channels": [e.channel for e in entries], "tenants": [e.tenant for e in entries],
            "group_keys": [e.group_key for e in entries], "accepted": [e.accepted for e in entries],
            "finished": [e.finished for e in entries], "outcomes": [e.outcome for e in entries],
            "errors": [e.error for e in entries], "details": [history.detail_json(e) for e in entries],
            "positions": [p for p, _ in alerts], "fingerprints": [a.fingerprint for _, a in alerts],
            "alertnames": [a.alertname for _, a in alerts], "statuses": [a.status for _, a in alerts],
        }

        async def insert(conn: Conn) -> None:
            # Binary parameters (%b): the text form of an array escapes every element (the detail JSON's many
            # quotes) in Python, which cost more CPU than the rest of a delivery.
            await conn.execute(_INSERT_HISTORY, parameters)

        await self._transaction(insert)

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        rows = await self._rows(lambda conn: conn.execute(*history_sql(query)))
        return [history.entry_from_row(row) for row in rows]

    async def prune_history(self, retention: Retention, now: float) -> int:
        """Delete what `retention` no longer keeps, unless another replica is pruning now (then 0)."""
        rows = await self._rows(lambda conn: conn.execute(_PRUNE_HISTORY, {
            "lock": PRUNE_LOCK, "by_age": bool(retention.max_age), "before": now - retention.max_age,
            "keep": retention.max_entries or None}))
        return int(rows[0][0])

    async def redrive(self, ids: Sequence[str] | None) -> list[str]:
        def on_own_connection() -> list[str]:
            with psycopg.connect(self.url, autocommit=True, **self._settings) as conn:
                return redrive(conn, ids)
        return await anyio.to_thread.run_sync(on_own_connection)

    # -- a job's fate ---------------------------------------------------------------------------------------------

    async def finish(self, job: Job) -> None:
        """Delete the delivered job and note what its receiver is owed a resolved for (`fired`), sharing the
        statement with every finish that arrives meanwhile."""
        item = _Finish(job)
        self._finish_queue.append(item)
        while not item.done:
            if self._finishing:
                await self._finished_round.wait()
                continue
            self._finishing = True
            batch, self._finish_queue = self._finish_queue, []
            jobs = [i.job for i in batch]
            parameters = {"ids": [j.id for j in jobs], **_fired_changes(jobs)}
            try:
                await self._persist(f"the delivery of {len(jobs)} job(s)", _statement(_FINISH, parameters))
            finally:
                for i in batch:
                    i.done = True
                    self._forget(i.job.id)
                self._backlog = max(0, self._backlog - len(batch))
                self._finishing = False
                ended, self._finished_round = self._finished_round, asyncio.Event()
                ended.set()
                self._wake.set()  # a lane slot is free

    async def merge(self, merged: Job, members: Sequence[str]) -> bool:
        """Swap a released batch for its members if this replica still holds every one of them; else leave them to
        the replica that took them over (their lease lapsed). Retried while the database is away, as `_persist`."""
        swapped = False

        async def swap(conn: Conn) -> None:
            nonlocal swapped
            swapped = False
            cursor = await conn.execute("SELECT id FROM jobs WHERE id = ANY(%s) AND claimed_by = %s FOR UPDATE",
                                        (list(members), self.replica))
            if len(await cursor.fetchall()) != len(members):
                return
            await conn.execute(_MERGE, {
                "members": list(members), "me": self.replica, "id": merged.id, "receiver": merged.receiver,
                "created": merged.created, "notification": notification_json(merged.notification),
                "fingerprints": _fingerprints(merged), "lease": self._lease, "due": merged.due})
            swapped = True

        await self._persist(f"the batch of {len(members)} deliveries to {merged.receiver}", swap)
        self._waiting.difference_update(members)
        if swapped:
            self._claimed.add(merged.id)
            self._backlog = max(0, self._backlog - len(members) + 1)
        return swapped

    async def reschedule(self, job: Job) -> None:
        """Release the claim with the retry time: whichever replica is free then retries it."""

        async def release(conn: Conn) -> None:
            await conn.execute(
                "UPDATE jobs SET attempts = %s, not_before = %s, last_error = %s, due = %s, claimed_by = NULL, "
                "lease_until = NULL WHERE id = %s AND claimed_by = %s",
                (job.attempts, job.not_before, job.last_error, job.due, job.id, self.replica))
            if job.not_before <= time.time():
                await conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))

        await self._persist(f"the retry of delivery {job.id} to {job.receiver}", release)
        self._forget(job.id)
        self._next_due = min(self._next_due or job.not_before, job.not_before)
        self._wake.set()

    async def bury(self, job: Job, reason: str) -> None:
        async def move(conn: Conn) -> None:
            await conn.execute(
                "WITH moved AS (DELETE FROM jobs WHERE id = %(id)s AND claimed_by = %(me)s "
                "RETURNING id, receiver, created, notification, fingerprints) "
                "INSERT INTO dead_letters (id, receiver, created, attempts, last_error, notification, fingerprints, "
                "reason, buried) SELECT id, receiver, created, %(attempts)s, %(error)s, notification, fingerprints, "
                "%(reason)s, %(buried)s FROM moved ON CONFLICT (id) DO UPDATE SET attempts = EXCLUDED.attempts, "
                "last_error = EXCLUDED.last_error, reason = EXCLUDED.reason, buried = EXCLUDED.buried",
                {"id": job.id, "me": self.replica, "attempts": job.attempts, "error": job.last_error,
                 "reason": reason, "buried": time.time()})
            await conn.execute("DELETE FROM dead_letters WHERE seq <= (SELECT max(seq) FROM dead_letters) - %s",
                               (self._max_dead_letters,))

        await self._persist(f"the dead letter of delivery {job.id} to {job.receiver}", move)
        self._forget(job.id)
        self._backlog = max(0, self._backlog - 1)
        self._wake.set()

    async def dead_letters(self) -> list[DeadLetter]:
        async def read(conn: Conn) -> list[Any]:
            cursor = await conn.execute(f"SELECT {_DEAD_COLUMNS} FROM dead_letters ORDER BY seq")
            return await cursor.fetchall()

        return [dead_letter_from_row(row, f"store {self.where}") for row in await self._transaction(read)]

    # -- claiming -------------------------------------------------------------------------------------------------

    async def watch(self, enqueue: Callable[[Sequence[Job]], None]) -> None:
        """Until cancelled: claim work for this replica and pass it to `enqueue`; renew the leases held; listen
        for other replicas' new work; keep the backlog estimate and the dedup states trimmed."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self._listen)
            tasks.start_soon(self._renew)
            tasks.start_soon(self._maintain)
            await self._claim_forever(enqueue)

    async def _claim_forever(self, enqueue: Callable[[Sequence[Job]], None]) -> None:
        failures = 0
        while True:
            room = max(0, self._max_claimed - len(self._claimed))
            waiting_room = max(0, self._max_waiting - len(self._waiting))
            now = time.time()
            if room or waiting_room:
                self._wake.clear()
                try:
                    jobs, more = await self._claim(room, waiting_room)
                except StoreUnavailable:
                    failures += 1
                    await anyio.sleep(min(0.1 * 2 ** failures, 2.0))
                    continue
                failures = 0
                if jobs:
                    enqueue(jobs)
                if more:
                    continue
            else:
                self._wake.clear()
            if self._next_due and self._next_due <= now:
                self._next_due = 0.0
            timeout = self._poll_every
            if self._next_due:
                timeout = min(timeout, max(0.0, self._next_due - now))
            with anyio.move_on_after(timeout):
                await self._wake.wait()

    async def _claim(self, room: int, waiting_room: int) -> tuple[list[Job], bool]:
        """One claim transaction: lock up to 64 lanes with work, claim what each may send now (at most `room`) and
        the jobs waiting in batches (at most `waiting_room`). Also say whether more lanes may be waiting (every lane
        asked for came back)."""
        lanes = 64
        now = time.time()

        locked = 0

        async def claim(conn: Conn) -> Cursor | None:
            nonlocal locked
            cursor = await conn.execute(_CLAIMABLE_HEADS, {
                "now": now, "me": self.replica, "lanes": lanes, "window": 2 * self._per_receiver + 1})
            heads: dict[str, list[tuple[int, str, list[str], float, bool]]] = {}
            for receiver, seq, job_id, fingerprints, not_before, held in await cursor.fetchall():
                lane = heads.setdefault(receiver, [])
                if seq is not None:
                    lane.append((seq, job_id, fingerprints, not_before, held))
            locked = len(heads)
            order = list(heads)
            random.shuffle(order)  # no lane always first when room runs out
            chosen: list[str] = []
            for receiver in order:
                head = sorted(heads[receiver])
                chosen += walk_lane([h[1:] for h in head], self._per_receiver, now)[:room - len(chosen)]
                if len(chosen) >= room:
                    break
            if not heads:
                return None
            return await conn.execute(_CLAIM, {"me": self.replica, "lease": self._lease, "ids": chosen,
                                               "lanes": list(heads), "room": waiting_room})

        rows = await self._rows(claim)
        jobs = [job_from_row(row, f"store {self.where}") for row in rows]
        for job in jobs:
            (self._waiting if job.waiting else self._claimed).add(job.id)
        return jobs, bool(jobs) and locked >= lanes

    def _forget(self, job_id: str) -> None:
        """A job of this replica's is finished or handed back (a batch's only member is sent as it is)."""
        self._claimed.discard(job_id)
        self._waiting.discard(job_id)

    async def _renew(self) -> None:
        """Every third of the lease, extend the leases of everything this replica holds."""
        while True:
            await anyio.sleep(self._lease / 3)
            if not self._claimed and not self._waiting:
                continue
            with contextlib.suppress(StoreUnavailable):  # said once by _mark_unreachable; the leases may lapse
                await self._transaction(_statement(
                    "UPDATE jobs SET lease_until = now() + %s * interval '1 second' WHERE claimed_by = %s",
                    (self._lease, self.replica)))

    async def _listen(self) -> None:
        """Wake the claim loop on other replicas' NOTIFY; reconnect when the connection is lost (polling covers
        the gap), and claim once on every reconnection for what was missed."""
        delay = 0.2
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, **self._settings)
                async with conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    delay = 0.2
                    self._wake.set()
                    async for _ in conn.notifies():
                        self._wake.set()
            except psycopg.OperationalError as exc:
                log.debug("store %s: listener lost (%s); reconnecting in %.1fs", self.where, exc, delay)
            await anyio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _maintain(self) -> None:
        """Every poll: the backlog estimate (for 503 on overload); every `prune_every`: expired dedup states."""
        pruned = time.monotonic()
        while True:
            await anyio.sleep(self._poll_every)
            with contextlib.suppress(StoreUnavailable):
                self._backlog = await self._transaction(lambda conn: _count(conn, "jobs"))
                if self._window > 0 and time.monotonic() - pruned > self._prune_every:
                    pruned = time.monotonic()
                    await self._transaction(_statement(
                        "DELETE FROM last_states WHERE accepted < now() - %s * interval '1 second'",
                        (self._window,)))


async def _same(result: T) -> T:
    return result


async def _rows_of(cursor: Cursor | None) -> list[Any]:
    return [] if cursor is None else await cursor.fetchall()


def _statement(query: str, parameters: Sequence[Any] | Mapping[str, Any]) -> Callable[[Conn], Awaitable[None]]:
    """An operation for `_transaction` that runs one statement and reads nothing back."""

    async def run(conn: Conn) -> None:
        await conn.execute(query, parameters)

    return run


async def _count(conn: Conn, table: str) -> int:
    cursor = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# -- `nm deliveries`: the same listing and redrive as for a SQLite state file, on a synchronous connection ----------


@contextlib.contextmanager
def connect(url: str) -> Iterator["psycopg.Connection[Any]"]:
    """A connection for `nm deliveries`, to a database that nm run has set up (nothing is created here)."""
    where = redacted(url)
    try:
        conn = psycopg.connect(url, autocommit=True, **_connection_settings(url, "nmcore deliveries"))
    except psycopg.OperationalError as exc:
        raise StoreError(f"store {where}: cannot connect: {_first_line(exc)}") from None
    with conn:
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not row or not row[0]:
            raise StoreNotFound(f"store {where}: no nmcore schema in this database: nm run has not used it")
        yield conn


def count_by_receiver(conn: "psycopg.Connection[Any]") -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        "SELECT receiver, sum(pending)::int, sum(dead)::int FROM (SELECT receiver, 1 AS pending, 0 AS dead FROM jobs "
        "UNION ALL SELECT receiver, 0, 1 FROM dead_letters) AS counted GROUP BY receiver ORDER BY receiver")
    return {receiver: (pending, dead) for receiver, pending, dead in rows}


def pending_jobs(conn: "psycopg.Connection[Any]", where: str, limit: int | None = None) -> list[Job]:
    rows = conn.execute(f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY seq LIMIT %s", (limit,)).fetchall()
    return [job_from_row(row, f"store {where}") for row in rows]


def dead_letters(conn: "psycopg.Connection[Any]", where: str, limit: int | None = None) -> list[DeadLetter]:
    rows = conn.execute(f"SELECT {_DEAD_COLUMNS} FROM dead_letters ORDER BY seq LIMIT %s", (limit,)).fetchall()
    return [dead_letter_from_row(row, f"store {where}") for row in rows]


def query_history(conn: "psycopg.Connection[Any]", query: HistoryQuery) -> list[HistoryEntry]:
    return [history.entry_from_row(row) for row in conn.execute(*history_sql(query))]


def redrive(conn: "psycopg.Connection[Any]", ids: Sequence[str] | None) -> list[str]:
    """Move dead letters (all, or those with `ids`) back to pending as new work, at the end of their receivers'
    lanes; running replicas are notified and claim them at once."""
    chosen = "TRUE" if ids is None else "id = ANY(%(ids)s)"
    with conn.transaction():
        receivers = [r for (r,) in conn.execute(
            f"SELECT DISTINCT receiver FROM dead_letters WHERE {chosen} ORDER BY 1", {"ids": list(ids or [])})]
        conn.execute(_LOCK_LANES, (receivers,))
        moved = conn.execute(
            f"WITH moved AS (DELETE FROM dead_letters WHERE {chosen} RETURNING *) "
            "INSERT INTO jobs (id, receiver, created, attempts, not_before, last_error, notification, fingerprints) "
            "SELECT id, receiver, %(now)s, 0, 0, last_error, notification, fingerprints FROM moved ORDER BY seq "
            "RETURNING id", {"ids": list(ids or []), "now": time.time()}).fetchall()
        conn.execute("SELECT pg_notify(%s, '')", (CHANNEL,))
    return [job_id for (job_id,) in moved]
