"""Replicas of `nm run` on one real PostgreSQL, as real processes, through faults: kill -9 of one replica, the
database restarting, one replica cut off from the database; and dead letters and redrive on the shared store.

What was answered 200 arrives; what arrives twice was in flight when the fault struck, so it is bounded by the
in-flight limit (sends per receiver x receivers); the replicas left standing recover without a restart.
"""

import contextlib
import itertools
import json
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import psycopg
import pytest
import yaml

from tests.pgserver import PostgresServer
from tests.support import Nm, wait_for
from tests.test_durable_delivery import RecordingSink, alert, post_each, write_config

pytestmark = pytest.mark.postgresql
PER_RECEIVER = 4
LEASE = ("--lease", "3")
"""A replica's claims last 3 s unrenewed (30 by default): short, so a take-over happens within the test."""


@pytest.fixture
def replicas(nm: Callable[..., Nm]) -> Callable[..., Nm]:
    """Start `nm run` replicas on a store URL, with short leases (the `nm` fixture: nm run processes)."""
    return lambda config, store, *options: nm(config, store, *LEASE, *options)



def _nm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", *args], capture_output=True, text=True, timeout=60)


def delivered(sink: RecordingSink, paths: list[str]) -> Counter[tuple[str, str]]:
    """How often each (receiver path, alert id) arrived."""
    return Counter((path, i) for path in paths for i in sink.delivered(path).elements())


def every(paths: list[str], ids: set[int]) -> set[tuple[str, str]]:
    return {(path, str(i)) for path in paths for i in ids}


def claimed_by(url: str, process: Nm) -> int:
    """The deliveries this replica has claimed now (its name holds its pid)."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM jobs WHERE claimed_by LIKE %s",
                           (f"%-{process.popen.pid}-%",)).fetchone()
    return row[0] if row else 0


def pending_in(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM jobs").fetchone()
    return row[0] if row else 0


def deliveries_counted(process: Nm) -> float:
    metrics = httpx.get(f"{process.url}/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith("nmcore_deliveries_total{"))


def test_kill_9_of_one_of_two_replicas_during_5000_deliveries_loses_none(
        tmp_path: Path, postgres_url: str, replicas: Callable[..., Nm], record_property: Callable) -> None:
    paths = [f"pager{n}" for n in range(4)]
    total = 1250  # alerts; each goes to the 4 receivers: 5,000 deliveries
    sink = RecordingSink(delay=0.01)  # sends stay in flight for a while: the kill catches some
    sink.start()
    config = write_config(tmp_path / "config", **{p: sink.url(p) for p in paths})
    doomed, survivor = replicas(config, postgres_url), replicas(config, postgres_url)
    answers: dict[int, httpx.Response] = {}

    def acknowledged() -> set[int]:
        return {i for i, r in list(answers.items()) if r.status_code == 200}

    async def post_until_killed() -> None:
        """Half the alerts to each replica; kill -9 one once 1,000 deliveries arrived and 400 more wait."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(post_each, doomed.url, range(0, total, 2), answers, 4)
            tasks.start_soon(post_each, survivor.url, range(1, total, 2), answers, 4)
            with anyio.fail_after(60):
                while len(sink.received) < 1000 or len(acknowledged()) * 4 - len(sink.received) < 400:
                    await anyio.sleep(0.005)
            held = claimed_by(postgres_url, doomed)
            doomed.kill()
            return held

    try:
        held = anyio.run(post_until_killed)
        arrived_at_kill = len(sink.received)
        accepted = acknowledged()
        again: dict[int, httpx.Response] = {}  # what Alertmanager sends again: those never answered 200 (none
        anyio.run(post_each, survivor.url, set(range(total)) - accepted, again)  # when all were in before the kill)
        assert all(r.status_code == 200 for r in again.values()) and len(again) == total - len(accepted)
        counts = wait_for(lambda: set(c := delivered(sink, paths)) >= every(paths, set(range(total))) and c,
                          "every alert at every receiver", timeout=90)
        wait_for(lambda: pending_in(postgres_url) == 0, "the store to empty")
        assert survivor.stop() == 0
    finally:
        sink.stop()
    twice = sorted(k for k, n in counts.items() if n > 1)
    limit = PER_RECEIVER * len(paths)
    summary = (f"kill -9 of one of two replicas after {arrived_at_kill} of {total * 4} deliveries had arrived, with "
               f"{held} claimed by it; all {total * 4} arrived, {len(twice)} twice: {twice}; at most "
               f"{sink.most_in_flight} sends were in flight at once")
    print(summary)
    record_property("replica_kill_9", summary)
    assert max(counts.values()) <= 2
    assert len(twice) <= limit, f"only sends in flight may arrive twice: {summary}"
    assert sink.most_in_flight <= limit, "the per-receiver limit holds across both replicas"


def test_the_database_restarting_mid_run_answers_503_meanwhile_and_both_replicas_recover(
        tmp_path: Path, postgres_server: PostgresServer, replicas: Callable[..., Nm]) -> None:
    url = postgres_server.new_database()
    paths = [f"hook{n}" for n in range(8)]
    sink = RecordingSink()
    sink.start()
    config = write_config(tmp_path / "config", **{p: sink.url(p) for p in paths})
    pair = [replicas(config, url), replicas(config, url)]
    answers: dict[int, list[httpx.Response]] = {}
    during: list[int] = []  # statuses answered while the database was down
    down = threading.Event()
    ids = itertools.count()

    async def keep_posting(until: anyio.Event) -> None:
        async with httpx.AsyncClient(timeout=20) as client:
            while not until.is_set():
                i = next(ids)
                response = await client.post(f"{pair[i % 2].url}/api/v2/alerts", json=alert(i))
                answers.setdefault(i, []).append(response)
                if down.is_set():
                    during.append(response.status_code)
                await anyio.sleep(0.01)

    async def restart_mid_run() -> float:
        stop = anyio.Event()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(keep_posting, stop)
            tasks.start_soon(keep_posting, stop)
            with anyio.fail_after(60):
                while len(sink.received) < 200:
                    await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(postgres_server.stop)
            down.set()
            with anyio.fail_after(60):
                while during.count(503) < 4:
                    await anyio.sleep(0.05)
            await anyio.to_thread.run_sync(postgres_server.start)
            down.clear()
            before = [deliveries_counted(p) for p in pair]
            restarted = len(answers)
            with anyio.fail_after(60):  # both replicas accept again and deliver what they claim
                while not (all(deliveries_counted(p) > b for p, b in zip(pair, before, strict=True))
                           and any(rs[-1].status_code == 200 for i, rs in answers.items() if i > restarted + 20)):
                    await anyio.sleep(0.1)
            stop.set()
        return len(during)

    try:
        anyio.run(restart_mid_run)
        assert set(during) <= {200, 503} and 503 in during
        refused = [rs[-1] for rs in answers.values() if rs[-1].status_code != 200]
        assert {r.status_code for r in refused} == {503} and {r.headers.get("retry-after") for r in refused} == {"2"}
        again: dict[int, httpx.Response] = {}  # Alertmanager retries what was answered 503
        anyio.run(post_each, pair[0].url, [i for i, rs in answers.items() if rs[-1].status_code != 200], again)
        assert {r.status_code for r in again.values()} <= {200}
        wait_for(lambda: set(delivered(sink, paths)) >= every(paths, set(answers)), "every alert answered 200",
                 timeout=60)
        assert all(p.popen.poll() is None for p in pair), "both replicas ran through it"
    finally:
        sink.stop()
    counts = delivered(sink, paths)
    twice = [k for k, n in counts.items() if n > 1]
    assert len(twice) <= PER_RECEIVER * len(paths) * 2, f"only claimed sends may arrive twice: {twice}"


class CuttableProxy:
    """A TCP forwarder between one replica and the database. `cut()` severs its connections and refuses new ones:
    that replica's network to the database is gone, the other replica's is not. `heal()` lets it through again."""

    def __init__(self, target: int):
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = True
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._open:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self._target))
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._open = False
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self._sockets.clear()

    def heal(self) -> None:
        self._open = True

    def close(self) -> None:
        self.cut()
        self._listener.close()


def test_a_replica_cut_off_from_the_database_loses_its_leases_to_the_other(
        tmp_path: Path, postgres_server: PostgresServer, replicas: Callable[..., Nm]) -> None:
    url = postgres_server.new_database()
    proxy = CuttableProxy(postgres_server.port)
    paths = ["slow0", "slow1"]
    sink = RecordingSink(delay=0.5)  # 12 alerts, 2 in flight per receiver: claims held for some seconds
    sink.start()
    config = write_config(tmp_path / "config", **{p: sink.url(p) for p in paths})
    try:
        cut_off = replicas(config, url.replace(f":{postgres_server.port}/", f":{proxy.port}/"),
                           "--sends-per-receiver", "2")
        for i in range(12):
            assert cut_off.post(alert(i)).status_code == 200
        wait_for(lambda: claimed_by(url, cut_off), "the first replica to hold claims (sends in flight)")
        other = replicas(config, url, "--sends-per-receiver", "2")

        proxy.cut()
        with psycopg.connect(url, autocommit=True) as conn:  # and its sessions on the server end
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE %s",
                         (f"nmcore %-{cut_off.popen.pid}-%",))
        refused = cut_off.post(alert("while-cut-off"))
        assert (refused.status_code, refused.headers.get("retry-after")) == (503, "2")

        counts = wait_for(lambda: set(c := delivered(sink, paths)) >= every(paths, set(range(12))) and c,
                          "the other replica to deliver everything, the cut-off one's claims included", timeout=60)
        wait_for(lambda: pending_in(url) == 0, "nothing left pending")
        assert claimed_by(url, cut_off) == 0
        assert cut_off.popen.poll() is None, "the cut-off replica is alive all along: its leases ran out"

        proxy.heal()
        wait_for(lambda: cut_off.post(alert("after")).status_code == 200, "the cut-off replica to accept again")
        wait_for(lambda: all(sink.delivered(p)["after"] for p in paths), "the alert it accepted after healing")
        assert other.popen.poll() is None
    finally:
        sink.stop()
        proxy.close()
    twice = [k for k, n in counts.items() if n > 1]
    assert len(twice) <= 4, f"only the cut-off replica's sends in flight may arrive twice: {twice}"


def test_dead_letters_listing_and_redrive_work_on_the_shared_store(
        tmp_path: Path, postgres_url: str, replicas: Callable[..., Nm]) -> None:
    sink = RecordingSink()
    sink.start()
    sink.script("bad", [404] * 3)
    config = write_config(tmp_path / "config", good=sink.url("good"), bad=sink.url("bad"))
    first, second = replicas(config, postgres_url), replicas(config, postgres_url)
    try:
        for i in range(3):
            assert (first, second)[i % 2].post(alert(i, "Dead")).status_code == 200
        wait_for(lambda: len(sink.bodies("good")) == 3, "the good receiver to get everything")

        def listing() -> dict:
            result = _nm("deliveries", "--store", postgres_url, "--json")
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        dead = wait_for(lambda: len((r := listing())["dead_letters"]) == 3 and r, "3 dead letters")
        reason = f"webhook {sink.url('bad')} answered HTTP 404: failure"
        assert dead["store"] == postgres_url and dead["pending"] == []
        assert dead["receivers"] == {"WebhookReceiver/kubesphere-monitoring-system/bad": {"pending": 0, "dead": 3}}
        assert {d["reason"] for d in dead["dead_letters"]} == {reason}
        text = _nm("deliveries", "--store", postgres_url).stdout
        assert f"{postgres_url}: 0 pending, 3 dead letters" in text and text.count(f"reason: {reason}") == 3

        one = dead["dead_letters"][0]
        moved = _nm("deliveries", "--store", postgres_url, "redrive", one["id"])
        assert (moved.returncode, moved.stdout.strip()) == (0, "1 dead letter moved back to pending")
        wait_for(lambda: sink.bodies("bad"), "a replica to deliver the re-driven one")
        assert [b["alerts"][0]["labels"]["id"] for b in sink.bodies("bad")] == [one["alerts"][0]["labels"]["id"]]
        assert _nm("deliveries", "--store", postgres_url, "redrive", "--all").stdout.strip() == \
            "2 dead letters moved back to pending"
        wait_for(lambda: len(sink.bodies("bad")) == 3, "every re-driven delivery")
        wait_for(lambda: listing() == {"store": postgres_url, "receivers": {}, "pending": [], "dead_letters": []},
                 "an empty listing")
    finally:
        sink.stop()


def history_in(url: str) -> list[tuple[str, str]]:
    """(receiver name, alert status) of every history entry in the database."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT h.receiver, a.status FROM history h JOIN history_alerts a ON a.history_seq = h.seq "
                            "ORDER BY h.seq").fetchall()
    return [(receiver.rsplit("/", 1)[1], status) for receiver, status in rows]


def test_resolved_follows_firing_from_a_killed_replica_to_another_after_a_config_change(
        tmp_path: Path, postgres_url: str, replicas: Callable[..., Nm]) -> None:
    """A delivers the firing to `a` and is killed; the configuration changes so that routing no longer chooses
    `a`; B, started on it, gets the resolved and still sends it to `a`. Either replica's history shows both."""
    sink = RecordingSink()
    sink.start()
    config = write_config(tmp_path / "config", a=sink.url("a"), b=sink.url("b"))
    try:
        first = replicas(config, postgres_url)
        assert first.post(alert(1, "NodeDown")).status_code == 200
        wait_for(lambda: sorted(history_in(postgres_url)) == [("a", "firing"), ("b", "firing")],
                 "A's firing deliveries in the shared history")
        first.kill()

        receivers = config / "receivers.yaml"
        documents = list(yaml.safe_load_all(receivers.read_text()))
        documents[0]["metadata"]["labels"] = {"type": "tenant", "user": "nobody"}  # `a`: a tenant's now
        receivers.write_text(yaml.safe_dump_all(documents))
        second = replicas(config, postgres_url)
        resolved = [{**alert(1, "NodeDown")[0], "status": "resolved", "endsAt": "2026-01-01T00:00:00Z"}]
        explained = httpx.post(f"{second.url}/api/v2/route", json=resolved, timeout=10).json()
        chosen = [r["receiver"] for r in explained["alerts"][0]["receivers"]]
        assert "WebhookReceiver/kubesphere-monitoring-system/a" not in chosen, explained
        assert second.post(resolved).status_code == 200
        wait_for(lambda: [b["alerts"][0]["status"] for b in sink.bodies("a")] == ["firing", "resolved"],
                 "the resolved at `a`, which got the firing")
        wait_for(lambda: len(history_in(postgres_url)) == 4, "B's deliveries in the shared history")
        entries = httpx.get(f"{second.url}/api/v2/history", params={"alertname": "NodeDown"}, timeout=10).json()
        assert sorted((e["receiver"].rsplit("/", 1)[1], e["alerts"][0]["status"]) for e in entries["history"]) == [
            ("a", "firing"), ("a", "resolved"), ("b", "firing"), ("b", "resolved")]
        listed = _nm("history", "--store", postgres_url, "--receiver", "WebhookReceiver/kubesphere-monitoring-system/a")
        assert listed.returncode == 0 and "NodeDown[firing]" in listed.stdout and "NodeDown[resolved]" in listed.stdout
    finally:
        sink.stop()


def test_readyz_says_the_database_is_unreachable_and_recovers_without_a_restart(
        tmp_path: Path, postgres_server: PostgresServer, replicas: Callable[..., Nm]) -> None:
    url = postgres_server.new_database()
    config = write_config(tmp_path / "config", hook="http://127.0.0.1:9/unused")
    replica = replicas(config, url)
    assert httpx.get(f"{replica.url}/readyz", timeout=5).status_code == 200
    postgres_server.stop()
    try:
        down = wait_for(lambda: (r := httpx.get(f"{replica.url}/readyz", timeout=5)).status_code == 503 and r,
                        "readyz to say the database is gone")
        assert down.text.startswith(f"store {url} unreachable: "), down.text
    finally:
        postgres_server.start()
    wait_for(lambda: httpx.get(f"{replica.url}/readyz", timeout=5).status_code == 200, "readyz to be ready again")
    assert replica.popen.poll() is None, "the same process, not a restart"
