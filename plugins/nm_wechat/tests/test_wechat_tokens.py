"""The access_token: fetched once for many concurrent sends, refreshed once when WeChat Work says it expired."""

import nm_wechat
import pytest

from nmcore.sdk import PermanentError
from nmcore.testing import alert, send_all, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "WechatReceiver/kubesphere-monitoring-system/test-user-wechat"
CONCURRENT = 50


def distinct_requests(snapshot, count: int):
    return [send_request(snapshot, TENANT, [alert(namespace="demo", pod=f"web-{i}")]) for i in range(count)]


async def test_one_token_fetch_serves_concurrent_sends(wechat, sender, seed_snapshot):
    errors = await send_all(sender, distinct_requests(seed_snapshot, CONCURRENT))

    assert errors == []
    assert wechat.calls["gettoken"] == 1
    assert len(wechat.messages) == CONCURRENT


async def test_expired_token_is_refreshed_once_and_the_sends_go_through(wechat, sender, seed_snapshot):
    await sender.send(send_request(seed_snapshot, TENANT))
    wechat.expire_tokens()

    errors = await send_all(sender, distinct_requests(seed_snapshot, CONCURRENT))

    assert errors == []
    assert wechat.replies[42001] == CONCURRENT  # every send met the expired token ...
    assert wechat.calls["gettoken"] == 2  # ... and one new token served them all
    assert len(wechat.messages) == 1 + CONCURRENT

    await sender.send(send_request(seed_snapshot, TENANT))
    assert wechat.calls["gettoken"] == 2  # the new token was cached under the key it is looked up by
    assert wechat.replies[42001] == CONCURRENT


async def test_a_failed_fetch_is_shared_not_repeated_by_every_waiting_send(wechat, sender, seed_snapshot):
    wechat.secret = "rotated-secret"

    errors = await send_all(sender, distinct_requests(seed_snapshot, 20))

    assert len(errors) == 20 and all(isinstance(e, PermanentError) and "40001" in str(e) for e in errors)
    assert wechat.calls["gettoken"] == 1


async def test_after_the_secret_is_fixed_the_next_send_fetches_with_it(wechat, sender, seed_snapshot, seed_yaml):
    """Failures are not cached, and the cache key holds the Secret: a rotated Secret gets a token of its own."""
    wechat.secret = "rotated-secret"
    with pytest.raises(PermanentError, match="40001"):
        await sender.send(send_request(seed_snapshot, TENANT))

    rotated = snapshot_from_yaml(seed_yaml(secret="rotated-secret"), plugins=[nm_wechat])
    await sender.send(send_request(rotated, TENANT))

    assert wechat.calls["gettoken"] == 2 and len(wechat.messages) == 1
