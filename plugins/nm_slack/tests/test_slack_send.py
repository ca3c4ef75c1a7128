"""Sending with chat.postMessage to the fake Slack: what arrives, and what the operator is told on failure."""

import base64
import logging
import re

import nm_slack
import pytest

from nmcore.sdk import PermanentError, SendReport, TransientError
from nmcore.testing import EndlessReply, alert, send_request, serving, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "SlackReceiver/kubesphere-monitoring-system/test-user-slack"
GLOBAL = "SlackReceiver/kubesphere-monitoring-system/global-slack-slack"
SECRET_TOKEN = "xoxb-4242-9999-NeverShowThisToken"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def request_for(yaml_text: str, receiver: str, alerts=()):
    snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_slack])
    assert snapshot.problems == ()
    return send_request(snapshot, receiver, alerts)


def block_texts(posted) -> list[str]:
    return [block["text"]["text"] for message in posted for block in message.blocks]


async def test_the_seed_tenant_receiver_posts_to_alert_with_the_token_from_its_secret(slack, sender, seed):
    request = request_for(seed(slack.url), TENANT, [alert("firing", {"message": "restarted 5 times"},
                                                          alertname="KubePodCrashLooping", namespace="demo",
                                                          pod="web-1")])
    assert await sender.send(request) is None
    [message] = slack.in_channel("alert")
    assert message.token == "test"
    assert "*[FIRING] KubePodCrashLooping*: restarted 5 times" in message.blocks[1]["text"]["text"]
    assert "• pod: `web-1`" in message.blocks[1]["text"]["text"]
    assert message.text.startswith("[FIRING] KubePodCrashLooping: restarted 5 times in demo")
    assert "  pod = web-1" in message.text and "*" not in message.text


async def test_the_global_receiver_posts_every_alert_to_global_with_the_default_config(slack, sender, seed):
    slack.tokens["xoxb-default"] = {"chat:write"}
    alerts = [alert(namespace="demo", pod="a"), alert(namespace="other", pod="b"), alert(pod="no-namespace")]
    request = request_for(seed(slack.url, default_token=b64("xoxb-default")), GLOBAL, alerts)
    await sender.send(request)
    [message] = slack.in_channel("global")
    assert message.token == "xoxb-default"
    assert [p for p in ("`a`", "`b`", "`no-namespace`") if p in " ".join(block_texts([message]))] == [
        "`a`", "`b`", "`no-namespace`"]
    assert slack.in_channel("alert") == []


async def test_each_channel_of_a_receiver_gets_the_notification(slack, sender, seed):
    yaml_text = seed(slack.url).replace("  channel: alert", "  channel: alert\n  channels: [ops, C000GLOBAL]")
    await sender.send(request_for(yaml_text, TENANT))
    assert [len(slack.in_channel(c)) for c in ("alert", "ops", "global")] == [1, 1, 1]


async def test_http_429_is_transient_with_the_retry_after_delay(slack, sender, seed):
    slack.fail_next(status=429, retry_after=17, body='{"ok": false, "error": "ratelimited"}')
    with pytest.raises(TransientError) as caught:
        await sender.send(request_for(seed(slack.url), TENANT))
    assert caught.value.retry_after == 17
    assert "HTTP 429" in str(caught.value)


async def test_ok_false_ratelimited_is_transient_with_the_retry_after_delay(slack, sender, seed):
    slack.fail_next(error="ratelimited", retry_after=3)
    with pytest.raises(TransientError) as caught:
        await sender.send(request_for(seed(slack.url), TENANT))
    assert caught.value.retry_after == 3
    assert "ratelimited" in str(caught.value)


async def test_server_errors_are_transient(slack, sender, seed):  # unreachable: the contract suite
    slack.fail_next(status=503, body="upstream unavailable")
    with pytest.raises(TransientError, match="HTTP 503"):
        await sender.send(request_for(seed(slack.url), TENANT))


def revoke(slack):
    slack.revoked.add("test")


def drop_scope(slack):
    slack.tokens["test"] = {"channels:read"}


@pytest.mark.parametrize(("setup", "channel", "expected"), [
    (None, "nowhere", [r"channel 'nowhere': channel_not_found",
                       r"Check the channel in SlackReceiver/kubesphere-monitoring-system/test-user-slack",
                       r"invited"]),
    (None, "quiet", [r"not_in_channel", r"/invite @<app name>` in 'quiet'"]),
    (None, "old", [r"is_archived", r"Unarchive it"]),
    (revoke, "alert", [r"token_revoked", r"Secret 'test-user-slack-secret' key 'token'",
                       r"SlackConfig/kubesphere-monitoring-system/test-user-config"]),
    (drop_scope, "alert", [r"missing_scope \(needed: chat:write, granted: channels:read\)",
                           r"Add chat:write under OAuth & Permissions",
                           r"Secret 'test-user-slack-secret' key 'token'"]),
])
async def test_permanent_errors_tell_the_operator_what_to_do(slack, sender, seed, setup, channel, expected):
    if setup:
        setup(slack)
    with pytest.raises(PermanentError) as caught:
        await sender.send(request_for(seed(slack.url, tenant_channel=channel), TENANT))
    for pattern in expected:
        assert re.search(pattern, str(caught.value)), (pattern, str(caught.value))
    assert slack.posted == []


async def test_a_token_slack_does_not_know_is_invalid_auth_naming_the_secret(slack, sender, seed):
    with pytest.raises(PermanentError) as caught:
        await sender.send(request_for(seed(slack.url, tenant_token=b64("xoxb-wrong")), TENANT))
    assert "invalid_auth: Slack does not accept the token" in str(caught.value)
    assert "Secret 'test-user-slack-secret' key 'token', which SlackConfig/kubesphere-monitoring-system/" \
           "test-user-config uses" in str(caught.value)


@pytest.mark.parametrize("code", ["not_authed", "account_inactive"])
async def test_other_token_errors_are_permanent_too(slack, sender, seed, code):
    slack.fail_next(error=code)
    with pytest.raises(PermanentError, match=f"{code}: Slack does not accept the token"):
        await sender.send(request_for(seed(slack.url), TENANT))


async def test_an_unknown_error_code_is_permanent_and_quoted(slack, sender, seed):
    slack.fail_next(error="team_access_not_granted")
    with pytest.raises(PermanentError, match=r"team_access_not_granted; see https://api\.slack\.com/methods"):
        await sender.send(request_for(seed(slack.url), TENANT))


async def test_a_reply_that_is_not_slack_json_points_at_api_url(slack, sender, seed):
    slack.fail_next(body="<html>captive portal</html>")
    with pytest.raises(PermanentError, match=r"not Slack.s JSON .*check apiUrl"):
        await sender.send(request_for(seed(slack.url), TENANT))


async def test_a_page_quoting_the_token_where_the_error_cuts_it_leaves_no_part_of_it(slack, sender, seed):
    """The error quotes the first 120 characters of a reply that is not Slack's JSON; a cut there inside the token
    (a proxy's page echoing the request) must not keep the half that the scrubber, which hides whole values, would
    then miss."""
    for before in (5, 12, 20):
        head = "<html>" + "x" * (119 - before - len("<html>") - 1) + " "
        slack.fail_next(body=f"{head}{SECRET_TOKEN}</html>")
        with pytest.raises(PermanentError, match=r"not Slack.s JSON") as failure:
            await sender.send(request_for(seed(slack.url, tenant_token=b64(SECRET_TOKEN)), TENANT))
        assert SECRET_TOKEN[:before] not in str(failure.value), before


async def test_a_missing_secret_means_the_receiver_cannot_send_and_says_which_field(slack, sender, seed):
    yaml_text = seed(slack.url).replace("name: test-user-slack-secret\n  namespace", "name: other\n  namespace")
    snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_slack])
    assert TENANT not in snapshot.targets
    assert snapshot.skipped[TENANT] == (  # no "did you mean 'default-slack-secret'": the default config's is not theirs
        "its config SlackConfig/kubesphere-monitoring-system/test-user-config cannot be used: Secret "
        "'test-user-slack-secret' not found in namespace 'kubesphere-monitoring-system' @ $.spec.slackTokenSecret")
    assert slack.calls == 0


def many_alerts(count: int, note: str = "") -> list:
    return [alert("firing" if i % 3 else "resolved", {"summary": f"alert number {i}", "note": note},
                  namespace="demo", pod=f"pod-{i:03d}") for i in range(count)]


def pods_in(text: str) -> list[str]:
    return re.findall(r"pod-\d{3}", text)


async def test_200_alerts_arrive_complete_and_in_order_across_several_messages(slack, sender, seed):
    alerts = many_alerts(200)
    await sender.send(request_for(seed(slack.url), TENANT, alerts))
    posted = slack.in_channel("alert")
    assert len(posted) >= 5  # 49 alerts at most per message, each within every limit the fake enforces
    expected = [f"pod-{i:03d}" for i in range(200)]
    assert pods_in("\n".join(block_texts(posted))) == expected
    assert pods_in("\n".join(m.text for m in posted)) == expected
    assert [m.blocks[0]["text"]["text"].rsplit(" ", 1)[-1] for m in posted] == [
        f"{n}/{len(posted)})" for n in range(1, len(posted) + 1)]


async def test_long_alerts_are_split_by_the_text_limit_without_losing_anything(slack, sender, seed):
    note = "word " * 500  # 2500 characters per alert: 200 of them are far beyond one message's 40000
    await sender.send(request_for(seed(slack.url), TENANT, many_alerts(200, note)))
    posted = slack.in_channel("alert")
    assert len(posted) >= 13
    assert pods_in("\n".join(m.text for m in posted)) == [f"pod-{i:03d}" for i in range(200)]
    assert "\n".join(block_texts(posted)).count(note.strip()) == 200


async def test_label_values_are_escaped_as_slack_requires(slack, sender, seed):
    await sender.send(request_for(seed(slack.url), TENANT, [alert(namespace="demo", pod="<script>&")]))
    [message] = slack.in_channel("alert")
    body = " ".join(block_texts([message])) + message.text
    assert "&lt;script&gt;&amp;" in body
    assert "<script>" not in body and "&;" not in body


async def test_a_retry_after_a_rate_limit_part_way_posts_only_the_rest(slack, sender, seed):
    request = request_for(seed(slack.url), TENANT, many_alerts(200))
    slack.fail_next(error="ratelimited", retry_after=1, after=2)
    with pytest.raises(TransientError, match=r"after 2 of \d+ messages were posted"):
        await sender.send(request)
    assert await sender.send(request) is None
    posted = slack.in_channel("alert")
    assert pods_in("\n".join(block_texts(posted))) == [f"pod-{i:03d}" for i in range(200)]


async def test_one_bad_channel_among_several_is_a_warning_and_the_others_get_it(slack, sender, seed):
    yaml_text = seed(slack.url).replace("  channel: alert", "  channel: alert\n  channels: [nowhere]")
    report = await sender.send(request_for(yaml_text, TENANT))
    assert isinstance(report, SendReport)
    [warning] = report.warnings
    assert "channel 'nowhere': channel_not_found" in warning
    assert len(slack.in_channel("alert")) == 1


async def test_the_token_never_shows_in_errors_logs_or_reprs(slack, sender, seed, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; an operator may turn it up
    leaky = seed(slack.url, tenant_token=b64(SECRET_TOKEN))
    errors = []
    for prepare in (lambda: None, lambda: slack.fail_next(status=429, retry_after=1),
                    lambda: slack.fail_next(status=500, body="boom"), lambda: slack.tokens.pop(SECRET_TOKEN)):
        slack.tokens[SECRET_TOKEN] = {"chat:write"}
        prepare()
        request = request_for(leaky, TENANT)
        try:
            await sender.send(request)
        except (TransientError, PermanentError) as exc:
            errors.append(f"{exc} {exc!r}")
    assert len(errors) == 3 and "invalid_auth" in errors[-1]
    assert slack.in_channel("alert")[0].token == SECRET_TOKEN
    assert caplog.records
    for text in [*errors, caplog.text, repr(sender), repr(request), repr(sender._destinations(request))]:
        assert SECRET_TOKEN not in text


async def test_an_alert_larger_than_a_section_is_split_not_truncated(slack, sender, seed):
    words = " ".join(f"w{i}" for i in range(3000))  # about 17000 characters, also the single alert's headline
    unbroken = "x&y" * 2000  # 6000 characters without a space, 10000 once escaped
    await sender.send(request_for(seed(slack.url), TENANT, [alert("firing", {"message": words}, blob=unbroken)]))
    posted = slack.in_channel("alert")
    assert len(posted) == 1
    heading, *sections = block_texts(posted)
    assert heading.startswith("*[FIRING] TestAlert: w0 w1 ") and heading.endswith("…*")
    squeezed = "".join("".join(sections).split())
    assert squeezed.count("".join(words.split())) == 1
    assert squeezed.count(unbroken.replace("&", "&amp;")) == 1


async def test_a_receiver_with_its_own_template_posts_that_text_as_is(slack, sender, seed):
    yaml_text = seed(slack.url).replace("  channel: alert", "  channel: alert\n  template: '{{ alerts[0].labels.pod }} <down>'")
    request = request_for(yaml_text, TENANT, [alert(namespace="demo", pod="web-1")])

    assert await sender.send(request) is None

    [message] = slack.in_channel("alert")
    assert message.text == "web-1 &lt;down&gt;\n" and message.blocks == []


async def test_a_huge_reply_is_read_only_as_far_as_the_bound(sender, seed):
    """A server declaring 10 GB of reply: a prefix is read, the send fails saying the answer is not Slack's."""
    server = EndlessReply(200, content_type="application/json")
    async with serving(server.app()) as url:
        with pytest.raises(PermanentError, match="the answer is not Slack's JSON"):
            await sender.send(request_for(seed(url), TENANT, [alert()]))
    assert server.requests == 1
    assert server.written < 32 * 1024 * 1024, f"{server.written:,} bytes of the reply were taken"
