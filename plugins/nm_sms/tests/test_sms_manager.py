"""End to end through nmcore's Manager: Alertmanager's payload in, SMS out through the fake Tencent Cloud API,
a tenant's receiver getting only its namespace's alerts with its own config's credentials."""

import nm_sms
import pytest
from sms_fake import FakeSms, manifests

from nmcore import Manager
from nmcore.testing import alertmanager_body, rolebinding_yaml

pytestmark = pytest.mark.anyio

TENANT = """
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SmsReceiver
metadata: {name: test-user-sms, labels: {type: tenant, user: test-user}}
spec: {phoneNumbers: ["13900000001"], smsConfigSelector: {matchLabels: {type: default}}}
""" + rolebinding_yaml("test-user", "demo")


async def test_alertmanager_alerts_arrive_as_sms_tenant_ones_only_to_the_tenant(sms: FakeSms):
    async with Manager.from_yaml(manifests(sms.url, "tencent") + TENANT, plugins=[nm_sms]) as manager:
        await manager.submit_payload(alertmanager_body("demo", "other-team", summary="{pod} crashes"))
        await manager.drain(timeout=10)

    assert all(o.ok for o in manager.outcomes) and len(manager.outcomes) == 2
    tenant = "".join(text for _, numbers, text in sms.sent if numbers == ("+8613900000001",))
    oncall = "".join(text for _, numbers, text in sms.sent if "+8613612345678" in numbers)
    assert "web-0 crashes" in tenant and "other-team" not in tenant and "web-1" not in tenant
    assert "web-0 crashes" in oncall and "web-1 crashes" in oncall
