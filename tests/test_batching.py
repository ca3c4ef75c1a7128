"""batchMaxWait: a receiver's alerts of one group wait, then go as one notification; a batch waiting survives a
restart (SQLite) and the death of the replica holding it (PostgreSQL); a batch goes early once it holds
batchMaxSize alerts, and one waiting never holds up the receiver's other batches; the real Alertmanager's groups
with the same groupLabels values go out together.

`nm run` runs as a real process on a real webhook sink; the waits are an hour where the test must not depend on
time, and two seconds (asserted only as a lower bound) where it is the wait that ends the batch.
"""

import datetime
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import attrs
import httpx
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nmcore import batching
from nmcore.alerts import Alert, Notification
from nmcore.manager import Manager
from nmcore.sources import StaticSource
from nmcore.sqlitestore import STATE_FILE, connect, pending_jobs
from nmcore.store import Job
from nmcore.testing import plugin_host
from tests.conftest import WebhookSink
from tests.support import Nm, wait_for

V2 = "notification.kubesphere.io/v2beta2"


def write_config(folder: Path, sink: WebhookSink, *, wait: str, size: int = 100) -> Path:
    folder.mkdir()
    (folder / "nm.yaml").write_text(f"""
apiVersion: {V2}
kind: NotificationManager
metadata: {{name: notification-manager}}
spec: {{groupLabels: [alertname], batchMaxWait: {wait}, batchMaxSize: {size}}}
---
apiVersion: {V2}
kind: Receiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{webhook: {{url: "{sink.url('/ops')}"}}}}
""")
    return folder


def alert(pod: str, name: str = "KubePodCrashLooping", status: str = "firing") -> list[dict]:
    return [{"status": status, "labels": {"alertname": name, "namespace": "demo", "pod": pod}}]


def notifications(sink: WebhookSink) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each notification the sink got: (its group's alertname, its alerts' (pod, status))."""
    return [(body["groupLabels"].get("alertname", ""), [(a["labels"]["pod"], a["status"]) for a in body["alerts"]])
            for body in sink.bodies("/ops")]


def waiting_in(state: Path) -> list[str]:
    """The pods of the jobs pending in a state dir, in acceptance order."""
    conn = connect(state / STATE_FILE)
    try:
        return [a.labels["pod"] for job in pending_jobs(conn, state) for a in job.notification.alerts]
    finally:
        conn.close()


def test_a_batch_waits_across_a_restart_and_goes_as_one_notification_once_full(
        tmp_path: Path, nm: Callable[..., Nm], sink: WebhookSink) -> None:
    config = write_config(tmp_path / "config", sink, wait="1h", size=3)
    state = tmp_path / "state"
    first = nm(config, state)
    for body in (alert("a"), alert("disk-1", name="DiskFull"), alert("b")):
        assert first.post(body).status_code == 200
    wait_for(lambda: waiting_in(state) == ["a", "disk-1", "b"], "the three waiting in the state file")
    assert first.stop() == 0
    assert waiting_in(state) == ["a", "disk-1", "b"] and notifications(sink) == []
    listing = subprocess.run([sys.executable, "-m", "nmcore", "deliveries", "--state-dir", str(state)],
                             capture_output=True, text=True, timeout=60).stdout
    assert listing.count("waiting in its batch (batchMaxWait) for at most 59m") == 3, listing

    second = nm(config, state)
    assert second.post(alert("c")).status_code == 200
    wait_for(lambda: notifications(sink), "the full batch")
    assert notifications(sink) == [("KubePodCrashLooping", [("a", "firing"), ("b", "firing"), ("c", "firing")])]
    wait_for(lambda: waiting_in(state) == ["disk-1"], "the delivered batch gone from the state file")
    history = httpx.get(f"{second.url}/api/v2/history", timeout=10).json()
    [entry] = history["history"]
    assert sorted(a["fingerprint"] for a in entry["alerts"]) == sorted(
        a["fingerprint"] for a in sink.bodies("/ops")[0]["alerts"])


def test_a_batch_goes_when_its_wait_is_over_with_each_alert_as_it_is_now(
        tmp_path: Path, nm: Callable[..., Nm], sink: WebhookSink) -> None:
    process = nm(write_config(tmp_path / "config", sink, wait="2s"), tmp_path / "state")
    started = time.monotonic()
    for body in (alert("a"), alert("b"), alert("a", status="resolved"), alert("disk-1", name="DiskFull")):
        assert process.post(body).status_code == 200
    wait_for(lambda: len(notifications(sink)) == 2, "one notification per alertname")
    assert time.monotonic() - started >= 2.0, "nothing goes before the wait is over"
    assert sorted(notifications(sink)) == [
        ("DiskFull", [("disk-1", "firing")]),
        ("KubePodCrashLooping", [("a", "resolved"), ("b", "firing")]),
    ]


def test_a_full_batch_is_not_held_up_by_an_earlier_one_still_waiting(
        tmp_path: Path, nm: Callable[..., Nm], sink: WebhookSink) -> None:
    process = nm(write_config(tmp_path / "config", sink, wait="1h", size=2), tmp_path / "state")
    for body in (alert("disk-1", name="DiskFull"), alert("a"), alert("b"), alert("c")):
        assert process.post(body).status_code == 200
    wait_for(lambda: notifications(sink), "the full batch")
    assert notifications(sink) == [("KubePodCrashLooping", [("a", "firing"), ("b", "firing")])]
    wait_for(lambda: waiting_in(tmp_path / "state") == ["disk-1", "c"], "the others waiting on")
    status = httpx.get(f"{process.url}/api/v2/status", timeout=10).json()
    assert status["batching"] == {"group_labels": ["alertname"], "batch_max_size": 2, "batch_max_wait_seconds": 3600,
                                  "waiting": {"Receiver/ops:webhook": 2}}
    assert status["pending"] == 2
    assert "nmcore_jobs_waiting_in_batches 2.0" in httpx.get(f"{process.url}/metrics", timeout=10).text


def maintenance(starts: float) -> str:
    moment = datetime.datetime.fromtimestamp(starts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""
apiVersion: {V2}
kind: Silence
metadata: {{name: maintenance, labels: {{type: global}}}}
spec:
  matcher: {{matchExpressions: [{{key: pod, operator: In, values: [a, disk-1, disk-2, x1]}}]}}
  startsAt: {moment}
"""


def pending(store: Path | str) -> int:
    """The jobs pending in a state dir or a PostgreSQL database."""
    if isinstance(store, Path):
        return len(waiting_in(store))
    with psycopg.connect(store) as conn:
        row = conn.execute("SELECT count(*) FROM jobs").fetchone()
    return row[0] if row else 0


@pytest.mark.parametrize("database", [False, pytest.param(True, marks=pytest.mark.postgresql)],
                         ids=["sqlite", "postgresql"])
def test_a_silence_that_begins_while_a_batch_waits_mutes_it_when_it_goes(
        tmp_path: Path, nm: Callable[..., Nm], sink: WebhookSink, database: bool,
        request: pytest.FixtureRequest) -> None:
    """Alertmanager and the original mute when they send, after the wait: a maintenance Silence that begins while
    alerts wait holds them back. A resolved whose firing was delivered still goes."""
    config = write_config(tmp_path / "config", sink, wait="10s", size=3)
    store: Path | str = request.getfixturevalue("postgres_url") if database else tmp_path / "state"
    process = nm(config, store)
    for body in (alert("x1", name="Owed"), alert("x2", name="Owed"), alert("x4", name="Owed")):
        assert process.post(body).status_code == 200
    wait_for(lambda: len(notifications(sink)) == 1, "the full Owed batch, at once")
    starts = int(time.time()) + 7
    (config / "silence.yaml").write_text(maintenance(starts))
    wait_for(lambda: httpx.get(f"{process.url}/api/v2/silences", timeout=10).json()["silences"], "nm to load it")
    for body in (alert("a"), alert("c"), alert("disk-1", name="DiskFull"), alert("disk-2", name="DiskFull"),
                 alert("x1", name="Owed", status="resolved"), alert("x3", name="Owed")):
        assert process.post(body).status_code == 200
    assert time.time() < starts, "the test needs the alerts in before the Silence begins"

    wait_for(lambda: not pending(store), "every batch to go")
    assert sorted(notifications(sink)[1:]) == [
        ("KubePodCrashLooping", [("c", "firing")]), ("Owed", [("x1", "resolved"), ("x3", "firing")])]

    def history() -> list[dict]:
        return httpx.get(f"{process.url}/api/v2/history", timeout=10).json()["history"]

    wait_for(lambda: len(history()) == 4, "the history of all four batches")
    entries = {e["alerts"][0]["alertname"]: e for e in history() if e["alerts"][0]["alertname"] != "Owed"}
    silenced = entries["DiskFull"]
    assert silenced["outcome"] == "silenced" and silenced["attempts"] == []
    assert silenced["error"] == "muted by Silence maintenance (global) until it is deleted or disabled"
    assert [a["status"] for a in silenced["alerts"]] == ["firing", "firing"]
    assert entries["KubePodCrashLooping"]["withheld"] == [{
        "receiver": "Receiver/ops:webhook", "reason": "1 of its 2 alerts, after their batch wait: muted by Silence "
                                                      "maintenance (global) until it is deleted or disabled"}]
    assert 'nmcore_deliveries_total{channel="webhook",outcome="silenced"} 1.0' in httpx.get(
        f"{process.url}/metrics", timeout=10).text
    assert '<td class="silenced">silenced: muted by Silence maintenance (global)' in httpx.get(
        f"{process.url}/ui", timeout=10).text


@pytest.mark.postgresql
def test_replicas_send_a_batch_once_even_when_the_one_holding_it_dies(
        tmp_path: Path, nm: Callable[..., Nm], sink: WebhookSink, postgres_url: str) -> None:
    config = write_config(tmp_path / "config", sink, wait="1h", size=4)
    one, two = (nm(config, postgres_url, "--lease", "3") for _ in range(2))
    for process, pod in ((one, "a"), (two, "b"), (one, "c")):
        assert process.post(alert(pod)).status_code == 200
    holder = wait_for(lambda: _holder(postgres_url, (one, two), 3), "one replica holding the whole batch")
    holder.kill()
    survivor = two if holder is one else one
    assert survivor.post(alert("d")).status_code == 200
    wait_for(lambda: notifications(sink), "the batch, from the survivor, once the dead one's lease is over")
    assert notifications(sink) == [("KubePodCrashLooping", [(p, "firing") for p in "abcd"])]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def _holder(url: str, replicas: tuple[Nm, ...], count: int) -> Nm | None:
    """The replica whose claims hold all `count` waiting jobs, if one does."""
    with psycopg.connect(url) as conn:
        holders = [row[0] for row in conn.execute("SELECT claimed_by FROM jobs WHERE batch <> ''")]
    if len(holders) != count or len(set(holders)) != 1 or holders[0] is None:
        return None
    return next(r for r in replicas if f"-{r.popen.pid}-" in holders[0])


# ---- what of a batch goes, as a property ------------------------------------------------------------------------


def _job(index: int, alerts: list[tuple[str, str]], not_before: float) -> Job:
    notification = Notification(receiver="r", channel="webhook", tenant="", group_key="g", alerts=tuple(
        Alert(status=status, labels={"alertname": "A", "n": fp}, fingerprint=fp)  # type: ignore[arg-type]
        for fp, status in alerts))
    return Job(id=f"j{index}", notification=notification, created=not_before - 60, not_before=not_before,
               batch="labels:alertname='A'")


members_strategy = st.lists(
    st.tuples(st.dictionaries(st.sampled_from("uvwxyz"), st.sampled_from(["firing", "resolved"]),
                              min_size=1, max_size=3),
              st.floats(min_value=-10, max_value=10)),
    min_size=1, max_size=8)


@given(members=members_strategy, max_size=st.integers(min_value=0, max_value=4))
def test_a_release_loses_no_member_and_sends_each_alert_as_it_is_now(
        members: list[tuple[dict[str, str], float]], max_size: int) -> None:
    jobs = [_job(i, list(alerts.items()), 1000 + offset) for i, (alerts, offset) in enumerate(members)]
    released, rest = batching.release(jobs, max_size=max_size, now=1000)

    gone = [member for part in released for member in (part.members or (part.job.id,))]
    assert gone + [j.id for j in rest] == [j.id for j in jobs], "every member once, in acceptance order"
    by_id = {j.id: j for j in jobs}
    for part in released:
        parts = [by_id[m] for m in part.members] if part.members else [by_id[part.job.id]]
        newest = {a.fingerprint: a.status for j in parts for a in j.notification.alerts}
        assert {a.fingerprint: a.status for a in part.job.notification.alerts} == newest
        assert len(part.job.notification.alerts) == len(newest), "each alert once"
        assert not part.job.waiting and part.job.not_before == 0.0
        assert part.job.first_due == 1000 and part.job.created == min(j.created for j in parts), "due from now"
        if max_size and len(parts) > 1:
            assert len(newest) <= max_size
    if min(j.not_before for j in jobs) <= 1000:
        assert rest == [], "everything goes once the oldest member's wait is over"
    elif rest:
        assert not max_size or len(batching.distinct_alerts(rest)) < max_size, "only a batch still filling waits"


@given(steps=st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from("ABC"), st.dictionaries(st.sampled_from("uvwxyz"), st.just("firing"),
                                                                       min_size=1, max_size=3),
              st.floats(min_value=0, max_value=10)),
    st.tuples(st.just("tick"), st.floats(min_value=0, max_value=3))), max_size=30),
    max_size=st.integers(min_value=0, max_value=4))
def test_the_waiting_batches_release_what_packing_each_batch_at_each_pass_would(steps: list, max_size: int) -> None:
    """`Waiting` answers "what goes now" from its heap and full set; the reference packs every batch at every pass
    (`batching.release` on each, as the dispatcher did): the same jobs go at the same passes, none is lost."""
    waiting, reference = batching.Waiting(), {}
    now, index = 1000.0, 0
    for step in steps:
        if step[0] == "add":
            _, key, alerts, wait = step
            job = attrs.evolve(_job(index, list(alerts.items()), now + wait), batch=key)
            index += 1
            waiting.add(job, max_size)
            reference.setdefault(key, []).append(job)
        else:
            now += step[1]
        expected = []
        for key, members in list(reference.items()):
            released, rest = batching.release(members, max_size=max_size, now=now)
            expected += [sorted(p.members or (p.job.id,)) for p in released]
            reference[key] = rest
            if not rest:
                del reference[key]
        got = [sorted(p.members or (p.job.id,)) for p in waiting.release(now, max_size)]
        assert sorted(got) == sorted(expected)
        assert len(waiting) == sum(map(len, reference.values()))
        assert waiting.next_due() == min((batching.deadline(m) for m in reference.values()), default=None)


@pytest.mark.alertmanager
def test_the_real_alertmanagers_groups_with_the_same_group_labels_go_as_one_notification(
        tmp_path: Path, sink: WebhookSink) -> None:
    """Alertmanager groups by alertname, so three alerts of one namespace reach nm in three POSTs; nm regroups by
    namespace and holds them (a wait of an hour: only batchMaxSize, 3, lets the batch go) into one notification."""
    # Imported here: that module skips itself where Alertmanager is not installed, which must skip this test only.
    from tests.test_alertmanager_e2e import alert as pushed
    from tests.test_alertmanager_e2e import alertmanager_posting_to, until

    manifests = f"""
apiVersion: {V2}
kind: NotificationManager
metadata: {{name: notification-manager}}
spec: {{groupLabels: [namespace], batchMaxWait: 1h, batchMaxSize: 3}}
---
apiVersion: {V2}
kind: Receiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{webhook: {{url: "{sink.url('/ops')}"}}}}
"""
    manager = Manager(StaticSource.from_yaml(manifests), host=plugin_host())

    async def scenario() -> None:
        async with alertmanager_posting_to(manager, tmp_path) as am:
            async with httpx.AsyncClient(base_url=am.url, timeout=5) as client:
                for name in ("KubePodCrashLooping", "KubePodNotReady", "CPUThrottlingHigh"):
                    body = [pushed(name.lower(), name, "ns-a")]
                    assert (await client.post("/api/v2/alerts", json=body)).status_code == 200
            await until(lambda: sink.bodies("/ops"), am)
            await manager.drain(10)

    anyio.run(scenario)
    [body] = sink.bodies("/ops")
    assert body["groupLabels"] == {"namespace": "ns-a"}
    assert sorted(a["labels"]["alertname"] for a in body["alerts"]) == [
        "CPUThrottlingHigh", "KubePodCrashLooping", "KubePodNotReady"]
