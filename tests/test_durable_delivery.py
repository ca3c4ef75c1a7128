"""Durable delivery end to end: `nm run` as a real process on a state dir, a real HTTP sink, real Alertmanagers.

What was answered 200 arrives: after kill -9, through an outage, past a permanently failing neighbour, under
overload and across SIGTERM; an Alertmanager HA pair's doubled sends arrive once; a bad state dir is a clear
error at start-up.
"""

import asyncio
import contextlib
import datetime
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import NamedTuple

import anyio
import attrs
import httpx
import pytest
import yaml
from aiohttp import web

from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.delivery import RetryPolicy
from nmcore.manager import Manager
from nmcore.manifests import documents_from_folder
from nmcore.plugins import PluginHost
from nmcore.settings import ManagerSettings
from nmcore.sources import Publish, StaticSource
from nmcore.sqlitestore import STATE_FILE, SQLiteStore, connect, pending_jobs
from nmcore.store import Job
from tests.conftest import WebhookSink
from tests.support import Nm, free_port, wait_for

REPO = Path(__file__).resolve().parents[1]
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
PER_RECEIVER = 4
"""The manager's default number of sends in flight per receiver: only these may arrive twice after a kill."""






def write_config(folder: Path, **urls: str) -> Path:
    """A config dir with one global webhook receiver per keyword (its name) posting to the url."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "receivers.yaml").write_text(yaml.safe_dump_all(
        {"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "WebhookReceiver",
         "metadata": {"name": name, "namespace": "kubesphere-monitoring-system", "labels": {"type": "global"}},
         "spec": {"url": url}}
        for name, url in urls.items()))
    return folder


def alert(i: int | str, name: str = "Load") -> list[dict]:
    """A one-alert group (what Alertmanager sends with group_by ['...']): one notification per receiver."""
    return [{"labels": {"alertname": name, "id": str(i)}, "annotations": {"summary": f"alert {i}"}}]


async def post_each(url: str, ids: Iterable[int], answers: dict[int, httpx.Response], concurrency: int = 8) -> None:
    """POST `alert(i)` for each id from `concurrency` senders, like Alertmanager's parallel group flushes; a
    connection failure leaves no answer."""
    todo = iter(ids)
    async with httpx.AsyncClient(timeout=10) as client, anyio.create_task_group() as tasks:
        async def sender() -> None:
            for i in todo:
                with contextlib.suppress(httpx.TransportError):
                    answers[i] = await client.post(f"{url}/api/v2/alerts", json=alert(i))

        for _ in range(concurrency):
            tasks.start_soon(sender)


class Attempt(NamedTuple):
    at: float
    path: str
    ids: tuple[str, ...]
    status: int


class RecordingSink(WebhookSink):
    """The conftest sink, plus every attempt recorded with its arrival time and answer, an optional delay per
    request (a slow receiver), and outages: a path answering a status for some seconds."""

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay
        self.attempts: list[Attempt] = []
        self._outages: dict[str, list[tuple[float, int, dict[str, str]]]] = {}
        self.in_flight = self.most_in_flight = 0

    def outage(self, path: str, *phases: tuple[float, int, dict[str, str]]) -> float:
        """From now, answer each phase's (seconds, status, headers) in turn on `path`; return when it ends."""
        end = time.monotonic()
        with self._lock:
            for seconds, status, headers in phases:
                end += seconds
                self._outages.setdefault("/" + path, []).append((end, status, headers))
        return end

    async def _handle(self, request: web.Request) -> web.Response:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        body = await request.json()
        now = time.monotonic()
        with self._lock:
            failing = next(((s, h) for end, s, h in self._outages.get(request.path, []) if now < end), None)
        if failing:
            response = web.Response(status=failing[0], headers=failing[1], text="failure")
        else:
            response = await super()._handle(request)
        with self._lock:
            ids = tuple(a["labels"].get("id", "") for a in body["alerts"])
            self.attempts.append(Attempt(now, request.path, ids, response.status))
        return response

    def delivered(self, path: str) -> Counter[str]:
        """How many times each alert id arrived (and was answered 200) on `path`."""
        return Counter(a["labels"]["id"] for a in self.alerts_by_path().get("/" + path, []))


@pytest.fixture
def recording_sink() -> Iterator[RecordingSink]:
    server = RecordingSink()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def slow_sink() -> Iterator[RecordingSink]:
    server = RecordingSink(delay=0.25)
    server.start()
    yield server
    server.stop()


def nm_deliveries(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", "deliveries", "--state-dir", str(state), *args],
                          capture_output=True, text=True, timeout=30, cwd=REPO)


def deliveries_json(state: Path) -> dict:
    listing = nm_deliveries(state, "--json")
    assert listing.returncode == 0, listing.stderr
    return json.loads(listing.stdout)


def test_kill_9_while_delivering_5000_alerts_loses_none(
        tmp_path: Path, nm: Callable[..., Nm], record_property: Callable) -> None:
    total = 5000
    sink = RecordingSink(delay=0.008)  # slower than ingest until the kill, so work piles up to resume
    sink.start()
    config = write_config(tmp_path / "config", pager=sink.url("pager"))
    state = tmp_path / "state"
    first = nm(config, state)
    answers: dict[int, httpx.Response] = {}

    def acknowledged() -> set[int]:
        return {i for i, r in list(answers.items()) if r.status_code == 200}

    async def post_until_killed() -> None:
        """Post every alert once; kill -9 nm once 1,000 have arrived and at least 200 more wait."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(post_each, first.url, range(total), answers)
            with anyio.fail_after(120):
                while len(sink.received) < 1000:
                    await anyio.sleep(0.005)
                sink.delay = 0.5  # the receiver slows down, so accepted work piles up whatever this machine's speed
                while len(acknowledged()) - len(sink.received) < 200:
                    await anyio.sleep(0.005)
            first.kill()
        sink.delay = 0

    try:
        anyio.run(post_until_killed)
        arrived = {int(i) for i in sink.delivered("pager")}
        conn = connect(state / STATE_FILE)
        stored = {int(j.notification.alerts[0].labels["id"]) for j in pending_jobs(conn, state / STATE_FILE)}
        conn.close()
        accepted = acknowledged()
        assert accepted - arrived <= stored, "alerts answered 200 and not yet delivered must be in the state"

        second = nm(config, state)
        again: dict[int, httpx.Response] = {}  # what Alertmanager sends again: those never answered 200
        anyio.run(post_each, second.url, set(range(total)) - accepted, again)
        assert {r.status_code for r in again.values()} <= {200} and len(again) == total - len(accepted)
        counts = wait_for(lambda: len(c := sink.delivered("pager")) == total and c, "every alert", timeout=60)
        assert second.stop() == 0
    finally:
        sink.stop()
    twice = sorted(int(i) for i, n in counts.items() if n > 1)
    summary = (f"kill -9 after {len(arrived)} of {total} alerts had arrived, {len(accepted)} were answered 200 "
               f"and {len(stored)} were pending in the state; after the restart all {total} arrived, "
               f"{len(twice)} of them twice: {twice}")
    print(summary)
    record_property("kill_9", summary)
    assert max(counts.values()) <= 2
    assert len(twice) <= PER_RECEIVER * 2, summary
    assert deliveries_json(state)["pending"] == []


@pytest.mark.anyio
async def test_an_outage_answering_500_then_429_loses_nothing_and_honours_retry_after(
        tmp_path: Path, recording_sink: RecordingSink) -> None:
    sink = recording_sink
    yaml_text = (write_config(tmp_path / "config", flaky=sink.url("flaky"), healthy=sink.url("healthy"))
                 / "receivers.yaml").read_text()
    policy = RetryPolicy(initial_delay=0.2, max_delay=1.0, deadline=60)
    store = SQLiteStore(tmp_path / "state" / STATE_FILE)
    ids = [str(i) for i in range(6)]
    async with Manager.from_yaml(yaml_text, store=store, settings=ManagerSettings(retry=policy)) as manager:
        started = time.monotonic()
        recovered = sink.outage("flaky", (2.0, 500, {}), (4.0, 429, {"Retry-After": "2"}))
        for i in ids:
            await manager.submit_payload(alert(i, "Outage"))
        await manager.drain(timeout=30)
        assert await store.dead_letters() == []

    assert sink.delivered("flaky") == Counter(ids), "each alert arrives once the outage is over"
    assert sink.delivered("healthy") == Counter(ids)
    healthy = [a.at for a in sink.attempts if a.path == "/healthy"]
    assert max(healthy) - started < 1.0, "the healthy receiver is not held up by the failing one"
    for i in ids:
        tries = [a for a in sink.attempts if a.path == "/flaky" and a.ids == (i,)]
        assert [a.status for a in tries][-1] == 200 and tries[-1].at >= recovered
        assert tries[-1].at < recovered + 2.5, "delivered promptly once the outage ended"
        for earlier, later in itertools.pairwise(tries):
            if earlier.status == 429:
                assert later.at - earlier.at >= 2.0 - 0.01, f"alert {i} retried before Retry-After: {tries}"
            elif earlier.status == 500:
                assert later.at - earlier.at >= 0.2 * 0.8 - 0.01, f"alert {i} retried without backoff: {tries}"
    # How many attempts each phase saw depends on the machine's speed; that both phases were met does not.
    statuses = Counter(a.status for a in sink.attempts if a.path == "/flaky")
    assert statuses[500] >= 2 and statuses[429] >= 1, f"the outage did not play out as scripted: {statuses}"
    conn = connect(store.path)
    assert pending_jobs(conn, store.path) == []
    conn.close()


@pytest.mark.parametrize("option", [(), ("--sends-per-receiver", "8")])
def test_sends_in_flight_to_one_receiver_are_bounded_and_configurable(
        tmp_path: Path, nm: Callable[..., Nm], option: tuple[str, ...]) -> None:
    sink = RecordingSink(delay=1.0)  # each answer takes a second: the alerts below are all posted well within it
    sink.start()
    try:
        server = nm(write_config(tmp_path / "config", busy=sink.url("busy")), tmp_path / "state", *option)
        for i in range(16):
            assert server.post(alert(i, "Busy")).status_code == 200
        wait_for(lambda: len(sink.delivered("busy")) == 16, "every alert")
    finally:
        sink.stop()
    assert sink.most_in_flight == (int(option[1]) if option else PER_RECEIVER)


def one_alert_job(job_id: str, receiver: str, alert_id: str = "") -> Job:
    return Job(id=job_id, created=time.time(), notification=Notification(
        receiver=receiver, channel="webhook", tenant="",
        alerts=(Alert(labels={"alertname": "Left", "id": alert_id or job_id}),)))


async def leave_pending(state: Path, jobs: list[Job]) -> None:
    """A state file as an earlier nm run left it: `jobs` pending."""
    left_over = SQLiteStore(state)
    await left_over.open()
    await left_over.add(jobs, 0)
    await left_over.close()


class SlowToSyncSource(StaticSource):
    """Like a Kubernetes source listing a big cluster: the first configuration arrives after a while."""

    async def run(self, publish: Publish) -> None:
        await anyio.sleep(0.5)
        await super().run(publish)


@pytest.mark.anyio
async def test_work_resumed_at_start_waits_for_the_first_configuration(tmp_path: Path, sink: WebhookSink) -> None:
    config = write_config(tmp_path / "config", hook=sink.url("hook"))
    state = tmp_path / "state" / STATE_FILE
    ref = "WebhookReceiver/kubesphere-monitoring-system/hook"
    await leave_pending(state, [one_alert_job(f"left-{i}", ref, str(i)) for i in range(3)])

    source = SlowToSyncSource(*documents_from_folder(config))
    async with Manager(source, store=SQLiteStore(state), host=PluginHost(load_entrypoints=False)) as manager:
        await manager.drain(10)
        dead = await manager.store.dead_letters()
    assert dead == [], "resumed work was judged against the empty configuration"
    assert sorted(a["labels"]["id"] for a in sink.alerts_by_path()["/hook"]) == ["0", "1", "2"]


@pytest.mark.anyio
async def test_an_unreadable_row_is_quarantined_as_a_dead_letter_and_the_rest_delivered(
        tmp_path: Path, sink: WebhookSink, caplog: pytest.LogCaptureFixture) -> None:
    config = write_config(tmp_path / "config", hook=sink.url("hook"))
    state = tmp_path / "state" / STATE_FILE
    ref = "WebhookReceiver/kubesphere-monitoring-system/hook"
    await leave_pending(state, [one_alert_job(f"left-{i}", ref, str(i)) for i in range(3)])
    with contextlib.closing(connect(state)) as conn:  # a torn write, a bad disk block, a hand edit
        conn.execute("UPDATE jobs SET notification = '{\"receiver\": 1' WHERE id = 'left-1'")

    source = StaticSource(*documents_from_folder(config))
    async with Manager(source, store=SQLiteStore(state), host=PluginHost(load_entrypoints=False)) as manager:
        await manager.drain(10)
        [dead] = await manager.store.dead_letters()
    assert sorted(a["labels"]["id"] for a in sink.alerts_by_path()["/hook"]) == ["0", "2"]
    assert (dead.job.id, dead.job.receiver) == ("left-1", ref)
    assert dead.reason.startswith(f"unreadable in the state file, quarantined: state file {state}: delivery left-1 "
                                  "cannot be read (")
    assert "delivery left-1 cannot be read" in caplog.text and "moved to the dead letters" in caplog.text
    listing = nm_deliveries(state.parent)
    assert listing.returncode == 0, listing.stderr
    assert f"left-1  {ref}  unreadable, accepted" in listing.stdout


def test_a_state_file_deleted_without_its_log_is_refused_naming_the_files(tmp_path: Path) -> None:
    state = tmp_path / "state"
    writer = f"""
import os, time, anyio
from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.sqlitestore import SQLiteStore
from nmcore.store import Job

async def main():
    store = SQLiteStore({str(state / STATE_FILE)!r})
    await store.open()
    await store.add([Job(id=str(i), created=time.time(), notification=Notification(
        receiver="WebhookReceiver/ns/hook", channel="webhook", tenant="",
        alerts=(Alert(labels={{"alertname": "Kept", "id": str(i)}}),))) for i in range(200)], 0)
    os._exit(0)  # as a kill -9 would: the log is not folded into the database

anyio.run(main)
"""
    subprocess.run([sys.executable, "-c", writer], check=True, cwd=REPO, timeout=60)
    wal = state / f"{STATE_FILE}-wal"
    assert wal.stat().st_size > 0, "the accepted work is still in the write-ahead log"
    (state / STATE_FILE).unlink()  # an operator tidying up, a volume restore that missed a file

    config = write_config(tmp_path / "config", hook="http://127.0.0.1:9/")
    result = subprocess.run([sys.executable, "-m", "nmcore", "run", "--config-dir", str(config), "--state-dir",
                             str(state), "--listen", f"127.0.0.1:{free_port()}"], capture_output=True, text=True,
                            timeout=30, cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert (f"nm run: state file {state / STATE_FILE} is missing but its write-ahead log {wal} "
            f"({wal.stat().st_size} bytes) is still there") in result.stderr
    assert f"move {STATE_FILE}-wal and {STATE_FILE}-shm aside" in result.stderr
    assert "Traceback" not in result.stderr and not (state / STATE_FILE).exists()
    listing = nm_deliveries(state)
    assert listing.returncode == 2 and "is missing but its write-ahead log" in listing.stderr


@attrs.frozen
class ScriptedDelays(RetryPolicy):
    """Backoff delays handed out in turn, whatever the attempt: an outage's uneven waits, made exact."""

    delays: list[float] = attrs.Factory(list)

    def delay(self, attempts: int, retry_after: float | None) -> float:
        return self.delays.pop(0)




@pytest.mark.anyio
async def test_after_an_outage_the_first_success_sends_what_waits_on_the_same_receiver_at_once(
        tmp_path: Path, sink: WebhookSink) -> None:
    config = write_config(tmp_path / "config", hook=sink.url("hook"))
    state = tmp_path / "state" / STATE_FILE
    ref = "WebhookReceiver/kubesphere-monitoring-system/hook"
    await leave_pending(state, [one_alert_job(str(i), ref) for i in range(3)])
    sink.script("hook", [503, 503, 503])  # down for the three sends that start together; then back
    policy = ScriptedDelays(delays=[3600.0, 3600.0, 0.2])  # two wait an hour, the last to fail a moment
    source = StaticSource(*documents_from_folder(config))
    async with Manager(source, store=SQLiteStore(state), host=PluginHost(load_entrypoints=False),
                       settings=ManagerSettings(retry=policy)) as manager:
        await manager.drain(30)  # far less than the hour the other two were told to wait
    assert sorted(a["labels"]["id"] for a in sink.alerts_by_path()["/hook"]) == ["0", "1", "2"]
    assert policy.delays == [], "each of the three failed once"


@pytest.mark.anyio
async def test_a_success_through_a_shared_config_sends_what_other_receivers_wait_on_it_at_once(
        sink: WebhookSink, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nmcore.delivery")
    receiver = "apiVersion: notification.kubesphere.io/v1alpha1\nkind: WebhookReceiver\nspec: {}\n"
    manifests = f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata: {{name: relay, labels: {{type: default}}}}
spec: {{url: "{sink.url('relay')}"}}
---
{receiver}metadata: {{name: first, labels: {{type: global}}}}
---
{receiver}metadata: {{name: second, labels: {{type: global}}}}
---
{receiver}metadata: {{name: alices, labels: {{type: tenant, user: alice}}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: alice, namespace: team}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects: [{{kind: User, name: alice}}]
"""
    sink.script("relay", [503, 503])  # the relay is down for the first alert, to the two global receivers
    async with Manager.from_yaml(manifests, settings=ManagerSettings(retry=RetryPolicy(initial_delay=300, jitter=0))) as manager:
        await manager.submit(AlertGroup(alerts=(Alert(labels={"alertname": "Down"}),)))
        with anyio.fail_after(10):
            while caplog.text.count("retrying in 300.0s") < 2:
                await anyio.sleep(0.02)
        # the globals' copies wait behind their five-minute backoff; alice's goes through the same relay now
        await manager.submit(AlertGroup(alerts=(Alert(labels={"alertname": "Up", "namespace": "team"}),)))
        await manager.drain(30)
    names = [(b["receiver"].rsplit("/", 1)[1], b["alerts"][0]["labels"]["alertname"]) for b in sink.bodies("relay")]
    assert sorted(names) == [("alices", "Up"), ("first", "Down"), ("first", "Up"), ("second", "Down"),
                             ("second", "Up")]
    assert names.index(("alices", "Up")) == 0, "alice's was the first success after the outage"
    assert "WebhookConfig/kubesphere-monitoring-system/relay took a delivery again: retrying the 2 waiting" in caplog.text


def test_nm_deliveries_shows_the_true_next_try_also_for_work_queued_behind_a_retry(
        tmp_path: Path, sink: WebhookSink, nm: Callable[..., Nm]) -> None:
    sink.script("hook", [(503, {"Retry-After": "120"})])
    state = tmp_path / "state"
    server = nm(write_config(tmp_path / "config", hook=sink.url("hook")), state)
    assert server.post(alert("first")).status_code == 200
    wait_for(lambda: "retrying in 120.0s" in server.output(), "the first delivery to fail")
    assert server.post(alert("second")).status_code == 200
    listing = wait_for(lambda: len((r := deliveries_json(state))["pending"]) == 2 and r, "both pending")
    first, second = listing["pending"]
    assert first["attempts"] == 1 and second["attempts"] == 0
    assert second["next_try"] == first["next_try"] == first["not_before"], "it is sent after the first, not now"
    text = nm_deliveries(state).stdout
    [first_line, second_line] = [line for line in text.splitlines() if " ago, " in line]
    assert re.search(r"1 attempt, next try in 1m[0-5]\ds$", first_line), text
    assert re.search(r"0 attempts, next try in 1m[0-5]\ds \(behind an earlier delivery to this receiver\)$",
                     second_line), text


def test_a_permanently_failing_receiver_ends_in_dead_letters_with_the_error_and_can_be_redriven(
        tmp_path: Path, sink: WebhookSink, nm: Callable[..., Nm]) -> None:
    sink.script("bad", [404] * 5)
    config = write_config(tmp_path / "config", good=sink.url("good"), bad=sink.url("bad"))
    state = tmp_path / "state"
    server = nm(config, state)
    for i in range(5):
        assert server.post(alert(i, "Dead")).status_code == 200
    wait_for(lambda: len(sink.bodies("good")) == 5, "the good receiver to get everything")
    listing = wait_for(lambda: len((r := deliveries_json(state))["dead_letters"]) == 5 and r, "5 dead letters")
    reason = f"webhook {sink.url('bad')} answered HTTP 404: failure"
    assert listing["pending"] == []
    assert listing["receivers"] == {"WebhookReceiver/kubesphere-monitoring-system/bad": {"pending": 0, "dead": 5}}
    assert {d["reason"] for d in listing["dead_letters"]} == {reason}
    assert {d["receiver"] for d in listing["dead_letters"]} == {"WebhookReceiver/kubesphere-monitoring-system/bad"}
    assert sorted(d["alerts"][0]["labels"]["id"] for d in listing["dead_letters"]) == ["0", "1", "2", "3", "4"]
    assert sink.bodies("bad") == []

    text = nm_deliveries(state).stdout
    assert "0 pending, 5 dead letters" in text
    assert "WebhookReceiver/kubesphere-monitoring-system/bad: 0 pending, 5 dead" in text
    assert text.count(f"reason: {reason}") == 5

    other = subprocess.run([sys.executable, "-m", "nmcore", "run", "--config-dir", str(config), "--state-dir",
                            str(state), "--listen", f"127.0.0.1:{free_port()}"], capture_output=True, text=True,
                           timeout=30)
    assert other.returncode == 2
    assert f"state dir {state} is in use by another nm run (pid {server.popen.pid})" in other.stderr

    first = listing["dead_letters"][0]
    moved = nm_deliveries(state, "redrive", first["id"])
    assert (moved.returncode, moved.stdout.strip()) == (0, "1 dead letter moved back to pending")
    wait_for(lambda: sink.bodies("bad"), "the running nm run to deliver the re-driven one")
    assert [b["alerts"][0]["labels"]["id"] for b in sink.bodies("bad")] == [first["alerts"][0]["labels"]["id"]]

    unknown = nm_deliveries(state, "redrive", "no-such-id")
    assert unknown.returncode == 1 and "no dead letter no-such-id" in unknown.stderr
    assert nm_deliveries(state, "redrive", "--all").stdout.strip() == "4 dead letters moved back to pending"
    wait_for(lambda: len(sink.bodies("bad")) == 5, "every re-driven delivery")
    assert deliveries_json(state) | {"state_file": ""} == {
        "state_file": "", "receivers": {}, "pending": [], "dead_letters": []}
    assert len(sink.bodies("good")) == 5


@pytest.mark.alertmanager
@pytest.mark.skipif(not Path(ALERTMANAGER).exists(), reason=f"{ALERTMANAGER} not found")
@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def test_an_alertmanager_ha_pair_sending_everything_twice_is_delivered_once(
        tmp_path: Path, sink: WebhookSink, nm: Callable[..., Nm], store: str, request: pytest.FixtureRequest) -> None:
    """On SQLite both Alertmanagers post to the one nm; on PostgreSQL each posts to its own nm replica."""
    config = write_config(tmp_path / "config", pager=sink.url("pager"))
    if store == "sqlite":
        servers = [nm(config, tmp_path / "state")]
    else:
        url = request.getfixturevalue("postgres_url")
        servers = [nm(config, url), nm(config, url)]
    alertmanagers: list[tuple[subprocess.Popen, str]] = []
    try:
        for n in range(2):  # no --cluster.* peers: two independent replicas, as an HA pair is to its receivers
            am_config = tmp_path / f"alertmanager-{n}.yml"
            am_config.write_text(yaml.safe_dump({
                "route": {"receiver": "nmcore", "group_by": ["alertname"], "group_wait": "1s",
                          "group_interval": "1s", "repeat_interval": "1h"},
                "receivers": [{"name": "nmcore", "webhook_configs": [{
                    "url": f"{servers[n % len(servers)].url}/api/v2/alerts", "send_resolved": True,
                    "max_alerts": 0}]}],
            }))
            port = free_port()
            with (tmp_path / f"alertmanager-{n}.log").open("wb") as log:
                process = subprocess.Popen(
                    [ALERTMANAGER, f"--config.file={am_config}", f"--storage.path={tmp_path / f'am-data-{n}'}",
                     f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                     f"--web.external-url=http://127.0.0.1:{port}", "--log.level=warn"], stdout=log, stderr=log)
            alertmanagers.append((process, f"http://127.0.0.1:{port}"))
        for _, url in alertmanagers:
            wait_for(partial(_ready, f"{url}/-/ready"), f"Alertmanager at {url}")

        names = [f"HighLoad{i}" for i in range(5)]
        now = datetime.datetime.now(datetime.UTC)
        firing = [{"labels": {"alertname": n, "severity": "page"}, "annotations": {"summary": f"{n} is high"},
                   "startsAt": now.isoformat()} for n in names]
        for _, url in alertmanagers:
            httpx.post(f"{url}/api/v2/alerts", json=firing, timeout=5).raise_for_status()
        wait_for(lambda: _deduplicated(servers) >= 5, "both Alertmanagers' sends of the firing alerts")

        ended = datetime.datetime.now(datetime.UTC).isoformat()
        resolved = [{**a, "endsAt": ended} for a in firing]
        for _, url in alertmanagers:
            httpx.post(f"{url}/api/v2/alerts", json=resolved, timeout=5).raise_for_status()
        wait_for(lambda: _deduplicated(servers) >= 10, "both Alertmanagers' sends of the resolved alerts")
        time.sleep(0.3)
    finally:
        for process, _ in alertmanagers:
            process.terminate()
            process.wait(10)

    arrived = [(a["labels"]["alertname"], a["status"]) for a in sink.alerts_by_path()["/pager"]]
    assert Counter(arrived) == Counter([(n, s) for n in names for s in ("firing", "resolved")]), arrived
    for name in names:
        assert [status for n, status in arrived if n == name] == ["firing", "resolved"]


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _deduplicated(servers: list[Nm]) -> float:
    metrics = "\n".join(httpx.get(f"{server.url}/metrics", timeout=5).text for server in servers)
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("nmcore_notifications_deduplicated_total "))


def test_overload_answers_503_with_retry_after_and_sigterm_keeps_the_rest_for_the_next_start(
        tmp_path: Path, slow_sink: RecordingSink, nm: Callable[..., Nm]) -> None:
    config = write_config(tmp_path / "config", slow=slow_sink.url("slow"))
    state = tmp_path / "state"
    server = nm(config, state, "--max-pending", "20", "--grace", "5")
    answers: dict[int, httpx.Response] = {}
    anyio.run(post_each, server.url, range(100), answers, 4)
    accepted = {str(i) for i, r in answers.items() if r.status_code == 200}
    refused = {str(i) for i, r in answers.items() if r.status_code == 503}
    assert accepted | refused == {str(i) for i in range(100)}
    assert len(accepted) >= 20 and len(refused) >= 50, (len(accepted), len(refused))
    assert {answers[int(i)].headers.get("retry-after") for i in refused} == {"5"}

    wait_for(lambda: len(slow_sink.received) >= 4, "the first deliveries")
    assert server.stop() == 0
    left = {j["alerts"][0]["labels"]["id"] for j in deliveries_json(state)["pending"]}
    assert left, "SIGTERM came after everything was delivered: it tested nothing"
    assert set(slow_sink.delivered("slow")) | left == accepted

    nm(config, state)
    counts = wait_for(lambda: set(c := slow_sink.delivered("slow")) >= accepted and c, "everything accepted")
    assert set(counts) == accepted, "alerts answered 503 were not accepted, so not delivered"
    assert max(counts.values()) == 1, "a graceful stop finishes the sends in flight: nothing arrives twice"


@pytest.mark.parametrize("problem", ["corrupt file", "not a directory", "unwritable"])
def test_a_bad_state_dir_is_a_clear_error_at_start_up(tmp_path: Path, problem: str) -> None:
    config = write_config(tmp_path / "config")
    state = tmp_path / "state"
    prefix: list[str] = []
    if problem == "corrupt file":
        state.mkdir()
        (state / STATE_FILE).write_bytes(b"\x00garbage, not SQLite\n" * 500)
        expected = f"state file {state / STATE_FILE} is corrupt (file is not a database)"
    elif problem == "not a directory":
        state.write_text("a file where the state dir should be\n")
        expected = f"state dir {state} exists but is not a directory"
    else:
        state.mkdir(mode=0o500)
        expected = f"state dir {state} is not writable (Permission denied)"
        if os.geteuid() == 0:  # root writes anywhere: drop that power for the child
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv to drop CAP_DAC_OVERRIDE")
            prefix = ["setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override"]
    result = subprocess.run([*prefix, sys.executable, "-m", "nmcore", "run", "--config-dir", str(config),
                             "--state-dir", str(state), "--listen", f"127.0.0.1:{free_port()}"],
                            capture_output=True, text=True, timeout=30, cwd=REPO)
    assert result.returncode == 2
    assert f"nm run: {expected}" in result.stderr
    assert "Traceback" not in result.stderr
