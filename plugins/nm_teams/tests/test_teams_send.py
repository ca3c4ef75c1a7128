"""Posting to the fake Teams Workflows webhook: the Adaptive Card, mentions, the 28 KB limit kept (the
webhook would accept and then fail silently), refusals, throttling, and the sig kept out of everything."""

import logging
import re

import nm_teams
import pytest

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import alert, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "TeamsReceiver/kubesphere-monitoring-system/test-user-teams"
GLOBAL = "TeamsReceiver/kubesphere-monitoring-system/global-teams"
OTHER = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def request_for(yaml_text: str, receiver: str = TENANT, alerts=()):
    snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_teams])
    assert snapshot.problems == ()
    return send_request(snapshot, receiver, alerts)


def many_alerts(n: int):
    return [alert("firing", {"message": "restarted", "description": "x" * 200}, namespace="demo", pod=f"pod-{i:03d}")
            for i in range(n)]


def pods_in(cards) -> list[str]:
    return re.findall(r"pod: (pod-\d+)", "\n".join(t for c in cards for t in c.texts))


async def test_an_alert_is_a_styled_container_with_its_facts_under_the_subject(teams, sender, seed):
    request = request_for(seed(teams.webhook_url()), alerts=[
        alert("firing", {"message": "restarted 5 times"}, alertname="KubePodCrashLooping", namespace="demo"),
        alert("resolved", {"message": "fine again"}, alertname="KubePodCrashLooping", namespace="demo")])
    assert await sender.send(request) is None
    [card] = teams.posted
    assert card.content["type"] == "AdaptiveCard" and card.content["version"] == "1.4"
    heading, firing, resolved = card.content["body"]
    assert heading["text"] == "[FIRING] KubePodCrashLooping (1 firing, 1 resolved) in demo"
    assert (firing["style"], resolved["style"]) == ("attention", "good")
    assert firing["items"][0]["text"] == "[FIRING] KubePodCrashLooping: restarted 5 times"
    assert {"title": "namespace", "value": "demo"} in firing["items"][1]["facts"]
    assert teams.failed_runs == []


async def test_configured_mentions_notify_and_text_inside_alerts_does_not(teams, sender, seed):
    mentions = "[{id: alice@contoso.com, name: Alice}, {id: 5f3e0b0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b, name: Ops Lead}]"
    sneaky = alert("firing", {"message": "<at>Mallory</at> look"})
    await sender.send(request_for(seed(teams.webhook_url(), mentions=mentions), alerts=[sneaky]))
    [card] = teams.posted
    assert card.texts[-1] == "<at>Alice</at> <at>Ops Lead</at>"
    assert card.mentioned == ["alice@contoso.com", "5f3e0b0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"]


async def test_150_alerts_arrive_complete_in_order_each_message_under_28_kb(teams, sender, seed):
    await sender.send(request_for(seed(teams.webhook_url(), mentions="[{id: a@b.c, name: A}]"),
                                  alerts=many_alerts(150)))
    assert teams.failed_runs == []
    assert len(teams.posted) > 2
    assert pods_in(teams.posted) == [f"pod-{i:03d}" for i in range(150)]
    total = len(teams.posted)
    assert [c.texts[0].rsplit(" ", 2)[-2:] for c in teams.posted] == [["(part", f"{i}/{total})"] for i in range(1, total + 1)]
    assert [bool(c.mentioned) for c in teams.posted] == [True] + [False] * (total - 1)


async def test_an_alert_larger_than_a_card_is_cut_into_text_not_lost(teams, sender, seed):
    huge = " ".join(f"w{i}" for i in range(12000))  # about 80 KB
    await sender.send(request_for(seed(teams.webhook_url()), alerts=[alert("firing", {"description": huge})]))
    assert teams.failed_runs == [] and len(teams.posted) >= 3
    squeezed = "".join("".join(t.split()) for c in teams.posted for t in c.texts[1:])
    assert squeezed.count("".join(huge.split())) == 1


async def test_the_config_webhook_serves_the_global_receiver(teams, sender, seed):
    teams.workflows[OTHER] = "other-sig"
    await sender.send(request_for(seed("http://unused.invalid/x", global_webhook_url=teams.webhook_url(OTHER)),
                                  GLOBAL))
    assert len(teams.posted) == 1


async def test_throttling_is_transient_with_its_wait_and_the_retry_posts_only_the_rest(teams, sender, seed):
    request = request_for(seed(teams.webhook_url()), alerts=many_alerts(150))
    teams.throttle, teams.throttle_after = 1, 2
    with pytest.raises(TransientError, match=r"HTTP 429 WorkflowRequestsThrottled.*after 2 of \d+") as caught:
        await sender.send(request)
    assert caught.value.retry_after == 2
    assert await sender.send(request) is None
    assert pods_in(teams.posted) == [f"pod-{i:03d}" for i in range(150)]


@pytest.mark.parametrize(("url", "expected"), [
    ("{base}/powerautomate/automations/direct/workflows/" + "b840a60a611b4d3287be6d76fe1930e2/triggers/manual/paths/invoke?api-version=1",
     r"401 DirectApiAuthorizationRequired.*copy the workflow's whole webhook link into Secret 'test-user-teams'"),
    ("{base}/powerautomate/automations/direct/workflows/" + "00000000000000000000000000000000/triggers/manual/paths/invoke?sig=x",
     r"404 WorkflowNotFound.*create one with \"Send webhook alerts to a channel\" and put its webhook link into"),
    ("{base}/not/a/workflow", r"HTTP 404, not a Workflows answer: is the URL in Secret 'test-user-teams' key"),
])
async def test_refusals_say_what_to_change(teams, sender, seed, url, expected):
    with pytest.raises(PermanentError, match=expected):
        await sender.send(request_for(seed(url.format(base=teams.url))))


async def test_a_turned_off_workflow_says_so(teams, sender, seed):
    teams.disabled.add(next(iter(teams.workflows)))
    with pytest.raises(PermanentError, match=r"409 WorkflowTriggerIsNotEnabled.*turn it on in Teams"):
        await sender.send(request_for(seed(teams.webhook_url())))


async def test_the_sig_is_hidden_in_the_request_log_and_every_refusal(teams, sender, seed, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; an operator may turn it up
    sig = next(iter(teams.workflows.values()))
    errors = []
    for prepare in (lambda: None, lambda: setattr(teams, "throttle", 1),
                    lambda: teams.workflows.update({k: "rotated" for k in teams.workflows})):
        prepare()
        request = request_for(seed(teams.webhook_url(sig=sig)))
        try:
            await sender.send(request)
        except (TransientError, PermanentError) as exc:
            errors.append(f"{exc} {exc!r}")
    assert len(errors) == 2 and len(teams.posted) == 1
    assert "sig=<redacted>" in caplog.text
    for text in [*errors, caplog.text, repr(sender), repr(request)]:
        assert sig not in text


async def test_a_receivers_own_template_replaces_the_card_layout(teams, sender, seed):
    yaml_text = seed(teams.webhook_url()).replace(
        "  mentionedUsers: []\n", "  mentionedUsers: []\n  template: \"{{ alerts | length }} alert(s) on {{ alerts[0].labels.pod }}\"\n")
    await sender.send(request_for(yaml_text, alerts=[alert(pod="web-1"), alert(pod="web-2")]))
    [card] = teams.posted
    assert card.texts[1:] == ["2 alert(s) on web-1"]
