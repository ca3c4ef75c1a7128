"""Which store `nm run` and `nm deliveries` use: `--store URL` (postgresql://…, sqlite:///path/file.db), the
`--state-dir DIR` shorthand for SQLite, or nothing kept (`:memory:`); and a read/redrive view of it for
`nm deliveries`, whichever it is."""

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from nmcore import sqlitestore
from nmcore.errors import StoreError, StoreNotFound
from nmcore.history import HistoryEntry, HistoryQuery
from nmcore.sqlitestore import STATE_FILE, SQLiteStore
from nmcore.store import DeadLetter, Job, MemoryStore, Store

MEMORY = ":memory:"


@attrs.frozen
class StoreLocation:
    """`kind` is memory, sqlite (with `path`) or postgresql (with `url`)."""

    kind: str
    path: Path | None = None
    url: str = ""

    @property
    def where(self) -> str:
        """How logs and listings name it (no password)."""
        if self.kind == "postgresql":
            from nmcore.pgstore import redacted

            return redacted(self.url)
        return str(self.path) if self.path else MEMORY


def parse_store_url(url: str) -> StoreLocation:
    """postgresql://… or postgres://… (libpq's URL: user, password, host, port, database, ?sslmode=… and so on);
    sqlite:// followed by the database file's path (sqlite:///var/lib/nmcore/nmcore.db); memory: or :memory:."""
    scheme, sep, rest = url.partition("://")
    if url in (MEMORY, "memory:"):
        return StoreLocation("memory")
    if sep and scheme in ("postgresql", "postgres"):
        return StoreLocation("postgresql", url=url)
    if sep and scheme == "sqlite" and rest:
        return StoreLocation("sqlite", path=Path(rest))
    shown = url.split("@")[-1] if "@" in url else url  # never echo a password back
    raise StoreError(f"--store {shown!r}: expected postgresql://USER@HOST/DATABASE, sqlite:///PATH/TO/FILE.db "
                     "or :memory:")


def state_dir_location(state_dir: str) -> StoreLocation:
    if state_dir == MEMORY:
        return StoreLocation("memory")
    return StoreLocation("sqlite", path=Path(state_dir) / STATE_FILE)


def open_store(location: StoreLocation, **postgres_options: Any) -> Store:
    """The Store for `nm run`; `postgres_options` go to PostgresStore (per_receiver, lease, pool_size)."""
    if location.kind == "postgresql":
        from nmcore.pgstore import PostgresStore

        return PostgresStore(location.url, **postgres_options)
    if location.kind == "sqlite":
        assert location.path is not None
        return SQLiteStore(location.path)
    return MemoryStore()


class Inspection(Protocol):
    """What `nm deliveries` reads and changes in a store that `nm run` uses (or used)."""

    def counts(self) -> dict[str, tuple[int, int]]:
        """Pending and dead deliveries per receiver."""
        ...

    def pending(self, limit: int | None) -> list[Job]: ...

    def dead(self, limit: int | None) -> list[DeadLetter]: ...

    def redrive(self, ids: Sequence[str] | None) -> list[str]:
        """Move dead letters (all, or those with `ids`) back to pending; return the ids moved."""
        ...

    def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        """Finished deliveries matching `query`, newest first (`nm history`)."""
        ...


@attrs.define
class _SQLiteInspection:
    conn: Any
    path: Path

    def counts(self) -> dict[str, tuple[int, int]]:
        return sqlitestore.count_by_receiver(self.conn)

    def pending(self, limit: int | None) -> list[Job]:
        return sqlitestore.pending_jobs(self.conn, self.path, limit)

    def dead(self, limit: int | None) -> list[DeadLetter]:
        return sqlitestore.dead_letters(self.conn, self.path, limit)

    def redrive(self, ids: Sequence[str] | None) -> list[str]:
        return sqlitestore.redrive(self.conn, ids)

    def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        return sqlitestore.query_history(self.conn, query)


@attrs.define
class _PostgresInspection:
    conn: Any
    where: str

    def counts(self) -> dict[str, tuple[int, int]]:
        from nmcore.pgstore import count_by_receiver

        return count_by_receiver(self.conn)

    def pending(self, limit: int | None) -> list[Job]:
        from nmcore.pgstore import pending_jobs

        return pending_jobs(self.conn, self.where, limit)

    def dead(self, limit: int | None) -> list[DeadLetter]:
        from nmcore.pgstore import dead_letters

        return dead_letters(self.conn, self.where, limit)

    def redrive(self, ids: Sequence[str] | None) -> list[str]:
        from nmcore.pgstore import redrive

        return redrive(self.conn, ids)

    def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        from nmcore.pgstore import query_history

        return query_history(self.conn, query)


@contextlib.contextmanager
def inspect(location: StoreLocation) -> Iterator[Inspection]:
    """Open the store for `nm deliveries` and `nm history`: StoreError when it cannot be read, StoreNotFound when
    nm run never used it."""
    if location.kind == "memory":
        raise StoreError("an in-memory state is only visible to its own process")
    if location.kind == "postgresql":
        from nmcore import pgstore

        with pgstore.connect(location.url) as pg:
            yield _PostgresInspection(pg, location.where)
        return
    assert location.path is not None
    sqlitestore.check_not_orphaned(location.path)
    if not location.path.is_file():
        raise StoreNotFound(f"no state file {location.path}: nm run has not used this state dir")
    conn = sqlitestore.connect(location.path)
    try:
        yield _SQLiteInspection(conn, location.path)
    finally:
        conn.close()
