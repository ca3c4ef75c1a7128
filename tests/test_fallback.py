"""Fallback receivers: a dead-lettered notification, or one still failing after the configured time, goes to a
fallback of its own tenant, else a global one, else the NotificationManager's default (global only); never to
another tenant's receiver; history shows the original delivery and the fallback's."""

import json

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.delivery import RetryPolicy
from nmcore.fallback import FALLBACK_LABEL, choose_fallback
from nmcore.history import HistoryQuery
from nmcore.manager import Manager
from nmcore.manifests import documents_from_text
from nmcore.plugins import PluginHost
from nmcore.settings import ManagerSettings
from nmcore.snapshot import build_snapshot
from nmcore.testing import SCRIPTED_CONFIG, ScriptedChannel


def receiver(name: str, user: str | None, fallback: bool) -> str:
    labels = {"type": "tenant", "user": user} if user else {"type": "global"}
    if fallback:
        labels[FALLBACK_LABEL] = "true"
    shown = ", ".join(f'"{k}": "{v}"' for k, v in labels.items())
    return f"""---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedReceiver
metadata: {{name: {name}, labels: {{{shown}}}}}
spec: {{}}
"""


def notification_manager(fallback: dict, **spec: object) -> str:
    return f"""---
apiVersion: notification.kubesphere.io/v2beta2
kind: NotificationManager
metadata: {{name: nm}}
spec: {json.dumps({"fallback": fallback, **spec})}
"""


receivers = st.lists(st.tuples(st.sampled_from([None, "alice", "bob", "carol"]), st.booleans()),
                     min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(receivers, st.one_of(st.none(), st.integers(min_value=0, max_value=11)))
def test_a_fallback_is_never_another_tenants_receiver(spec: list[tuple[str | None, bool]], default: int | None) -> None:
    """Whatever the receivers, their fallback labels and the receiver the NotificationManager names as the default
    fallback (a tenant's, a global one, or none that exists)."""
    host = PluginHost(load_entrypoints=False, plugins=[ScriptedChannel()])
    text = SCRIPTED_CONFIG + "".join(receiver(f"r{i}", user, fb) for i, (user, fb) in enumerate(spec))
    if default is not None:
        text += notification_manager({"receiver": f"r{default}"})
    snapshot = build_snapshot(documents_from_text(text, "gen.yaml")[0], host.channels)
    named = snapshot.targets.get(snapshot.settings.default_fallback)
    assert named is None or named.tenant == "", "a tenant's receiver was taken as the default fallback"
    if default is not None and default < len(spec) and spec[default][0] is not None:
        assert any("is not a global receiver" in p.message for p in snapshot.problems)
    for ref, target in snapshot.targets.items():
        notification = Notification(receiver=ref, channel=target.channel, tenant=target.tenant, alerts=())
        chosen = choose_fallback(snapshot, notification)
        if chosen is None:
            continue
        assert chosen.receiver.ref != ref
        assert chosen.tenant in ("", target.tenant), f"{ref} of {target.tenant!r} fell back to {chosen.tenant!r}"
        own = [t for t in snapshot.targets_for_user(target.tenant) if FALLBACK_LABEL in t.receiver.labels]
        if target.tenant and own and FALLBACK_LABEL not in target.receiver.labels:
            assert chosen.tenant == target.tenant, "a fallback of the same tenant comes first"


@pytest.mark.parametrize(("fallback", "problem"), [
    ({"receiver": "nobody"}, "names no receiver 'nobody' @ $.spec.fallback.receiver"),
    ({"receiver": "bobs"}, "ScriptedReceiver/kubesphere-monitoring-system/bobs is not a global receiver: a default "
                           "fallback gets every tenant's alerts, so it must be global @ $.spec.fallback.receiver"),
    ({"receiver": "ops", "after": "soon"}, "@ $.spec.fallback.after"),
])
def test_a_default_fallback_that_cannot_be_used_is_a_located_problem(fallback: dict, problem: str) -> None:
    host = PluginHost(load_entrypoints=False, plugins=[ScriptedChannel()])
    text = SCRIPTED_CONFIG + receiver("bobs", "bob", False) + receiver("ops", None, False)
    snapshot = build_snapshot(documents_from_text(text + notification_manager(fallback), "nm.yaml")[0],
                              host.channels)
    assert snapshot.settings.default_fallback == ""
    assert [p.message for p in snapshot.problems if problem in p.message], [str(p) for p in snapshot.problems]


@pytest.mark.anyio
async def test_a_dead_letter_goes_to_its_tenants_fallback_and_history_shows_both() -> None:
    channel = ScriptedChannel()
    channel.scripts["bob-chat"] = ["permanent"]
    manifests = (SCRIPTED_CONFIG + receiver("bob-chat", "bob", False) + receiver("bob-pager", "bob", True)
                 + receiver("alice-pager", "alice", True) + receiver("ops", None, True))
    settings_ = ManagerSettings(tenant_resolver="namespace", dedup_window=0,
                                retry=RetryPolicy(initial_delay=0.01, jitter=0))
    async with Manager.from_yaml(manifests, plugins=[channel], settings=settings_) as manager:
        alert = Alert(labels={"alertname": "PodCrash", "namespace": "bob"})
        await manager.submit(AlertGroup(alerts=(alert,)))
        with anyio.fail_after(10):
            while sum(1 for name, _, _ in channel.sent if name == "bob-pager") < 2:
                await anyio.sleep(0.01)
            await manager.drain()
        entries = await manager.history(HistoryQuery(alertname="PodCrash"))
    sent = sorted(name for name, _, _ in channel.sent)
    # ops (global) and bob-pager get it by routing; bob-pager again as bob-chat's fallback; alice never.
    assert sent == ["bob-pager", "bob-pager", "ops"]
    outcomes = sorted((e.receiver.rsplit("/", 1)[1], e.outcome) for e in entries)
    assert outcomes == [("bob-chat", "dead"), ("bob-pager", "delivered"), ("bob-pager", "delivered"),
                        ("ops", "delivered")]


@pytest.mark.anyio
async def test_still_failing_after_the_configured_time_goes_to_the_default_fallback_once() -> None:
    """`spec.fallback.after`: bob's two receivers keep failing past it; each notification goes to the
    NotificationManager's default fallback (ops: global, not labelled) once while it is retried, and not again
    when one of them is dead-lettered in the end. History shows the originals and the fallbacks."""
    channel = ScriptedChannel()
    channel.scripts["bob-chat"] = ["transient"] * 10  # then delivered
    channel.scripts["bob-mail"] = ["transient"] * 10 + ["permanent"]
    manifests = (SCRIPTED_CONFIG + receiver("bob-chat", "bob", False) + receiver("bob-mail", "bob", False)
                 + receiver("ops", None, False) + receiver("alice-pager", "alice", True)
                 + notification_manager({"receiver": "ops", "after": "200ms"}))
    settings_ = ManagerSettings(tenant_resolver="namespace", dedup_window=0,
                                retry=RetryPolicy(initial_delay=0.05, max_delay=0.05, jitter=0))
    async with Manager.from_yaml(manifests, plugins=[channel], settings=settings_) as manager:
        await manager.wait_ready(10)
        assert manager.fallback_after == 0.2
        await manager.submit(AlertGroup(alerts=(Alert(labels={"alertname": "Slow", "namespace": "bob"}),)))
        with anyio.fail_after(20):
            while len(await manager.history(HistoryQuery(alertname="Slow"))) < 5:
                await anyio.sleep(0.05)
            await manager.drain()
        entries = await manager.history(HistoryQuery(alertname="Slow"))
    sent = [name for name, _, _ in channel.sent]
    assert sorted(set(sent)) == ["bob-chat", "ops"], "alice's fallback never"
    assert sent.count("ops") == 3, "routing's copy, and one fallback for each of bob's receivers"
    outcomes = sorted((e.receiver.rsplit("/", 1)[1], e.outcome, len(e.attempts)) for e in entries)
    assert outcomes == [("bob-chat", "delivered", 11), ("bob-mail", "dead", 11), ("ops", "delivered", 1),
                        ("ops", "delivered", 1), ("ops", "delivered", 1)]


@pytest.mark.anyio
async def test_a_batchs_wait_is_not_counted_as_time_spent_failing() -> None:
    """spec.fallback.after counts from when a delivery was first due: a batch held 3 s, past the 2 s limit, whose
    first send fails and whose retry succeeds, never went to the fallback (it failed for 50 ms). The margins are wide
    so a loaded machine's slow first send cannot cross the limit."""
    channel = ScriptedChannel()
    channel.scripts["bob-chat"] = ["transient"]  # then delivered
    manifests = (SCRIPTED_CONFIG + receiver("bob-chat", "bob", False) + receiver("ops", None, False)
                 + notification_manager({"receiver": "ops", "after": "2s"}, batchMaxWait="3s"))
    settings_ = ManagerSettings(tenant_resolver="namespace", dedup_window=0,
                                retry=RetryPolicy(initial_delay=0.05, max_delay=0.05, jitter=0))
    async with Manager.from_yaml(manifests, plugins=[channel], settings=settings_) as manager:
        await manager.wait_ready(10)
        await manager.submit(AlertGroup(alerts=(Alert(labels={"alertname": "Held", "namespace": "bob"}),)))
        with anyio.fail_after(20):
            while len(await manager.history(HistoryQuery(alertname="Held"))) < 2:
                await anyio.sleep(0.05)
            await manager.drain()
        entries = await manager.history(HistoryQuery(alertname="Held"))
    assert sorted(name for name, _, _ in channel.sent) == ["bob-chat", "ops"], "ops got routing's copy only"
    assert sorted((e.receiver.rsplit("/", 1)[1], e.outcome, len(e.attempts)) for e in entries) == [
        ("bob-chat", "delivered", 2), ("ops", "delivered", 1)]
    held = next(e for e in entries if e.receiver.endswith("bob-chat"))
    assert held.finished - held.accepted >= 3, "the history's account counts from acceptance, the wait included"
