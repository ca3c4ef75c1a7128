"""The PostgreSQL store against a real server: replicas are PostgresStore objects on one database, each claiming
through `watch` as `nm run` does. Migrations, dedup across replicas, the in-flight limit and per-alert order
across replicas, lease take-over, graceful hand-back, and the `nm` commands' errors."""

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
import psycopg
import pytest

from nmcore.alerts import Alert, Notification
from nmcore.history import HistoryQuery, Retention
from nmcore.pgstore import PRUNE_LOCK, PostgresStore, history_sql, migrations, walk_lane
from nmcore.store import Job, StoreError
from tests.support import free_port
from tests.test_history import entry as history_entry

pytestmark = pytest.mark.postgresql
REPO = Path(__file__).resolve().parents[1]
RECEIVER = "WebhookReceiver/kubesphere-monitoring-system/pager"


def job(alert: str, status: str = "firing", receiver: str = RECEIVER) -> Job:
    return Job(id=uuid.uuid4().hex, created=time.time(), notification=Notification(
        receiver=receiver, channel="webhook", tenant="",
        alerts=(Alert(status=status, labels={"alertname": alert}),)))  # type: ignore[arg-type]


def described(jobs: Sequence[Job]) -> list[tuple[str, str]]:
    return [(j.notification.alerts[0].labels["alertname"], j.notification.status) for j in jobs]


class Replica:
    """A store claiming through `watch`, as one `nm run` would; what it was handed is in `claimed`."""

    def __init__(self, url: str, **options: object):
        self.store = PostgresStore(url, poll_every=0.1, **options)  # type: ignore[arg-type]
        self.claimed: list[Job] = []
        self.scope = anyio.CancelScope()

    async def run(self) -> None:
        with self.scope:
            await self.store.watch(self.claimed.extend)

    def stop_claiming(self) -> None:
        """As if the process died: no more claims or renewals, nothing released."""
        self.scope.cancel()


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    with anyio.fail_after(timeout):
        while not condition():
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_replicas_starting_together_apply_each_migration_once_and_refuse_a_newer_schema(
        postgres_url: str) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    async with anyio.create_task_group() as tasks:
        for store in stores:
            tasks.start_soon(store.open)
    for store in stores:
        await store.close()
    with psycopg.connect(postgres_url) as conn:
        versions = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
        assert versions == [(m.version, m.name) for m in migrations()]
        conn.execute("INSERT INTO schema_version (version, name) VALUES (9999, 'from_the_future')")
    with pytest.raises(StoreError, match="the database schema is at version 9999, newer than this nm"):
        await PostgresStore(postgres_url).open()


@pytest.mark.anyio
async def test_the_same_notification_accepted_by_two_replicas_at_once_is_stored_once(postgres_url: str) -> None:
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    accepted: list[Job] = []

    async def post(store: PostgresStore, name: str) -> None:
        accepted.extend(await store.add([job(name)], dedup_window=300))

    names = [f"Alert{i}" for i in range(40)]
    async with anyio.create_task_group() as tasks:
        for name in names:  # an Alertmanager HA pair: each group to both replicas at the same moment
            tasks.start_soon(post, first, name)
            tasks.start_soon(post, second, name)
    assert sorted(n for n, _ in described(accepted)) == sorted(names)
    assert len(await first.add([job("Alert0", "resolved")], dedup_window=300)) == 1, "another status is news"
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (41,)
    await first.close()
    await second.close()


@pytest.mark.anyio
async def test_a_refire_is_news_on_any_replica_and_its_ha_copy_is_not(postgres_url: str) -> None:
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    async def post(store: PostgresStore, status: str, answers: list[list[Job]]) -> None:
        answers.append(await store.add([job("Flapping", status)], dedup_window=300))

    for status in ("firing", "resolved", "firing"):  # within the window: each is news to the receiver
        answers: list[list[Job]] = []
        async with anyio.create_task_group() as tasks:  # the HA pair: both replicas at once
            tasks.start_soon(post, first, status, answers)
            tasks.start_soon(post, second, status, answers)
        assert sorted(len(a) for a in answers) == [0, 1], status
    assert await first.add([job("Flapping", "firing")], dedup_window=300) == [], "firing again is no news"
    with psycopg.connect(postgres_url) as conn:
        stored = [s for (s,) in conn.execute("SELECT coalesce(notification->'alerts'->0->>'status', 'firing') FROM jobs ORDER BY seq")]
    assert stored == ["firing", "resolved", "firing"]
    await first.close()
    await second.close()


@pytest.mark.anyio
async def test_two_replicas_keep_the_in_flight_limit_and_never_send_a_resolved_before_its_firing(
        postgres_url: str) -> None:
    a, b = Replica(postgres_url, per_receiver=2), Replica(postgres_url, per_receiver=2)
    await a.store.open()
    await b.store.open()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(a.run)
        await a.store.add([job("X"), job("X", "resolved"), job("Y"), job("Z"), job("W", receiver="other")], 300)
        await wait_until(lambda: len(a.claimed) == 2, "the first replica's claims")
        assert sorted(described(a.claimed)) == [("W", "firing"), ("X", "firing")], \
            "the resolved X waits for the firing X; the rest waits behind it"
        tasks.start_soon(b.run)
        await anyio.sleep(0.5)  # several of b's polls
        assert b.claimed == [], "nothing may start while the firing X is in flight"

        await a.store.finish(next(j for j in a.claimed if described([j]) == [("X", "firing")]))
        await wait_until(lambda: len(a.claimed) + len(b.claimed) == 4, "the next two of the lane")
        later = [j for j in a.claimed + b.claimed if j.notification.receiver == RECEIVER][1:]
        assert sorted(described(later)) == [("X", "resolved"), ("Y", "firing")], "two in flight, in order"
        await anyio.sleep(0.5)
        assert len(a.claimed) + len(b.claimed) == 4, "the limit of 2 holds across both replicas"
        tasks.cancel_scope.cancel()
    await a.store.close()
    await b.store.close()


@pytest.mark.anyio
async def test_a_dead_replicas_claims_are_taken_over_when_its_lease_ends(postgres_url: str) -> None:
    dead, survivor = Replica(postgres_url, lease=1.0), Replica(postgres_url, lease=1.0)
    await dead.store.open()
    await survivor.store.open()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(dead.run)
        await dead.store.add([job(f"A{i}") for i in range(3)], 300)
        await wait_until(lambda: len(dead.claimed) == 3, "the claims of the replica about to die")
        dead.stop_claiming()
        tasks.start_soon(survivor.run)
        await wait_until(lambda: len(survivor.claimed) == 3, "the survivor to take the work over")
        assert {j.id for j in survivor.claimed} == {j.id for j in dead.claimed}
        with psycopg.connect(postgres_url) as conn:
            owners = {owner for (owner,) in conn.execute("SELECT claimed_by FROM jobs")}
        assert owners == {survivor.store.replica}
        tasks.cancel_scope.cancel()
    await survivor.store.close()


@pytest.mark.anyio
async def test_a_replica_stopping_hands_its_claims_back_at_once(postgres_url: str) -> None:
    leaving, staying = Replica(postgres_url, lease=600.0), Replica(postgres_url, lease=600.0)
    await leaving.store.open()
    await staying.store.open()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(leaving.run)
        await leaving.store.add([job("Kept")], 300)
        await wait_until(lambda: len(leaving.claimed) == 1, "the claim")
        leaving.stop_claiming()
        await leaving.store.close()  # a SIGTERM'd nm run: its unsent claims go back
        tasks.start_soon(staying.run)
        await wait_until(lambda: len(staying.claimed) == 1, "the other replica to claim it (long before 600 s)")
        tasks.cancel_scope.cancel()
    await staying.store.close()


def test_walking_a_lane_stops_at_a_retry_not_yet_due_and_at_an_alert_in_flight() -> None:
    now = 1000.0
    assert walk_lane([("a", ["x"], 0, False), ("b", ["y"], 0, False), ("c", ["z"], 0, False)], 2, now) == ["a", "b"]
    assert walk_lane([("a", ["x"], 0, True), ("b", ["x"], 0, False), ("c", ["z"], 0, False)], 4, now) == []
    assert walk_lane([("a", ["x"], now + 5, False), ("b", ["y"], 0, False)], 4, now) == []
    assert walk_lane([("a", ["x"], 0, True), ("b", ["y"], 0, True), ("c", ["z"], 0, False)], 2, now) == []


def run_nm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env=env)


def test_a_store_url_that_cannot_be_used_is_a_clear_error_that_never_shows_the_password(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    url = f"postgresql://nm:s3cr3t-pw@127.0.0.1:{free_port()}/alerts"
    result = run_nm("run", "--config-dir", str(tmp_path / "config"), "--store", url,
                    "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert "nm run: store postgresql://nm:***@127.0.0.1" in result.stderr and "cannot connect" in result.stderr
    assert "s3cr3t-pw" not in result.stderr + result.stdout

    bad = run_nm("deliveries", "--store", "mysql://root:s3cr3t-pw@db/x")
    assert bad.returncode == 2 and "expected postgresql://USER@HOST/DATABASE" in bad.stderr
    assert "s3cr3t-pw" not in bad.stderr


def test_nm_deliveries_on_a_database_nm_run_never_used_says_so(postgres_url: str) -> None:
    result = run_nm("deliveries", "--store", postgres_url)
    assert result.returncode == 1
    assert "no nmcore schema in this database: nm run has not used it" in result.stderr


@pytest.mark.anyio
async def test_history_from_two_replicas_is_kept_in_the_database_and_read_from_either(postgres_url: str) -> None:
    first, second = PostgresStore(postgres_url), PostgresStore(postgres_url)
    await first.open()
    await second.open()
    now = time.time()
    await first.record_history([history_entry(i, now - 100 + i) for i in range(0, 100, 2)])
    await second.record_history([history_entry(i, now - 100 + i) for i in range(1, 100, 2)])
    await first.close()
    restarted = PostgresStore(postgres_url)  # nothing of it lives in a process
    await restarted.open()
    try:
        assert [e.id for e in await restarted.history(HistoryQuery(limit=3))] == ["job99", "job98", "job97"]
        dead = await second.history(HistoryQuery(outcome="dead", limit=1000))
        assert [e.id for e in dead] == [f"job{i}" for i in range(90, -1, -10)]
        assert [e.id for e in await restarted.history(HistoryQuery(fingerprint=f"{7:016x}"))] == ["job7"]
        assert {e.id for e in await restarted.history(HistoryQuery(alertname="Alert5"))} == {"job5"}
        window = await restarted.history(HistoryQuery(since=now - 50, until=now - 40, tenant="user12"))
        assert [e.alerts for e in window] == [history_entry(52, 0).alerts]

        listed = run_nm("history", "--store", postgres_url, "--json", "--limit", "1000")
        assert listed.returncode == 0, listed.stderr
        assert sorted(e["id"] for e in json.loads(listed.stdout)) == sorted(f"job{i}" for i in range(100))

        # Pruning (retention itself: tests/test_history.py) is one replica at a time: while another holds the
        # lock, this one deletes nothing this round.
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("SELECT pg_advisory_lock(%s)", (PRUNE_LOCK,))
            assert await second.prune_history(Retention(max_age=50, max_entries=0), now) == 0
            other.execute("SELECT pg_advisory_unlock(%s)", (PRUNE_LOCK,))
        assert await restarted.prune_history(Retention(max_age=50, max_entries=0), now) == 50
    finally:
        await restarted.close()
        await second.close()


@pytest.mark.anyio
async def test_every_history_filter_uses_an_index_on_a_large_table(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    await store.open()  # the schema as nm run makes it
    await store.close()
    rows = 200_000
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO history (id, receiver, channel, tenant, group_key, accepted, finished, outcome, error, "
            "detail) SELECT 'job' || i, 'WebhookReceiver/ns/r' || i %% 500, 'webhook', 'user' || i %% 200, 'g', 0, i, "
            "CASE WHEN i %% 10 = 0 THEN 'dead' ELSE 'delivered' END, '', "
            "'{\"alerts\": [], \"attempts\": [], \"withheld\": []}' FROM generate_series(1, %s) AS i", (rows,))
        conn.execute("INSERT INTO history_alerts SELECT seq, lpad(to_hex(seq), 16, '0'), 'Alert' || seq % 1000, "
                     "'firing' FROM history")
        conn.execute("ANALYZE history_alerts")
        conn.execute("ANALYZE history")
        # The index each selective filter must use; a broad one (every 10th is dead) may walk the finish-time index
        # newest first and stop at the limit, which is as good: either way no full scan.
        filters = [(HistoryQuery(), "history_finished"), (HistoryQuery(receiver="WebhookReceiver/ns/r7"), "history_receiver"),
                   (HistoryQuery(tenant="user3"), "history_tenant"),
                   (HistoryQuery(alertname="Alert5"), "history_alerts_alertname"),
                   (HistoryQuery(fingerprint=f"{77:016x}"), "history_alerts_fingerprint"),
                   (HistoryQuery(outcome="dead"), "history_"), (HistoryQuery(since=10, until=20), "history_finished")]
        for query, index in filters:
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + history_sql(query)[0], history_sql(query)[1]))
            assert "Seq Scan" not in plan, f"{query}: full scan in\n{plan}"
            assert index in plan, f"{query}: {index} unused in\n{plan}"
        found = conn.execute(*history_sql(HistoryQuery(fingerprint=f"{77:016x}"))).fetchall()
        assert [row[0] for row in found] == ["job77"]
