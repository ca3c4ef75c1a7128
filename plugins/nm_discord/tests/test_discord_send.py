"""Posting to the fake Discord webhook: content and embeds, mentions that ping and text that must not, limits,
rate limits and refusals, and the webhook token kept out of everything an operator sees."""

import logging
import re

import nm_discord
import pytest

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import alert, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "DiscordReceiver/kubesphere-monitoring-system/test-user-discord"
GLOBAL = "DiscordReceiver/kubesphere-monitoring-system/global-discord"
USER, ROLE = "1045280620097572914", "1057234958281887744"


def request_for(yaml_text: str, receiver: str = TENANT, alerts=()):
    snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_discord])
    assert snapshot.problems == ()
    return send_request(snapshot, receiver, alerts)


def many_alerts(n: int):
    return [alert("firing", {"message": "restarted"}, namespace="demo", pod=f"pod-{i:03d}") for i in range(n)]


def pods_in(posted) -> list[str]:
    return re.findall(r"pod: `(pod-\d+)`", "\n".join(p.text for p in posted))


async def test_content_is_the_markdown_posted_to_the_receivers_own_webhook(discord, sender, seed):
    request = request_for(seed(discord.webhook_url()), alerts=[
        alert("firing", {"message": "restarted 5 times"}, alertname="KubePodCrashLooping", namespace="demo")])
    assert await sender.send(request) is None
    [posted] = discord.posted
    assert posted.body["content"].startswith("**[FIRING] KubePodCrashLooping: restarted 5 times in demo**")
    assert "> namespace: `demo`" in posted.body["content"]
    assert "embeds" not in posted.body


async def test_an_embed_through_the_configs_webhook_is_titled_and_coloured_by_status(discord, sender, seed):
    other = discord.webhook_url("1045315993465099999")
    await sender.send(request_for(seed("http://unused.invalid/x", global_webhook_url=other), GLOBAL,
                                  [alert("firing", namespace="demo")]))
    await sender.send(request_for(seed("http://unused.invalid/x", global_webhook_url=other), GLOBAL,
                                  [alert("resolved", namespace="demo")]))
    firing, resolved = (p.body["embeds"][0] for p in discord.posted)
    assert firing["title"] == "[FIRING] TestAlert: something happened in demo" and firing["color"] == 0xE01E5A
    assert resolved["title"].startswith("[RESOLVED]") and resolved["color"] == 0x2EB67D
    assert "> namespace: `demo`" in firing["description"]


@pytest.mark.parametrize("kind", ["content", "embed"])
async def test_configured_mentions_ping_and_mentions_inside_alerts_do_not(discord, sender, seed, kind):
    yaml_text = seed(discord.webhook_url(), kind=kind, users=f"[everyone, '{USER}']", roles=f"['{ROLE}']")
    sneaky = alert("firing", {"message": "@everyone look <@1111111111111111111> <@&2222222222222222222>"})
    await sender.send(request_for(yaml_text, alerts=[sneaky]))
    [posted] = discord.posted
    assert posted.body["content"].endswith(f"@everyone <@{USER}> <@&{ROLE}>")
    assert (posted.pinged_users, posted.pinged_roles, posted.pinged_everyone) == ([USER], [ROLE], True)
    discord.posted.clear()
    await sender.send(request_for(seed(discord.webhook_url(), kind=kind), alerts=[sneaky]))
    [posted] = discord.posted
    assert (posted.pinged_users, posted.pinged_roles, posted.pinged_everyone) == ([], [], False)


@pytest.mark.parametrize(("kind", "limit", "field"), [("content", 2000, "content"), ("embed", 4096, "description")])
async def test_120_alerts_arrive_complete_in_order_within_discords_limits(discord, sender, seed, kind, limit, field):
    discord.per_window = 1000
    await sender.send(request_for(seed(discord.webhook_url(), kind=kind, users=f"['{USER}']"),
                                  alerts=many_alerts(120)))
    assert len(discord.posted) > 2
    assert pods_in(discord.posted) == [f"pod-{i:03d}" for i in range(120)]
    parts = [p.body["content"] if kind == "content" else p.body["embeds"][0]["description"] for p in discord.posted]
    assert all(len(part) <= limit for part in parts), field
    assert [p.splitlines()[0] for p in parts] == [f"(part {i}/{len(parts)})" for i in range(1, len(parts) + 1)]
    assert [p.pinged_users for p in discord.posted] == [[USER]] + [[]] * (len(parts) - 1)


async def test_the_rate_limit_part_way_is_transient_with_its_wait_and_the_retry_posts_the_rest(discord, sender, seed):
    request = request_for(seed(discord.webhook_url()), alerts=many_alerts(120))
    with pytest.raises(TransientError, match=r"HTTP 429 'You are being rate limited.'.*after 5 of \d+") as caught:
        await sender.send(request)
    assert 0 < caught.value.retry_after <= 2
    discord.the_window_passes()
    discord.per_window = 1000
    assert await sender.send(request) is None
    assert pods_in(discord.posted) == [f"pod-{i:03d}" for i in range(120)]


async def test_an_outage_is_transient(discord, sender, seed):
    discord.outage = 1
    with pytest.raises(TransientError, match="HTTP 503"):
        await sender.send(request_for(seed(discord.webhook_url())))


@pytest.mark.parametrize("url", ["{base}/api/webhooks/1045315993465000000/x", "{base}/api/webhooks/" + "1045315993465099999/wrong"])
async def test_a_deleted_webhook_or_a_wrong_token_names_the_secret_to_fix(discord, sender, seed, url):
    with pytest.raises(PermanentError, match=r"the webhook was deleted or its URL is wrong.*put its URL into "
                                             r"Secret 'test-user-discord' key 'webhook'"):
        await sender.send(request_for(seed(url.format(base=discord.url))))


async def test_an_invalid_form_body_quotes_the_fields_discord_names(discord, sender, seed):
    discord.refusals.append((400, {"message": "Invalid Form Body", "code": 50035, "errors": {"embeds": {"0": {
        "description": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}]}}}}}))
    with pytest.raises(PermanentError, match=r"HTTP 400 'Invalid Form Body' \(code 50035\): "
                                             r"embeds.0.description: Must be 4096 or fewer in length."):
        await sender.send(request_for(seed(discord.webhook_url())))


async def test_a_webhook_url_that_is_not_discord_says_so_without_showing_it(discord, sender, seed):
    with pytest.raises(PermanentError, match=r"HTTP 404, not Discord's JSON.*is the URL in Secret "
                                             r"'test-user-discord' key 'webhook' a Discord webhook URL") as caught:
        await sender.send(request_for(seed(discord.url + "/hooks/secret-path-123")))
    assert "secret-path-123" not in str(caught.value)


async def test_the_webhook_token_is_hidden_in_the_request_log_and_every_refusal(discord, sender, seed, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; an operator may turn it up
    errors = []
    for prepare in (lambda: None, lambda: setattr(discord, "outage", 1), lambda: setattr(discord, "per_window", 0),
                    lambda: discord.webhooks.update({nm_id: "rotated" for nm_id in discord.webhooks})):
        prepare()
        request = request_for(seed(discord.webhook_url(token=conftest_token())))
        try:
            await sender.send(request)
        except (TransientError, PermanentError) as exc:
            errors.append(f"{exc} {exc!r}")
    assert len(errors) == 3 and len(discord.posted) == 1
    assert "/webhooks/<redacted>/<redacted>?wait=<redacted>" in caplog.text
    for text in [*errors, caplog.text, repr(sender), repr(request)]:
        assert conftest_token() not in text


def conftest_token() -> str:
    return "Jb0oFOjVzdRWlHfTEdNXVI5pCmLJ7SmUBmbJNpHRLQFN_XIxPmmq1ckU9DfS57SnOEJJ"


async def test_a_receivers_own_template_renders_the_markdown_it_posts(discord, sender, seed):
    yaml_text = seed(discord.webhook_url()).replace(
        "  type: content\n", "  type: content\n  template: \"**{{ alerts | length }}** alert(s) on {{ alerts[0].labels.pod }}\"\n")
    await sender.send(request_for(yaml_text, alerts=[alert(pod="web-1"), alert(pod="web-2")]))
    assert [p.body["content"] for p in discord.posted] == ["**2** alert(s) on web-1"]
