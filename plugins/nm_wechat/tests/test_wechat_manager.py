"""End to end through nmcore's Manager: Alertmanager's payload in, WeChat Work messages out, tenants kept apart."""

import nm_wechat
import pytest

from nmcore import Manager
from nmcore.testing import alertmanager_body, rolebinding_yaml

pytestmark = pytest.mark.anyio

TENANT = "WechatReceiver/kubesphere-monitoring-system/test-user-wechat"
GLOBAL = "WechatReceiver/kubesphere-monitoring-system/global-wechat-wechat"

ROLEBINDING = rolebinding_yaml("test-user", "demo")


async def test_the_seed_delivers_tenant_alerts_to_the_tenant_and_all_alerts_to_the_global_receiver(wechat, seed_yaml):
    async with Manager.from_yaml(seed_yaml() + ROLEBINDING, plugins=[nm_wechat]) as manager:
        await manager.submit_payload(alertmanager_body("demo", "other-team", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)

    assert sorted((o.receiver, o.ok) for o in manager.outcomes) == [(GLOBAL, True), (TENANT, True)]
    by_user = {m["touser"]: m["text"]["content"] for m in wechat.messages}
    assert set(by_user) == {"user1|user2", "global"}
    assert "容器 web-0 反复崩溃" in by_user["user1|user2"] and "other-team" not in by_user["user1|user2"]
    assert "容器 web-0 反复崩溃" in by_user["global"] and "容器 web-1 反复崩溃" in by_user["global"]
    assert wechat.calls["gettoken"] == 1  # both configs name the same application: one token


async def test_the_seed_as_written_leaves_the_tenant_receiver_unable_to_send_naming_the_field(wechat, seed_yaml):
    manifests = seed_yaml(fix_secret_name=False) + ROLEBINDING
    async with Manager.from_yaml(manifests, plugins=[nm_wechat]) as manager:
        await manager.submit_payload(alertmanager_body("demo", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)
        verdict = await manager.verify(TENANT)

    assert [o.receiver for o in manager.outcomes] == [GLOBAL] and manager.outcomes[0].ok
    reason = manager.snapshot.skipped[TENANT]
    assert reason.startswith("its config WechatConfig/kubesphere-monitoring-system/test-user-config cannot be used: "
                             "Secret 'test-user-wehat-secret' not found")
    assert "(did you mean 'test-user-wechat-secret'?)" in reason and reason.endswith("@ $.spec.wechatApiSecret")
    assert not verdict.ok and verdict.error == f"cannot send: {reason}"
    assert [m["touser"] for m in wechat.messages] == ["global"]


async def test_unknown_users_reach_the_outcome_as_warnings(wechat, seed_yaml):
    wechat.users = frozenset({"user1", "global"})
    async with Manager.from_yaml(seed_yaml() + ROLEBINDING, plugins=[nm_wechat]) as manager:
        await manager.submit_payload(alertmanager_body("demo", summary="容器 {pod} 反复崩溃"))
        await manager.drain(timeout=10)

    tenant = next(o for o in manager.outcomes if o.receiver == TENANT)
    assert tenant.ok and any(w.endswith(": user2") for w in tenant.warnings), tenant.warnings
