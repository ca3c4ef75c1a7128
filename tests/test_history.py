"""Delivery history: every finished delivery is kept with its alerts, attempts, withheld receivers and outcome,
survives a restart in the SQLite state, is queried by `nm history` and GET /api/v2/history with the same
filters, is pruned by age and count, and stays on indexes at a million entries."""

import json
import sqlite3
import time
from pathlib import Path

import anyio
import attrs
import httpx
import pytest

from nmcore.alerts import Alert, AlertGroup
from nmcore.cli import main
from nmcore.delivery import RetryPolicy
from nmcore.history import AlertRecord, HistoryEntry, HistoryQuery, Retention, Withheld
from nmcore.manager import Manager
from nmcore.manifests import documents_from_text
from nmcore.plugins import PluginHost
from nmcore.server import create_app
from nmcore.settings import ManagerSettings
from nmcore.sources import FolderSource
from nmcore.sqlitestore import SCHEMA, STATE_FILE, SQLiteStore, connect, history_sql
from nmcore.store import MemoryStore, Store
from nmcore.testing import BOUNDED_READ_SLACK, EndlessReply, ScriptedChannel, scripted_manifests, serving
from tests.conftest import WebhookSink
from tests.support import serving_app

pytestmark = pytest.mark.anyio

FAST = ManagerSettings(dedup_window=0, tenant_resolver="namespace",
                       retry=RetryPolicy(initial_delay=0.01, max_delay=0.02, jitter=0))
TENANT_RECEIVER = """---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedReceiver
metadata: {name: bobs, labels: {type: tenant, user: bob}}
spec: {}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedReceiver
metadata: {name: picky, labels: {type: global}}
spec: {alertSelector: {matchLabels: {severity: critical}}}
"""


def group(name: str, status: str = "firing", namespace: str = "") -> AlertGroup:
    labels = {"alertname": name, **({"namespace": namespace} if namespace else {})}
    return AlertGroup(alerts=(Alert(status=status, labels=labels),), group_key=f"{{}}:{name}")


async def run_history(state: Path) -> ScriptedChannel:
    channel = ScriptedChannel()
    channel.scripts["flaky"] = ["transient", "ok"]
    channel.scripts["broken"] = ["leak"]
    manager = Manager.from_yaml(scripted_manifests("flaky", "broken") + TENANT_RECEIVER, plugins=[channel],
                                settings=FAST, store=SQLiteStore(state / STATE_FILE))
    async with manager:
        await manager.submit(group("DiskFull"))
        await manager.drain(10)
    return channel


async def test_every_attempt_and_outcome_is_kept_across_a_restart(tmp_path: Path) -> None:
    await run_history(tmp_path)
    # A new process on the same state dir reads what the first one recorded.
    store = SQLiteStore(tmp_path / STATE_FILE)
    await store.open()
    try:
        entries = {e.receiver: e for e in await store.history(HistoryQuery())}
    finally:
        await store.close()
    flaky, broken = entries["ScriptedReceiver/kubesphere-monitoring-system/flaky"], entries["ScriptedReceiver/kubesphere-monitoring-system/broken"]
    assert flaky.outcome == "delivered" and [a.ok for a in flaky.attempts] == [False, True]
    assert flaky.attempts[0].answer, "the failed attempt keeps the channel's answer"
    assert flaky.alerts == (AlertRecord(fingerprint=flaky.alerts[0].fingerprint, alertname="DiskFull",
                                        status="firing"),)
    assert broken.outcome == "dead" and broken.error
    assert "hunter2" not in json.dumps([e.to_json() for e in entries.values()]), "a secret reached the history"
    # bob's receiver (another tenant's, and the group has no namespace) is not listed: it was never a candidate.
    assert flaky.withheld == (Withheld(receiver="ScriptedReceiver/kubesphere-monitoring-system/picky",
                                       reason="its alertSelector does not match: severity=critical, but there is "
                                              "no severity label"),)
    assert "ScriptedReceiver/kubesphere-monitoring-system/bobs" not in entries


async def test_nm_history_filters_and_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    await run_history(tmp_path)
    capsys.readouterr()
    assert main(["history", "--state-dir", str(tmp_path), "--outcome", "dead", "--json"]) == 0
    dead = json.loads(capsys.readouterr().out)
    assert [e["receiver"] for e in dead] == ["ScriptedReceiver/kubesphere-monitoring-system/broken"]
    assert main(["history", "--state-dir", str(tmp_path), "--alertname", "DiskFull", "--since", "1h"]) == 0
    table = capsys.readouterr().out
    assert "delivered" in table and "dead" in table and "DiskFull[firing]" in table
    assert main(["history", "--state-dir", str(tmp_path), "--alertname", "Other"]) == 0
    assert "no deliveries match" in capsys.readouterr().out
    assert main(["history", "--state-dir", str(tmp_path), "--since", "yesterday"]) == 2
    assert "'yesterday' is not a time" in capsys.readouterr().err


async def test_http_history_answers_the_same_filters() -> None:
    channel = ScriptedChannel()
    channel.scripts["broken"] = ["permanent", "permanent"]
    async with Manager.from_yaml(scripted_manifests("ok", "broken"), plugins=[channel], settings=FAST) as manager:
        await manager.submit(group("A"))
        await manager.submit(group("B", "resolved"))
        await manager.drain(10)
        async with serving_app(create_app(manager)) as base, httpx.AsyncClient(base_url=base) as http:
            everything = (await http.get("/api/v2/history")).json()["history"]
            assert len(everything) == 4
            dead_b = (await http.get("/api/v2/history", params={"outcome": "dead", "alertname": "B"})).json()
            assert [(e["receiver"], e["alerts"][0]["status"]) for e in dead_b["history"]] == [
                ("ScriptedReceiver/kubesphere-monitoring-system/broken", "resolved")]
            fp = everything[0]["alerts"][0]["fingerprint"]
            by_fp = (await http.get("/api/v2/history", params={"fingerprint": fp})).json()["history"]
            assert {e["alerts"][0]["fingerprint"] for e in by_fp} == {fp} and len(by_fp) == 2
            bad = await http.get("/api/v2/history", params={"colour": "red"})
            assert bad.status_code == 400 and "unknown filter 'colour'" in bad.json()["error"]
            bad = await http.get("/api/v2/history", params={"outcome": "lost"})
            assert bad.status_code == 400 and "outcome must be one of" in bad.json()["error"]


def entry(i: int, finished: float) -> HistoryEntry:
    return HistoryEntry(id=f"job{i}", receiver=f"WebhookReceiver/ns/r{i % 50}", channel="webhook",
                        tenant=f"user{i % 20}", group_key="g", accepted=finished, finished=finished,
                        outcome="dead" if i % 10 == 0 else "delivered",
                        alerts=(AlertRecord(fingerprint=f"{i:016x}", alertname=f"Alert{i % 100}", status="firing"),))


@pytest.mark.parametrize("store_kind", ["sqlite", "memory", pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_retention_prunes_by_age_and_by_count(tmp_path: Path, store_kind: str,
                                                    request: pytest.FixtureRequest) -> None:
    store: Store
    if store_kind == "postgresql":
        from nmcore.pgstore import PostgresStore

        store = PostgresStore(request.getfixturevalue("postgres_url"))
    else:
        store = SQLiteStore(tmp_path / STATE_FILE) if store_kind == "sqlite" else MemoryStore()
    await store.open()
    try:
        now = time.time()
        await store.record_history([entry(i, now - 100 + i) for i in range(100)])  # finished 100s..1s ago
        assert await store.prune_history(Retention(max_age=50, max_entries=0), now) == 50
        assert await store.prune_history(Retention(max_age=0, max_entries=20), now) == 30
        kept = await store.history(HistoryQuery(limit=1000))
        assert [e.id for e in kept] == [f"job{i}" for i in range(99, 79, -1)]
    finally:
        await store.close()


def test_every_filter_uses_an_index_on_a_million_entries(tmp_path: Path) -> None:
    connect(tmp_path / STATE_FILE).close()  # the schema as nm run makes it
    conn = sqlite3.connect(tmp_path / STATE_FILE, isolation_level=None)
    for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-400000", "temp_store=MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    indexes = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                              "tbl_name LIKE 'history%'")]
    for index in indexes:  # filling first and indexing after is many times faster; the indexes come back below
        conn.execute(f"DROP INDEX {index}")
    now = time.time()
    rows = ((i, f"job{i}", f"WebhookReceiver/ns/r{i % 500}", "webhook", f"user{i % 200}", "g", now, now + i,
             "dead" if i % 10 == 0 else "delivered", "", "{}") for i in range(1, 1_000_001))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.executemany("INSERT INTO history_alerts VALUES (?, ?, ?, ?)",
                     ((i, f"{i:016x}", f"Alert{i % 1000}", "firing") for i in range(1, 1_000_001)))
    conn.execute("COMMIT")
    conn.executescript(SCHEMA)
    assert {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")} >= set(indexes)
    filters = [HistoryQuery(), HistoryQuery(receiver="WebhookReceiver/ns/r7"), HistoryQuery(tenant="user3"),
               HistoryQuery(alertname="Alert5"), HistoryQuery(fingerprint=f"{77:016x}"), HistoryQuery(outcome="dead"),
               HistoryQuery(since=now + 10, until=now + 20),
               HistoryQuery(receiver="WebhookReceiver/ns/r7", outcome="dead", since=now)]
    for query in filters:
        sql, params = history_sql(query)
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        scans = [step for step in plan if step.startswith("SCAN") and "USING" not in step]
        assert not scans, f"{query}: full scan in {plan}"
        if query != HistoryQuery():
            # An index scan of the whole table in time order is a full scan too, for a filter.
            assert not [s for s in plan if s.startswith("SCAN") and "history_finished" in s], f"{query}: {plan}"
    got = conn.execute(*history_sql(HistoryQuery(fingerprint=f"{77:016x}"))).fetchall()
    assert [row[0] for row in got] == ["job77"]
    conn.close()


async def test_history_write_failure_never_stops_delivery(tmp_path: Path) -> None:
    """History is an account, not the work: a store that cannot keep history still delivers."""

    class NoHistory(MemoryStore):
        async def record_history(self, entries: object) -> None:
            raise sqlite3.OperationalError("disk I/O error")

    channel = ScriptedChannel()
    async with Manager.from_yaml(scripted_manifests("a"), plugins=[channel], settings=FAST,
                                 store=NoHistory()) as manager:
        await manager.submit(group("A"))
        await manager.drain(10)
        assert await manager.history(HistoryQuery()) == []
        await anyio.sleep(0)
    assert len(channel.sent) == 1



def tenant_receiver(name: str) -> str:
    return TENANT_RECEIVER.replace("name: bobs", f"name: {name}")


async def test_resolved_follows_firing_across_a_restart_and_a_config_change(tmp_path: Path) -> None:
    """`a` got the firing; before the resolved arrives nm restarts and `a` becomes a tenant receiver that
    routing would no longer choose: it still gets the resolved. `gone` got the firing and was deleted: it does
    not. A resolved owed once is owed once: after delivery, the next resolved goes by routing alone."""
    firing, resolved = group("NodeDown"), group("NodeDown", "resolved")
    first = ScriptedChannel()
    async with Manager.from_yaml(scripted_manifests("a", "gone"), plugins=[first], settings=FAST,
                                 store=SQLiteStore(tmp_path / STATE_FILE)) as manager:
        await manager.submit(firing)
        await manager.drain(10)
    assert sorted(name for name, _, _ in first.sent) == ["a", "gone"]

    second = ScriptedChannel()
    changed = scripted_manifests("newcomer") + tenant_receiver("a")
    async with Manager.from_yaml(changed, plugins=[second], settings=FAST,
                                 store=SQLiteStore(tmp_path / STATE_FILE)) as manager:
        explained = await manager.router.explain(resolved.alerts[0], manager.snapshot)
        assert "ScriptedReceiver/kubesphere-monitoring-system/a" not in [r["receiver"] for r in explained["receivers"]]
        await manager.submit(resolved)
        await manager.drain(10)
        assert sorted((name, alerts) for name, _, alerts in second.sent) == [
            ("a", (("NodeDown", "resolved"),)), ("newcomer", (("NodeDown", "resolved"),))]
        await manager.submit(resolved)
        await manager.drain(10)
    assert sorted(name for name, _, _ in second.sent) == ["a", "newcomer", "newcomer"]


async def test_resolved_follows_firing_in_memory_too() -> None:
    channel = ScriptedChannel()
    async with Manager.from_yaml(scripted_manifests("a"), plugins=[channel], settings=FAST) as manager:
        await manager.submit(group("X"))
        await manager.drain(10)
        manager.publish(*documents_from_text(scripted_manifests() + tenant_receiver("a"), "changed.yaml"))
        await manager.submit(group("X", "resolved"))
        await manager.drain(10)
    assert [alerts for _, _, alerts in channel.sent] == [(("X", "firing"),), (("X", "resolved"),)]


async def test_a_receiver_owed_a_resolved_is_not_listed_as_withheld_from_it() -> None:
    """`a` got the firing, then its alertSelector changed to refuse the alert: it still gets the resolved (it is owed
    it), so the history of that group does not say it was withheld from `a`."""
    picky_a = """---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedReceiver
metadata: {name: a, labels: {type: global}}
spec: {alertSelector: {matchLabels: {severity: critical}}}
"""
    channel = ScriptedChannel()
    async with Manager.from_yaml(scripted_manifests("a", "b"), plugins=[channel], settings=FAST) as manager:
        await manager.submit(group("X"))
        await manager.drain(10)
        manager.publish(*documents_from_text(scripted_manifests("b") + picky_a, "changed.yaml"))
        await manager.submit(group("X", "resolved"))
        await manager.drain(10)
        entries = await manager.history(HistoryQuery())
    assert {(name, alerts) for name, _, alerts in channel.sent if alerts[0][1] == "resolved"} == {
        ("a", (("X", "resolved"),)), ("b", (("X", "resolved"),))}
    assert [e.withheld for e in entries if e.alerts[0].status == "resolved"] == [(), ()]


async def posted_outcomes(manager: Manager, sink: WebhookSink, path: str) -> list[tuple[str, str]]:
    """Send one group to the `ok` and `broken` receivers; the (receiver name, outcome) of every entry the history
    webhook at `path` got."""
    await manager.submit(group("Posted"))
    await manager.drain(10)
    with anyio.fail_after(10):
        while sum(len(b["history"]) for b in sink.bodies(path)) < 2:
            await anyio.sleep(0.05)
    return sorted((e["receiver"].rsplit("/", 1)[1], e["outcome"]) for b in sink.bodies(path) for e in b["history"])


async def test_the_history_webhook_gets_every_outcome(sink: WebhookSink) -> None:
    channel = ScriptedChannel()
    channel.scripts["broken"] = ["permanent"]
    settings = attrs.evolve(FAST, history_webhook=sink.url("/history"))
    async with Manager.from_yaml(scripted_manifests("ok", "broken"), plugins=[channel], settings=settings) as manager:
        assert await posted_outcomes(manager, sink, "/history") == [("broken", "dead"), ("ok", "delivered")]


def history_webhook_config(tmp_path: Path, receivers: str, history: str) -> Path:
    """A config folder with `receivers` and a NotificationManager whose `spec.history` is `history` (YAML that
    follows `history:`, indented by 4)."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "receivers.yaml").write_text(receivers)
    (folder / "nm.yaml").write_text(f"""
apiVersion: notification.kubesphere.io/v2beta2
kind: NotificationManager
metadata: {{name: notification-manager}}
spec:
  history:{history}""")
    return folder


async def test_the_notification_managers_history_webhook_gets_every_outcome(tmp_path: Path, sink: WebhookSink) -> None:
    """spec.history.webhook of a v2beta2 NotificationManager read from a config folder, as `nm run --config-dir`
    reads it, posted with its httpConfig's credentials; the `--history-webhook` flag, when given, goes first."""
    folder = history_webhook_config(tmp_path, scripted_manifests("ok", "broken"), f"""
    webhook:
      url: "{sink.url('/from-spec')}"
      httpConfig: {{bearerToken: {{valueFrom: {{secretKeyRef: {{name: history-token, key: token}}}}}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: history-token, namespace: kubesphere-monitoring-system}}
stringData: {{token: hist0ry-T0ken}}
""")
    channel = ScriptedChannel()
    channel.scripts["broken"] = ["permanent"]
    host = PluginHost(load_entrypoints=False, plugins=[channel])
    async with Manager(FolderSource(folder), settings=FAST, host=host) as manager:
        await manager.wait_ready(10)
        assert manager.history_webhook == sink.url("/from-spec")
        assert await posted_outcomes(manager, sink, "/from-spec") == [("broken", "dead"), ("ok", "delivered")]
        assert {r["headers"]["Authorization"] for r in sink.received if r["path"] == "/from-spec"} == {
            "Bearer hist0ry-T0ken"}, "the webhook's httpConfig applies"
        assert not [p for p in manager.snapshot.problems if "history" in p.message]
    flag = Manager(FolderSource(folder), settings=attrs.evolve(FAST, history_webhook=sink.url("/flag")), host=host)
    async with flag:
        await flag.wait_ready(10)
        assert flag.history_webhook == sink.url("/flag")


async def test_a_refusing_history_webhook_is_logged_without_its_credential(
        tmp_path: Path, sink: WebhookSink, caplog: pytest.LogCaptureFixture) -> None:
    folder = history_webhook_config(tmp_path, scripted_manifests("ok"), f"""
    webhook: {{url: "{sink.url('/refuses')}", httpConfig: {{bearerToken: {{value: hist0ry-T0ken}}}}}}
""")
    sink.script("/refuses", [(401, {}, "Bearer hist0ry-T0ken is not welcome here")] * 5)
    host = PluginHost(load_entrypoints=False, plugins=[ScriptedChannel()])
    async with Manager(FolderSource(folder), settings=FAST, host=host) as manager:
        await manager.wait_ready(10)
        await manager.submit(group("Posted"))
        await manager.drain(10)
        with anyio.fail_after(10):
            while "history webhook" not in caplog.text:
                await anyio.sleep(0.05)
    assert "not welcome here" in caplog.text, "the endpoint's answer is quoted"
    assert "hist0ry-T0ken" not in caplog.text


async def test_a_history_webhook_answering_an_endless_body_is_read_only_as_far_as_the_bound() -> None:
    server = EndlessReply(200)
    async with serving(server.app()) as url:
        settings = attrs.evolve(FAST, history_webhook=url + "/history")
        async with Manager.from_yaml(scripted_manifests("ok"), plugins=[ScriptedChannel()], settings=settings) as nm:
            await nm.submit(group("Posted"))
            await nm.drain(10)
            with anyio.fail_after(10):
                while not server.answered:
                    await anyio.sleep(0.05)
    assert server.written < BOUNDED_READ_SLACK, f"{server.written:,} bytes of the reply were taken"
