"""A notification too long for one WeChat Work message arrives as several, in order, nothing lost or broken."""

import pytest
from nm_wechat.sender import MAX_CONTENT_BYTES

from nmcore.testing import alert, send_request

pytestmark = pytest.mark.anyio

TENANT = "WechatReceiver/kubesphere-monitoring-system/test-user-wechat"


def chinese_alerts(count: int):
    return [
        alert(annotations={"summary": f"容器 web-{i} 内存使用率过高", "description": f"命名空间 demo 中的容器 web-{i} "
                           f"内存使用率已超过 90%，持续 5 分钟。请检查应用是否存在内存泄漏，或适当提高内存限制。"},
              namespace="demo", pod=f"web-{i}", severity="critical")
        for i in range(count)
    ]


async def test_a_long_chinese_alert_is_split_within_the_byte_limit(wechat, sender, seed_snapshot):
    request = send_request(seed_snapshot, TENANT, chinese_alerts(40))
    text = request.message.text
    assert len(text.encode()) > 3 * MAX_CONTENT_BYTES

    assert await sender.send(request) is None

    contents = wechat.contents()
    assert len(contents) >= 4
    assert all(len(c.encode("utf-8")) <= MAX_CONTENT_BYTES for c in contents)
    assert "".join(contents) == text  # in order, nothing lost
    assert all("\ufffd" not in c for c in contents)  # no character cut in half on the way
    assert all(c.endswith("\n") for c in contents[:-1])  # cut between lines
    assert all(m["touser"] == "user1|user2" and m["toparty"] == "party1|party2" for m in wechat.messages)


async def test_a_short_alert_is_one_message(wechat, sender, seed_snapshot):
    await sender.send(send_request(seed_snapshot, TENANT, chinese_alerts(1)))

    assert len(wechat.messages) == 1
