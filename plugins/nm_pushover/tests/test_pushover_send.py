"""Pushing to the fake Pushover: title and message, profiles with devices and sound, the limits, the monthly
allowance, refusals, and the app token and user keys kept out of everything an operator sees."""

import logging
import re

import nm_pushover
import pytest

from nmcore.sdk import PermanentError, SendReport, TransientError
from nmcore.testing import alert, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "PushoverReceiver/kubesphere-monitoring-system/test-user-pushover"
GLOBAL = "PushoverReceiver/kubesphere-monitoring-system/global-pushover"
USER, OTHER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "gznej3rKEVAvPUxu9vvNnqpmZpokzF"


def request_for(yaml_text: str, receiver: str = TENANT, alerts=()):
    snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_pushover])
    assert snapshot.problems == ()
    return send_request(snapshot, receiver, alerts)


def many_alerts(n: int):
    return [alert("firing", {"message": "restarted"}, namespace="demo", pod=f"pod-{i:03d}") for i in range(n)]


def pods_in(pushes) -> list[str]:
    return re.findall(r"pod = (pod-\d+)", "\n".join(p.message for p in pushes))


async def test_the_subject_is_the_title_and_the_profile_picks_device_and_sound(pushover, sender, seed):
    request = request_for(seed(pushover.url), alerts=[
        alert("firing", {"message": "restarted 5 times"}, alertname="KubePodCrashLooping", namespace="demo")])
    assert await sender.send(request) is None
    [push] = pushover.to(USER)
    assert push.title == "[FIRING] KubePodCrashLooping: restarted 5 times in demo"
    assert push.message.startswith("[FIRING] KubePodCrashLooping: restarted 5 times\n  namespace = demo")
    assert (push.devices, push.sound) == (["droid2"], "bike")


async def test_every_profile_gets_it_and_an_inactive_device_means_all_devices(pushover, sender, seed):
    profiles = f"[{{userKey: {USER}, devices: [old-phone]}}, {{userKey: {OTHER_USER}, devices: [pixel]}}]"
    assert await sender.send(request_for(seed(pushover.url, profiles=profiles))) is None
    assert [p.devices for p in pushover.to(USER)] == [["droid2", "iphone"]]
    assert [p.devices for p in pushover.to(OTHER_USER)] == [["pixel"]]


async def test_60_alerts_arrive_complete_in_order_within_1024_characters(pushover, sender, seed):
    assert await sender.send(request_for(seed(pushover.url), alerts=many_alerts(60))) is None
    pushes = pushover.to(USER)
    assert len(pushes) > 4 and all(len(p.message) <= 1024 for p in pushes)
    assert pods_in(pushes) == [f"pod-{i:03d}" for i in range(60)]
    assert [p.message.splitlines()[0] for p in pushes] == [f"(part {i}/{len(pushes)})" for i in range(1, len(pushes) + 1)]


async def test_a_subject_longer_than_the_title_limit_is_shortened_visibly(pushover, sender, seed):
    words = " ".join(f"w{i}" for i in range(200))
    await sender.send(request_for(seed(pushover.url), alerts=[alert("firing", {"message": words})]))
    pushes = pushover.to(USER)
    assert len(pushes[0].title) == 250 and pushes[0].title.endswith("…")
    bodies = "".join(re.sub(r"^\(part \d+/\d+\)\n", "", p.message) for p in pushes)
    assert "".join(bodies.split()).count("".join(words.split())) == 1


async def test_a_used_up_monthly_allowance_waits_until_the_reset_and_resumes(pushover, sender, seed):
    request = request_for(seed(pushover.url), alerts=many_alerts(60))
    pushover.apps[next(iter(pushover.apps))] = 2
    with pytest.raises(TransientError, match=r"HTTP 429.*monthly message limit is used up.*after 2 of \d+") as caught:
        await sender.send(request)
    assert 0 < caught.value.retry_after <= 31 * 24 * 3600
    pushover.apps[next(iter(pushover.apps))] = 10000
    assert await sender.send(request) is None
    assert pods_in(pushover.to(USER)) == [f"pod-{i:03d}" for i in range(60)]


async def test_server_errors_are_transient_and_wait_five_seconds(pushover, sender, seed):
    pushover.outage = 1
    with pytest.raises(TransientError, match="HTTP 500") as caught:
        await sender.send(request_for(seed(pushover.url)))
    assert caught.value.retry_after == 5


async def test_an_unknown_app_token_names_the_secret(pushover, sender, seed):
    with pytest.raises(PermanentError, match=r"application token is invalid.*into Secret 'test-user-pushover' "
                                             r"key 'token', which PushoverConfig/.*/test-user-config uses"):
        await sender.send(request_for(seed(pushover.url, token="a" * 30)))


async def test_an_unknown_user_key_names_the_profile_not_the_key(pushover, sender, seed):
    unknown = "Zz" * 15
    with pytest.raises(PermanentError, match=r"profile 1's userKey is not an active user or group key") as caught:
        await sender.send(request_for(seed(pushover.url, profiles=f"[{{userKey: {unknown}}}]")))
    assert unknown not in f"{caught.value} {caught.value!r}"


async def test_a_bad_sound_of_one_profile_is_a_warning_and_the_others_get_it(pushover, sender, seed):
    profiles = f"[{{userKey: {OTHER_USER}, sound: kazoo}}, {{userKey: {USER}}}]"
    report = await sender.send(request_for(seed(pushover.url, profiles=profiles)))
    assert isinstance(report, SendReport)
    [warning] = report.warnings
    assert "profile 1" in warning and "sound is not a valid sound" in warning and "correct profile 1's sound" in warning
    assert len(pushover.to(USER)) == 1 and pushover.to(OTHER_USER) == []


async def test_the_app_token_and_user_keys_never_show_in_refusals_logs_or_reprs(pushover, sender, seed, caplog):
    caplog.set_level(logging.DEBUG)
    secret_token = "SECRETtokenSECRETtokenSECRET42"
    pushover.apps[secret_token] = 1
    errors = []
    for prepare in (lambda: None, lambda: None, lambda: setattr(pushover, "outage", 1),
                    lambda: pushover.users.pop(USER), lambda: pushover.apps.pop(secret_token)):
        prepare()
        request = request_for(seed(pushover.url, token=secret_token))
        try:
            await sender.send(request)
        except (TransientError, PermanentError) as exc:
            errors.append(f"{exc} {exc!r}")
    assert len(errors) == 4 and len(pushover.pushes) == 1
    snapshot = snapshot_from_yaml(seed(pushover.url, token=secret_token), plugins=[nm_pushover])
    for text in [*errors, caplog.text, repr(sender), repr(request), repr(snapshot.targets[TENANT])]:
        assert secret_token not in text and USER not in text


async def test_title_template_and_template_shape_the_push(pushover, sender, seed):
    yaml_text = seed(pushover.url).replace("  profiles: [{userKey: uQi", "  titleTemplate: \"Pager: {{ alerts | length }} alert(s)\"\n"
                                           "  template: \"{% for a in alerts %}{{ a.labels.pod }} {% endfor %}\"\n  profiles: [{userKey: uQi")
    await sender.send(request_for(yaml_text, alerts=[alert(pod="web-1"), alert(pod="web-2")]))
    [push] = pushover.to(USER)
    assert (push.title, push.message) == ("Pager: 2 alert(s)", "web-1 web-2")
