"""SQLiteStore on its own: what was accepted comes back after a restart as it was, duplicates stay dropped
across restarts, dead letters keep their reason and can be re-driven, and a bad state dir is a clear error."""

import re
import sqlite3
import time
from pathlib import Path

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmcore.alerts import Alert, Notification, fingerprint_of
from nmcore.sqlitestore import SQLiteStore, StoreError, connect, redrive
from nmcore.store import Job, notification_json

RECEIVER = "WebhookReceiver/kubesphere-monitoring-system/sink"


def notification(*alerts: Alert, receiver: str = RECEIVER) -> Notification:
    return Notification(receiver=receiver, channel="webhook", tenant="", alerts=alerts)


def alert(status: str = "firing", **labels: str) -> Alert:
    labels = {"alertname": "DiskFull", **labels}
    return Alert(status=status, labels=labels, fingerprint=fingerprint_of(labels))  # type: ignore[arg-type]


def job(n: Notification, job_id: str) -> Job:
    return Job(id=job_id, notification=n, created=time.time())


async def reopened(path: Path) -> tuple[SQLiteStore, list[Job]]:
    store = SQLiteStore(path)
    return store, await store.open()


@pytest.mark.anyio
async def test_pending_work_resumes_oldest_first_with_its_retry_state(tmp_path: Path) -> None:
    path = tmp_path / "state" / "nmcore.db"
    store, pending = await reopened(path)
    assert pending == []
    rich = notification(
        alert("firing", namespace="tenant-ä", pod="web-1"),
        Alert(status="resolved", labels={"alertname": "Ping", "😀": "ok"}, annotations={"summary": "gone\nnow"},
              starts_at="2026-11-24T05:53:21.974712798Z", ends_at="2026-11-24T06:00:00Z",
              generator_url="http://prom/graph?g0.expr=up", fingerprint="abc123"),
    )
    rich = attrs.evolve(rich, group_labels={"alertname": "DiskFull"}, external_url="http://am:9093",
                        group_key='{}:{alertname="DiskFull"}', tenant="alice")
    jobs = [job(rich, "a"), job(notification(alert(n="2")), "b"), job(notification(alert(n="3")), "c")]
    assert await store.add(jobs[:1], 300) == jobs[:1]
    assert await store.add(jobs[1:], 300) == jobs[1:]
    retried = attrs.evolve(jobs[1], attempts=3, not_before=time.time() + 60, last_error="HTTP 503")
    await store.reschedule(retried)
    await store.finish(jobs[2])
    await store.close()

    store, pending = await reopened(path)
    assert pending == [jobs[0], retried]
    await store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.dictionaries(st.text(min_size=1), st.text(), min_size=1, max_size=5),
       annotations=st.dictionaries(st.text(min_size=1), st.text(), max_size=3),
       status=st.sampled_from(["firing", "resolved"]))
def test_any_notification_is_stored_and_read_back_unchanged(
        tmp_path_factory: pytest.TempPathFactory, labels: dict, annotations: dict, status: str) -> None:
    path = tmp_path_factory.mktemp("state") / "nmcore.db"
    stored = job(notification(Alert(status=status, labels=labels, annotations=annotations,  # type: ignore[arg-type]
                                    fingerprint=fingerprint_of(labels))), "x")

    async def round_trip() -> list[Job]:
        store, _ = await reopened(path)
        await store.add([stored], 300)
        await store.close()
        store, pending = await reopened(path)
        await store.close()
        return pending

    assert anyio.run(round_trip) == [stored]


@pytest.mark.anyio
async def test_duplicates_are_dropped_within_the_window_even_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nmcore.db"
    firing = notification(alert("firing"))
    store, _ = await reopened(path)
    assert await store.add([job(firing, "1")], 300) != []
    await store.close()

    store, _ = await reopened(path)
    assert await store.add([job(firing, "2")], 300) == []
    resolved = job(notification(alert("resolved")), "3")
    assert await store.add([resolved], 300) == [resolved], "another status is another notification"
    other = job(notification(alert("firing"), receiver=RECEIVER + "-2"), "4")
    assert await store.add([other], 300) == [other], "another receiver is another notification"
    assert await store.add([job(firing, "5")], 0) != [], "a window of 0 turns dedup off"
    await anyio.sleep(0.1)
    assert await store.add([job(firing, "6")], 0.05) != [], "the window has passed"
    await store.close()


@pytest.mark.anyio
async def test_a_refire_is_accepted_and_its_duplicate_dropped_even_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "nmcore.db"
    firing, resolved = notification(alert("firing")), notification(alert("resolved"))
    store, _ = await reopened(path)
    assert await store.add([job(firing, "1")], 300) != []
    assert await store.add([job(resolved, "2")], 300) != []
    await store.close()
    store, _ = await reopened(path)
    assert await store.add([job(firing, "3")], 300) != [], "firing again after resolved is news"
    assert await store.add([job(firing, "4")], 300) == [], "the HA pair's copy of it is not"
    await store.close()


@pytest.mark.anyio
async def test_writes_made_together_are_committed_together(tmp_path: Path) -> None:
    store, _ = await reopened(tmp_path / "nmcore.db")
    jobs = [job(notification(alert(n=str(i))), str(i)) for i in range(200)]
    async with anyio.create_task_group() as tasks:
        for j in jobs:
            tasks.start_soon(store.add, [j], 300)
    async with anyio.create_task_group() as tasks:
        for j in jobs[:150]:
            tasks.start_soon(store.finish, j)
    await store.close()
    store, pending = await reopened(tmp_path / "nmcore.db")
    await store.close()
    assert {j.id for j in pending} == {j.id for j in jobs[150:]}


@pytest.mark.anyio
async def test_dead_letters_keep_the_reason_and_redrive_hands_them_to_the_running_store(tmp_path: Path) -> None:
    path = tmp_path / "nmcore.db"
    store = SQLiteStore(path, watch_every=0.05)
    await store.open()
    doomed = job(notification(alert()), "doomed")
    await store.add([doomed], 300)
    failed = attrs.evolve(doomed, attempts=1, last_error="webhook answered HTTP 404")
    await store.bury(failed, "webhook answered HTTP 404")
    [letter] = await store.dead_letters()
    assert (letter.job, letter.reason) == (failed, "webhook answered HTTP 404")

    handed: list[Job] = []
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(store.watch, handed.extend)
        other_process = connect(path)  # what `nm deliveries redrive` does, while this store runs
        assert redrive(other_process, ["doomed", "unknown"]) == ["doomed"]
        other_process.close()
        with anyio.fail_after(5):
            while not handed:
                await anyio.sleep(0.02)
        tasks.cancel_scope.cancel()
    assert [(j.id, j.attempts, j.notification) for j in handed] == [("doomed", 0, doomed.notification)]
    assert await store.dead_letters() == []
    await store.close()


@pytest.mark.anyio
async def test_a_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nmcore.db"
    path.write_bytes(b"not a database, just text\n" * 200)
    with pytest.raises(StoreError, match=re.escape(f"state file {path} is corrupt (file is not a database)")):
        await SQLiteStore(path).open()


@pytest.mark.anyio
async def test_a_state_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StoreError, match=re.escape(f"state dir {tmp_path / 'state'} exists but is not a directory")):
        await SQLiteStore(tmp_path / "state" / "nmcore.db").open()


@pytest.mark.anyio
async def test_two_stores_never_share_a_state_dir(tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "nmcore.db")
    await first.open()
    with pytest.raises(StoreError, match=r"is in use by another nm run \(pid \d+\)"):
        await SQLiteStore(tmp_path / "nmcore.db").open()
    await first.close()
    second = SQLiteStore(tmp_path / "nmcore.db")
    await second.open()
    await second.close()


@pytest.mark.anyio
async def test_a_state_file_from_before_batches_opens_with_its_pending_work(tmp_path: Path) -> None:
    """The jobs table of a state file written before batchMaxWait lacks the batch column: opening adds it."""
    path = tmp_path / "nmcore.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, receiver TEXT NOT NULL,
            created REAL NOT NULL, attempts INTEGER NOT NULL, not_before REAL NOT NULL, last_error TEXT NOT NULL,
            notification TEXT NOT NULL, handed INTEGER NOT NULL DEFAULT 1);""")
    pending = job(notification(alert(pod="web-1")), "old")
    old.execute("INSERT INTO jobs (id, receiver, created, attempts, not_before, last_error, notification) "
                "VALUES (?, ?, ?, 2, 0, 'HTTP 503', ?)",
                (pending.id, pending.receiver, pending.created, notification_json(pending.notification)))
    old.commit()
    old.close()

    store, resumed = await reopened(path)
    assert resumed == [attrs.evolve(pending, attempts=2, last_error="HTTP 503")]
    assert not resumed[0].waiting
    await store.close()
