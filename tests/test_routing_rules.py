"""alertSelector, Routers, Silences and routePolicy as a user sees them: who gets an alert, and `nm route`'s and
`nm silences`' answers naming every reason one does not."""

import datetime
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import nm_email
import pytest

from nmcore.alerts import AlertGroup
from nmcore.builtins.tenants import RbacResolver
from nmcore.manager import Manager
from nmcore.routing import Router
from nmcore.server import create_app
from nmcore.sources import StaticSource
from nmcore.testing import alert, plugin_host, rolebinding_yaml, snapshot_from_yaml
from tests.support import serving_app

HOST = plugin_host([nm_email])
DOCS = Path(__file__).parent / "data" / "original" / "docs"
V2 = "apiVersion: notification.kubesphere.io/v2beta2"


def at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def receivers_yaml() -> str:
    """alice may see ns-a, bob ns-b; each has a webhook receiver; ops has a global one."""
    return "\n---\n".join([rolebinding_yaml("alice", "ns-a"), rolebinding_yaml("bob", "ns-b"), f"""
{V2}
kind: Receiver
metadata: {{name: alice, labels: {{type: tenant, user: alice}}}}
spec: {{webhook: {{url: "http://127.0.0.1:9/alice"}}}}
""", f"""
{V2}
kind: Receiver
metadata: {{name: bob, labels: {{type: tenant, user: bob, team: security}}}}
spec:
  webhook: {{url: "http://127.0.0.1:9/bob"}}
  email: {{to: [bob@example.com]}}
""", f"""
{V2}
kind: Config
metadata: {{name: smtp, labels: {{type: default}}}}
spec: {{email: {{from: nm@example.com, smartHost: {{host: 127.0.0.1, port: 25}}}}}}
""", f"""
{V2}
kind: Receiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{webhook: {{url: "http://127.0.0.1:9/ops"}}}}
"""])


def route(text: str, *alerts: object, now: float | None = None) -> dict[str, list[str]]:
    snapshot = snapshot_from_yaml(text, plugins=[nm_email])
    router = Router(HOST, RbacResolver(), clock=(lambda: now) if now is not None else lambda: at("2026-01-01T00:00Z"))
    routed = anyio.run(router.route, AlertGroup(alerts=tuple(alerts)), snapshot)  # type: ignore[arg-type]
    return {r.notification.receiver: sorted(a.labels["alertname"] for a in r.notification.alerts) for r in routed}


def explain(text: str, one: object, now: float | None = None) -> dict:
    snapshot = snapshot_from_yaml(text, plugins=[nm_email])
    router = Router(HOST, RbacResolver(), clock=(lambda: now) if now is not None else lambda: at("2026-01-01T00:00Z"))
    return anyio.run(router.explain, one, snapshot)


def reason(explanation: dict, receiver: str) -> str:
    [entry] = [e for e in explanation["not_receiving"] if e["receiver"] == receiver]
    return entry["reason"]


# ---- alertSelector -------------------------------------------------------------------------------------------


def test_an_alert_selector_narrows_a_v2beta2_block_and_says_which_expression_failed() -> None:
    text = receivers_yaml().replace('spec: {webhook: {url: "http://127.0.0.1:9/ops"}}', """spec:
  webhook:
    url: "http://127.0.0.1:9/ops"
    alertSelector:
      matchLabels: {cluster: prod}
      matchExpressions: [{key: severity, operator: In, values: [critical]}]""")
    critical, warning = alert(alertname="Crit", severity="critical", cluster="prod"), alert(
        alertname="Warn", severity="warning", cluster="prod")
    assert route(text, critical, warning)["Receiver/ops:webhook"] == ["Crit"]
    assert reason(explain(text, warning), "Receiver/ops:webhook") == \
        "its alertSelector does not match: severity In (critical), but severity is 'warning'"


def test_a_v1alpha1_receiver_takes_an_alert_selector_too() -> None:
    text = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: critical-only, namespace: kubesphere-monitoring-system, labels: {type: global}}
spec:
  url: http://127.0.0.1:9/x
  alertSelector: {matchExpressions: [{key: severity, operator: Match, regexValue: "crit.*"}]}
"""
    assert route(text, alert(alertname="A", severity="critical"), alert(alertname="B", severity="warning"),
                 alert(alertname="C", severity="subcritical")) == {
        "WebhookReceiver/kubesphere-monitoring-system/critical-only": ["A"]}


def test_match_is_anchored_and_a_bad_regex_is_a_located_error_not_match_all() -> None:
    text = f"""
{V2}
kind: Receiver
metadata: {{name: prod, labels: {{type: global}}}}
spec:
  webhook:
    url: http://127.0.0.1:9/x
    alertSelector: {{matchExpressions: [{{key: env, operator: Match, regexValue: prod}}]}}
"""
    assert route(text, alert(alertname="P", env="prod"), alert(alertname="N", env="nonprod")) == {
        "Receiver/prod:webhook": ["P"]}
    bad = snapshot_from_yaml(text.replace("regexValue: prod", 'regexValue: "prod(["'))
    assert not bad.targets
    [problem] = bad.problems
    assert problem.object == "Receiver/prod" and problem.message.startswith("'prod([' is not a regular expression")
    assert problem.message.endswith("@ $.spec.webhook.alertSelector.matchExpressions[0].regexValue")


# ---- Routers and routePolicy ---------------------------------------------------------------------------------


def router(name: str, selector: str, receivers: str) -> str:
    return f"""
{V2}
kind: Router
metadata: {{name: {name}}}
spec:
  alertSelector: {selector}
  receivers: {receivers}
"""


def policy(name: str) -> str:
    return f"""
{V2}
kind: NotificationManager
metadata: {{name: nm}}
spec: {{routePolicy: {name}}}
"""


def test_a_router_sends_across_tenants_and_nm_route_says_via_router() -> None:
    text = receivers_yaml() + "\n---\n" + router("auditing-to-security", "{matchLabels: {alerttype: auditing}}",
                                                 "{selector: {matchLabels: {team: security}}, type: WebHook}")
    audit = alert(alertname="Audit", namespace="ns-a", alerttype="auditing")
    assert route(text, audit) == {"Receiver/alice:webhook": ["Audit"], "Receiver/bob:webhook": ["Audit"],
                                  "Receiver/ops:webhook": ["Audit"]}  # bob's email block: type is webhook only
    explanation = explain(text, audit)
    via = {e["receiver"]: e["via"] for e in explanation["receivers"]}
    assert via == {"Receiver/alice:webhook": "tenancy", "Receiver/bob:webhook": "Router auditing-to-security",
                   "Receiver/ops:webhook": "tenancy"}
    assert explanation["routers_matched"] == ["auditing-to-security"]


@pytest.mark.parametrize(("written", "expected"), [
    ("{name: [bob]}", ["Receiver/bob:email", "Receiver/bob:webhook"]),
    ("{regexName: 'b.b'}", ["Receiver/bob:email", "Receiver/bob:webhook"]),
    ("{regexName: 'b'}", []),  # anchored: the whole name
    ("{name: [bob], type: EMAIL}", ["Receiver/bob:email"]),
    ("{channels: [{tenant: bob, type: [Email]}]}", ["Receiver/bob:email"]),
    ("{channels: [{tenant: bob}]}", ["Receiver/bob:email", "Receiver/bob:webhook"]),
])
def test_a_router_names_receivers_every_way_the_original_does(written: str, expected: list[str]) -> None:
    text = receivers_yaml() + "\n---\n" + router("r", "{}", written) + "\n---\n" + policy("RouterOnly")
    assert sorted(route(text, alert(alertname="X", namespace="ns-a"))) == expected


def test_route_policies_say_which_receivers_they_dropped() -> None:
    rule = router("to-bob", "{matchLabels: {alertname: Disk}}", "{name: [bob], type: webhook}")
    disk, cpu = alert(alertname="Disk", namespace="ns-a"), alert(alertname="Cpu", namespace="ns-a")
    everyone = {"Receiver/alice:webhook", "Receiver/ops:webhook"}
    base = receivers_yaml() + "\n---\n" + rule
    assert set(route(base, disk)) == everyone | {"Receiver/bob:webhook"}
    first = base + "\n---\n" + policy("RouterFirst")
    assert set(route(first, disk)) == {"Receiver/bob:webhook"} and set(route(first, cpu)) == everyone
    assert reason(explain(first, disk), "Receiver/alice:webhook") == (
        "routePolicy RouterFirst: Router to-bob matched this alert, so only the receivers Routers name get it")
    only = base + "\n---\n" + policy("RouterOnly")
    assert set(route(only, disk)) == {"Receiver/bob:webhook"} and route(only, cpu) == {}
    assert reason(explain(only, cpu), "Receiver/ops:webhook").startswith("routePolicy RouterOnly")


def test_the_originals_router_example_routes_once_its_receiver_exists() -> None:
    example = (DOCS / "router-03-examples.yaml").read_text()
    text = example + f"""
---
{V2}
kind: Receiver
metadata: {{name: user1, labels: {{type: tenant, user: user1}}}}
spec: {{email: {{to: [user1@example.com]}}, webhook: {{url: "http://127.0.0.1:9/user1"}}}}
---
{V2}
kind: Config
metadata: {{name: smtp, labels: {{type: default}}}}
spec: {{email: {{from: nm@example.com, smartHost: {{host: 127.0.0.1, port: 25}}}}}}
"""
    cluster_level, namespaced = alert(alertname="NodeDown"), alert(alertname="PodCrash", namespace="ns-a")
    assert route(text, cluster_level, namespaced) == {"Receiver/user1:email": ["NodeDown"]}
    assert reason(explain(text, namespaced), "Receiver/user1:email").startswith("user 'user1' cannot access")


# ---- Silences ------------------------------------------------------------------------------------------------


def silence(name: str, labels: str, spec: str) -> str:
    return f"""
{V2}
kind: Silence
metadata: {{name: {name}, labels: {labels}}}
spec: {spec}
"""


def test_a_tenant_silence_mutes_only_its_tenants_receivers() -> None:
    text = receivers_yaml() + "\n---\n" + silence("alice-quiet", "{type: tenant, user: alice}",
                                                  "{matcher: {matchLabels: {alertname: Noisy}}}")
    noisy = alert(alertname="Noisy", namespace="ns-a")
    assert set(route(text, noisy)) == {"Receiver/ops:webhook"}
    assert reason(explain(text, noisy), "Receiver/alice:webhook") == (
        "muted by Silence alice-quiet of tenant 'alice' until it is deleted or disabled")


def test_a_scheduled_silence_mutes_only_inside_its_window_in_its_time_zone() -> None:
    text = receivers_yaml() + "\n---\n" + silence(
        "nightly", "{type: global}", "{matcher: {matchLabels: {namespace: ns-a}}, schedule: '0 22 * * *', "
                                     "duration: 8h, timeZone: Europe/Berlin}")
    one = alert(alertname="A", namespace="ns-a")
    for moment, muted in [("2026-03-01T20:59:59+00:00", False), ("2026-03-01T21:00:00+00:00", True),
                          ("2026-03-02T04:59:59+00:00", True), ("2026-03-02T05:00:00+00:00", False),
                          ("2026-07-01T20:30:00+00:00", True)]:  # summer time: 22:00 in Berlin is 20:00 UTC
        assert (route(text, one, now=at(moment)) == {}) == muted, moment
    explanation = explain(text, one, now=at("2026-03-01T23:00:00+00:00"))
    assert reason(explanation, "Receiver/ops:webhook") == (
        "muted by Silence nightly (global) until 2026-03-02T05:00:00Z")


def test_starts_at_and_duration_and_enabled() -> None:
    spec = "{matcher: {}, startsAt: '2026-05-01T10:00:00Z', duration: 1h, enabled: ENABLED}"
    text = receivers_yaml() + "\n---\n" + silence("window", "{type: global}", spec)
    one = alert(alertname="A")
    states = [route(text.replace("ENABLED", "true"), one, now=at(t)) == {} for t in
              ("2026-05-01T09:59:59Z", "2026-05-01T10:00:00Z", "2026-05-01T10:59:59Z", "2026-05-01T11:00:00Z")]
    assert states == [False, True, True, False]
    assert route(text.replace("ENABLED", "false"), one, now=at("2026-05-01T10:30:00Z")) != {}


def test_a_schedule_without_a_duration_is_a_located_error() -> None:
    snapshot = snapshot_from_yaml(silence("s", "{type: global}", "{matcher: {}, schedule: '0 22 * * *'}"))
    assert not snapshot.silences
    assert [p.message for p in snapshot.problems] == [
        "a schedule ('0 22 * * *') needs a duration: how long each window lasts (the original then mutes for good, "
        "every day) @ $.spec.duration"]


def test_the_originals_silence_examples_mute_what_they_say() -> None:
    for name in ("silence-01-examples.yaml", "silence-03-examples.yaml"):
        text = receivers_yaml() + "\n---\n" + (DOCS / name).read_text()
        in_test, elsewhere = alert(alertname="T", namespace="test"), alert(alertname="E", namespace="ns-a")
        late, noon = at("2026-03-01T23:00:00+00:00"), at("2026-03-01T12:00:00+00:00")
        assert route(text, in_test, elsewhere, now=late) == {"Receiver/alice:webhook": ["E"],
                                                             "Receiver/ops:webhook": ["E"]}
        expected_at_noon = ["E"] if name == "silence-01-examples.yaml" else ["E", "T"]
        assert route(text, in_test, elsewhere, now=noon)["Receiver/ops:webhook"] == expected_at_noon


def test_nm_silences_lists_the_active_ones_and_what_they_mute(tmp_path: Path) -> None:
    (tmp_path / "all.yaml").write_text(receivers_yaml() + "\n---\n" + silence(
        "nightly", "{type: global}", "{matcher: {matchLabels: {namespace: ns-a}}, schedule: '0 22 * * *', "
                                     "duration: 8h}") + "\n---\n" + silence(
        "alice-quiet", "{type: tenant, user: alice}", "{matcher: {}}"))
    done = subprocess.run([sys.executable, "-m", "nmcore", "silences", "--config-dir", str(tmp_path),
                           "--at", "2026-03-01T12:00:00Z"], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [
        "ACTIVE  Silence alice-quiet (until it is deleted or disabled): mutes alerts matching <everything> for the "
        "receivers of tenant 'alice': Receiver/alice:webhook"]
    done = subprocess.run([sys.executable, "-m", "nmcore", "silences", "--config-dir", str(tmp_path), "--all",
                           "--json", "--at", "2026-03-01T12:00:00Z"], capture_output=True, text=True, check=True)
    nightly = json.loads(done.stdout.splitlines()[1])
    assert (nightly["active"], nightly["when"], nightly["mutes"]) == (False, "starts 2026-03-01T22:00:00Z",
                                                                      "every receiver")


def test_a_resolved_alert_still_reaches_who_got_its_firing_after_a_silence_begins(sink: Any) -> None:
    now = [at("2026-05-01T09:00:00Z")]
    text = receivers_yaml().replace("http://127.0.0.1:9/", sink.url("/")) + "\n---\n" + silence(
        "later", "{type: global}", "{matcher: {}, startsAt: '2026-05-01T10:00:00Z'}")
    firing = alert(alertname="Down", namespace="ns-a")
    resolved = attrs.evolve(firing, status="resolved")

    async def scenario() -> None:
        manager = Manager(StaticSource.from_yaml(text), host=plugin_host([nm_email]), clock=lambda: now[0])
        async with manager:
            await manager.wait_ready(10)
            await manager.submit(AlertGroup(alerts=(firing,)))
            await manager.drain(20)
            now[0] = at("2026-05-01T11:00:00Z")  # the silence has begun
            await manager.submit(AlertGroup(alerts=(resolved, alert(alertname="New", namespace="ns-a"))))
            await manager.drain(20)

    anyio.run(scenario)
    got = {path: [(a["labels"]["alertname"], a["status"]) for a in alerts]
           for path, alerts in sink.alerts_by_path().items()}
    assert got == {"/alice": [("Down", "firing"), ("Down", "resolved")],
                   "/ops": [("Down", "firing"), ("Down", "resolved")]}  # "New" began inside the silence


# ---- Grouping --------------------------------------------------------------------------------------------------


def test_group_labels_regroup_each_receivers_alerts_and_batch_max_size_splits_them() -> None:
    text = receivers_yaml() + f"""
---
{V2}
kind: NotificationManager
metadata: {{name: nm}}
spec: {{groupLabels: [alertname, namespace], batchMaxSize: 2}}
"""
    alerts = [alert(alertname="A", namespace="ns-a", pod=str(i)) for i in range(3)] + [
        alert(alertname="B", namespace="ns-a"), alert(alertname="A", namespace="ns-b"), alert(alertname="A")]
    snapshot = snapshot_from_yaml(text, plugins=[nm_email])
    routed = anyio.run(Router(HOST, RbacResolver()).route, AlertGroup(alerts=tuple(alerts), group_key="{}:{}"),
                       snapshot)
    ops = sorted((sorted(r.notification.group_labels.items()), len(r.notification.alerts)) for r in routed
                 if r.notification.receiver == "Receiver/ops:webhook")
    assert ops == [([("alertname", "A")], 1), ([("alertname", "A"), ("namespace", "ns-a")], 1),
                   ([("alertname", "A"), ("namespace", "ns-a")], 2), ([("alertname", "A"), ("namespace", "ns-b")], 1),
                   ([("alertname", "B"), ("namespace", "ns-a")], 1)]
    alice = [r.notification for r in routed if r.notification.receiver == "Receiver/alice:webhook"]
    assert sorted(len(n.alerts) for n in alice) == [1, 1, 2]  # her namespace's alerts only, regrouped the same way
    assert len({n.group_key for n in alice}) == 2 and all(n.group_key.startswith("{}:{}/") for n in alice)


def withheld(text: str, *alerts: object) -> dict[str, str]:
    """What routing tells the history: each receiver chosen for the group that got none of it, and why."""
    snapshot = snapshot_from_yaml(text, plugins=[nm_email])
    found: dict[str, str] = {}
    router = Router(HOST, RbacResolver(), clock=lambda: at("2026-01-01T00:00Z"))
    anyio.run(router.route, AlertGroup(alerts=tuple(alerts)), snapshot, found)  # type: ignore[arg-type]
    return found


def test_the_history_is_told_why_each_chosen_receiver_got_nothing_and_not_about_other_tenants() -> None:
    text = receivers_yaml().replace('spec: {webhook: {url: "http://127.0.0.1:9/ops"}}', """spec:
  webhook:
    url: "http://127.0.0.1:9/ops"
    alertSelector: {matchLabels: {severity: critical}}""") + "\n---\n" + silence(
        "alice-quiet", "{type: tenant, user: alice}", "{matcher: {matchLabels: {alertname: Disk}}}") + f"""
---
{V2}
kind: Receiver
metadata: {{name: broken, labels: {{type: global}}}}
spec: {{webhook: {{url: "http://127.0.0.1:9/x", httpConfig: {{bearerToken: {{valueFrom: {{secretKeyRef: {{name: gone, key: t}}}}}}}}}}}}
"""
    found = withheld(text, alert(alertname="Disk", namespace="ns-a", severity="warning"))
    assert sorted(found) == ["Receiver/alice:webhook", "Receiver/broken:webhook", "Receiver/ops:webhook"]
    assert found["Receiver/ops:webhook"] == \
        "its alertSelector does not match: severity=critical, but severity is 'warning'"
    assert found["Receiver/alice:webhook"] == "muted by Silence alice-quiet of tenant 'alice' until it is deleted or disabled"
    assert found["Receiver/broken:webhook"].startswith("receiver cannot send: ")
    # One alert of the group reaching a receiver takes it off the list.
    assert "Receiver/ops:webhook" not in withheld(text, alert(alertname="Disk", namespace="ns-a", severity="warning"),
                                                  alert(alertname="Disk", namespace="ns-a", severity="critical"))


@pytest.mark.parametrize(("name", "reason"), [
    ("RouterOnly", "routePolicy RouterOnly: only receivers a Router names get alerts, and no Router matching this "
                   "alert names it"),
    ("RouterFirst", "routePolicy RouterFirst: Router to-bob matched this alert, so only the receivers Routers name "
                    "get it"),
])
def test_the_history_is_told_which_policy_dropped_tenancys_receivers(name: str, reason: str) -> None:
    text = receivers_yaml() + "\n---\n" + router("to-bob", "{matchLabels: {alertname: Disk}}", "{name: [bob]}") + \
        "\n---\n" + policy(name)
    found = withheld(text, alert(alertname="Disk", namespace="ns-a"))
    assert found == {"Receiver/alice:webhook": reason, "Receiver/ops:webhook": reason}


def test_nm_route_says_how_long_a_batch_waits() -> None:
    nm = f"""
---
{V2}
kind: NotificationManager
metadata: {{name: nm}}
spec: {{groupLabels: [alertname, namespace], batchMaxWait: 1m30s, batchMaxSize: 20}}
"""
    one = alert(alertname="Disk", namespace="ns-a")
    assert explain(receivers_yaml(), one)["batching"] is None
    assert explain(receivers_yaml() + nm, one)["batching"] == (
        "each receiver holds it up to 90s for more alerts with alertname='Disk', namespace='ns-a' (batchMaxWait of "
        "NotificationManager/nm), or until 20 alerts wait (batchMaxSize), then sends them as one notification")


def test_without_group_labels_alertmanagers_group_is_kept_whole() -> None:
    alerts = [alert(alertname=f"A{i}", namespace="ns-a") for i in range(150)]
    assert [len(v) for v in route(receivers_yaml(), *alerts).values()] == [150, 150]


def test_a_running_nm_explains_routers_and_silences_over_http() -> None:
    """POST /api/v2/route (what `nm route --url` asks), GET /api/v2/silences and /api/v2/status, on a real socket."""
    text = receivers_yaml() + "\n---\n" + router("to-bob", "{matchLabels: {alertname: Disk}}", "{name: [bob]}") + \
        "\n---\n" + silence("alice-quiet", "{type: tenant, user: alice}", "{matcher: {matchLabels: {alertname: Disk}}}")
    body = [{"labels": {"alertname": "Disk", "namespace": "ns-a"}, "annotations": {}}]

    async def ask() -> tuple[dict, dict, dict]:
        manager = Manager(StaticSource.from_yaml(text), host=plugin_host([nm_email]), clock=lambda: at("2026-01-01"))
        async with manager, serving_app(create_app(manager)) as url, httpx.AsyncClient(base_url=url) as client:
            await manager.wait_ready(10)
            routed = (await client.post("/api/v2/route", json=body)).json()
            return routed, (await client.get("/api/v2/silences")).json(), (await client.get("/api/v2/status")).json()

    routed, silences, status = anyio.run(ask)
    [explained] = routed["alerts"]
    assert {e["receiver"]: e["via"] for e in explained["receivers"]} == {
        "Receiver/bob:email": "Router to-bob", "Receiver/bob:webhook": "Router to-bob",
        "Receiver/ops:webhook": "tenancy"}
    assert reason(explained, "Receiver/alice:webhook") == \
        "muted by Silence alice-quiet of tenant 'alice' until it is deleted or disabled"
    [listed] = silences["silences"]
    assert (listed["silence"], listed["active"], listed["mutes"]) == (
        "alice-quiet", True, "the receivers of tenant 'alice': Receiver/alice:webhook")
    assert status["route_policy"] == "All" and status["silences"] == silences["silences"]
    assert status["routers"] == [{"router": "to-bob", "alert_selector": "alertname=Disk",
                                  "receivers": ["Receiver/bob:email", "Receiver/bob:webhook"]}]
