"""Fallback receivers: a dead-lettered notification goes to a fallback of its own tenant, else a global one,
never to another tenant's receiver; history shows the dead delivery and the fallback's."""

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


receivers = st.lists(st.tuples(st.sampled_from([None, "alice", "bob", "carol"]), st.booleans()),
                     min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(receivers)
def test_a_fallback_is_never_another_tenants_receiver(spec: list[tuple[str | None, bool]]) -> None:
    host = PluginHost(load_entrypoints=False, plugins=[ScriptedChannel()])
    text = SCRIPTED_CONFIG + "".join(receiver(f"r{i}", user, fb) for i, (user, fb) in enumerate(spec))
    snapshot = build_snapshot(documents_from_text(text, "gen.yaml")[0], host.channels)
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
