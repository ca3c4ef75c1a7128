"""Delivery: retries and backoff, Retry-After, dead letters, isolation between receivers, ordering,
redaction of secrets from errors, backpressure. A scripted in-process channel stands in for a service."""

import time

import anyio
import attrs
import pytest

from nmcore.alerts import AlertGroup
from nmcore.delivery import RetryPolicy
from nmcore.errors import Busy, NotReady
from nmcore.manager import Manager
from nmcore.settings import ManagerSettings
from nmcore.sources import StaticSource
from nmcore.testing import ScriptedChannel, alert, plugin_host, scripted_manifests

pytestmark = pytest.mark.anyio
FAST = RetryPolicy(initial_delay=0.02, max_delay=0.2, jitter=0.0, deadline=30)


def manager(channel: ScriptedChannel, *names: str, **settings) -> Manager:  # type: ignore[no-untyped-def]
    settings.setdefault("retry", FAST)
    return Manager.from_yaml(scripted_manifests(*names), plugins=[channel], settings=ManagerSettings(**settings))


def group(*alerts) -> AlertGroup:  # type: ignore[no-untyped-def]
    return AlertGroup(alerts=tuple(alerts) or (alert(namespace="demo"),))


async def test_transient_failures_are_retried_until_delivered() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["transient", "bug", "ok"]
    async with manager(channel, "a") as m:
        await m.submit(group())
        await m.drain(5)
    [outcome] = m.outcomes
    assert outcome.ok and outcome.attempts == 3
    assert len(channel.sent) == 1


async def test_retry_after_is_honoured() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["retry:0.6"]
    async with manager(channel, "a") as m:
        started = time.monotonic()
        await m.submit(group())
        await m.drain(5)
    assert channel.sent[0][1] - started >= 0.6


async def test_permanent_failure_goes_to_the_dead_letters_with_the_error() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["permanent"]
    async with manager(channel, "a", "b") as m:
        await m.submit(group())
        await m.drain(5)
        dead = await m.store.dead_letters()
    assert [d.reason for d in dead] == ["channel_not_found: invite the bot"]
    assert dead[0].job.receiver.endswith("/a")
    assert {o.receiver.rsplit("/", 1)[1]: o.ok for o in m.outcomes} == {"a": False, "b": True}


async def test_work_past_its_deadline_is_given_up_with_the_last_error() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["transient"] * 100
    policy = RetryPolicy(initial_delay=0.05, max_delay=0.05, jitter=0, deadline=0.3)
    async with manager(channel, "a", retry=policy) as m:
        await m.submit(group())
        await m.drain(5)
    [outcome] = m.outcomes
    assert not outcome.ok and outcome.error.startswith("gave up after") and "service unavailable" in outcome.error


async def test_secrets_are_scrubbed_from_errors_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["leak"]
    async with manager(channel, "a") as m:
        await m.submit(group())
        await m.drain(5)
    [outcome] = m.outcomes
    assert outcome.error == "bad token <redacted>"
    assert "hunter2" not in caplog.text and "hunter2" not in repr(m.snapshot)


async def test_a_slow_receiver_never_delays_the_others() -> None:
    channel = ScriptedChannel()
    channel.scripts["slow"] = ["slow:0.4"] * 10
    async with manager(channel, "slow", "fast") as m:
        for i in range(20):
            await m.submit(group(alert(namespace="demo", n=str(i))))
        with anyio.fail_after(5):
            while sum(1 for s in channel.sent if s[0] == "fast") < 20:
                await anyio.sleep(0.01)
        slow_so_far = sum(1 for s in channel.sent if s[0] == "slow")
        await m.drain(10)
    # The slow lane needs three rounds of 0.4 s for its first ten: the fast one did not wait for them.
    assert slow_so_far < 10, "the fast receiver finished while the slow one was still working"


async def test_resolved_is_never_delivered_before_its_firing() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["transient", "transient"]  # the firing notification fails twice first
    async with manager(channel, "a", dedup_window=0) as m:
        await m.submit(group(alert("firing", namespace="demo")))
        await m.submit(group(alert("resolved", namespace="demo")))
        await m.drain(5)
    assert [s[2][0][1] for s in channel.sent] == ["firing", "resolved"]


async def test_a_hung_send_times_out_and_is_retried() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["hang"]
    async with manager(channel, "a") as m:
        await m.submit(group())
        await m.drain(5)
    assert m.outcomes[0].ok and m.outcomes[0].attempts == 2


async def test_warnings_of_a_successful_send_are_reported(caplog: pytest.LogCaptureFixture) -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["warn"]
    async with manager(channel, "a") as m:
        await m.submit(group())
        await m.drain(5)
    assert m.outcomes[0].ok and m.outcomes[0].warnings == ("user x unknown",)
    assert "delivered to ScriptedReceiver/kubesphere-monitoring-system/a with a warning: user x unknown" in caplog.text


async def test_duplicates_within_the_window_are_delivered_once() -> None:
    channel = ScriptedChannel()
    async with manager(channel, "a") as m:
        first = await m.submit(group(alert(namespace="demo")))
        second = await m.submit(group(alert(namespace="demo")))
        changed = await m.submit(group(alert("resolved", namespace="demo")))
        await m.drain(5)
    assert (first.notifications, second.duplicates, changed.notifications) == (1, 1, 1)
    assert len(channel.sent) == 2


async def test_a_refire_within_the_window_is_delivered_and_the_ha_duplicate_of_it_is_not() -> None:
    channel = ScriptedChannel()
    async with manager(channel, "a") as m:
        answers = [await m.submit(group(alert(status, namespace="demo")))
                   for status in ("firing", "firing", "resolved", "resolved", "firing", "firing")]
        await m.drain(5)
    assert [a.duplicates for a in answers] == [0, 1, 0, 1, 0, 1]
    assert [statuses for _, _, statuses in channel.sent] == [
        (("TestAlert", "firing"),), (("TestAlert", "resolved"),), (("TestAlert", "firing"),)], "the receiver's last word is firing"


async def test_a_group_is_news_when_any_of_its_alerts_changed() -> None:
    channel = ScriptedChannel()
    one, two = alert(namespace="demo", n="1"), alert(namespace="demo", n="2")
    async with manager(channel, "a") as m:
        await m.submit(group(one, two))
        same = await m.submit(group(two, one))
        partly = await m.submit(group(one, attrs.evolve(two, status="resolved")))
        subset = await m.submit(group(one))
        await m.drain(5)
    assert (same.duplicates, partly.notifications, subset.duplicates) == (1, 1, 1)
    assert len(channel.sent) == 2


async def test_backpressure_refuses_new_work_beyond_the_bound() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["slow:0.3"] * 3
    async with manager(channel, "a", max_pending=2, per_receiver=1) as m:
        await m.submit(group(alert(n="1")))
        await m.submit(group(alert(n="2")))
        with pytest.raises(Busy) as refused:
            await m.submit(group(alert(n="3")))
        assert refused.value.retry_after > 0
        await m.drain(5)
        await m.submit(group(alert(n="3")))
        await m.drain(5)
    assert len(channel.sent) == 3


async def test_the_bound_is_hard_a_post_that_would_exceed_it_is_refused_whole() -> None:
    channel = ScriptedChannel()
    names = "abcde"
    for name in names:
        channel.scripts[name] = ["slow:0.3"] * 2
    async with manager(channel, *names, max_pending=12) as m:
        await m.submit(group(alert(n="1")))
        await m.submit(group(alert(n="2")))
        assert m.pending == 10
        with pytest.raises(Busy, match="10 deliveries pending; 5 more would exceed the limit of 12"):
            await m.submit(group(alert(n="3")))
        assert m.pending == 10, "nothing of the refused POST was accepted"
        await m.drain(5)
    assert len(channel.sent) == 10


async def test_a_post_that_can_never_fit_is_refused_and_says_to_raise_the_limit() -> None:
    channel = ScriptedChannel()
    names = [f"r{i}" for i in range(50)]
    async with manager(channel, *names, max_pending=10) as m:
        with pytest.raises(Busy, match=r"this POST needs 50 deliveries, more than the limit of 10 pending allows"):
            await m.submit(group())
        assert m.pending == 0
    assert channel.sent == []


async def test_no_alert_is_routed_before_the_configuration_is_loaded() -> None:
    class NeverLoads:
        async def run(self, publish) -> None:  # type: ignore[no-untyped-def]
            await anyio.sleep_forever()

    async with Manager(NeverLoads(), host=plugin_host(), settings=ManagerSettings(ready_wait=0.05)) as m:
        with pytest.raises(NotReady):
            await m.submit(group())


async def test_a_receiver_removed_before_sending_is_dead_lettered_with_the_reason() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["transient"]
    source = StaticSource.from_yaml(scripted_manifests("a"))
    async with Manager(source, host=plugin_host([channel]),
                     settings=ManagerSettings(retry=RetryPolicy(initial_delay=0.3, jitter=0))) as m:
        await m.submit(group())
        await anyio.sleep(0.1)
        m.publish([])  # the configuration changes: the receiver is gone
        await m.drain(5)
    [outcome] = m.outcomes
    assert not outcome.ok
    assert outcome.error == "receiver ScriptedReceiver/kubesphere-monitoring-system/a cannot send: it is no longer configured"


async def test_stopping_lets_sends_in_flight_finish_and_queued_work_stays_pending() -> None:
    channel = ScriptedChannel()
    channel.scripts["a"] = ["slow:0.3"] * 5
    async with manager(channel, "a", per_receiver=1) as m:
        for i in range(3):
            await m.submit(group(alert(n=str(i))))
        await anyio.sleep(0.1)  # the first send is in flight
    assert len(channel.sent) == 1, "the send in flight finished; nothing new started once stopping"
    assert [o.ok for o in m.outcomes] == [True]
    assert m.pending == 2


async def test_a_cluster_name_labels_alerts_that_have_none_and_keeps_their_fingerprints() -> None:
    channel = ScriptedChannel()
    unlabelled, edge = alert(namespace="demo", n="1"), alert(namespace="demo", n="2", cluster="edge")
    async with manager(channel, "a", cluster="prod") as m:
        await m.submit(group(unlabelled, edge))
        await m.drain(5)
        again = await m.submit(group(unlabelled, edge))
    [(_, text)] = channel.texts
    assert "n = 1\n  namespace = demo" in text and "cluster = prod\n  n = 1" in text
    assert "cluster = edge\n  n = 2" in text and "cluster = prod\n  n = 2" not in text
    assert again.duplicates == 1, "the same alerts again are still recognised as the same"
