"""The PostgreSQL store against a real server: replicas are PostgresStore objects on one database, each claiming
through `watch` as `nm run` does. Migrations, dedup across replicas, the in-flight limit and per-alert order
across replicas, lease take-over, graceful hand-back, and the `nm` commands' errors."""

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
from nmcore.pgstore import PostgresStore, migrations, walk_lane
from nmcore.store import Job, StoreError
from tests.support import free_port

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
