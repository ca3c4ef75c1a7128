"""End to end through nmcore's Manager: the seed's email example, an SMTP server, tenants by RoleBinding."""

import nm_email
import pytest

from nmcore import Manager

pytestmark = pytest.mark.anyio

ROLEBINDING = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: test-user-edit, namespace: demo}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: edit}
subjects: [{kind: User, name: test-user, apiGroup: rbac.authorization.k8s.io}]
"""
TENANT = "EmailReceiver/kubesphere-monitoring-system/test-user-receiver"
GLOBAL = "EmailReceiver/kubesphere-monitoring-system/global-email-receiver"


def webhook_body(namespace: str, pod: str) -> dict:
    """What Alertmanager POSTs for one firing alert."""
    labels = {"alertname": "KubePodCrashLooping", "namespace": namespace, "pod": pod, "severity": "critical"}
    return {
        "receiver": "nmcore", "status": "firing", "version": "4", "externalURL": "http://am:9093",
        "groupKey": '{}:{alertname="KubePodCrashLooping"}', "truncatedAlerts": 0,
        "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": f"Pod {pod} is crash looping"},
                    "startsAt": "2026-11-24T05:53:21.974712798Z", "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "", "fingerprint": f"fp-{namespace}-{pod}"}],
        "groupLabels": {"alertname": "KubePodCrashLooping"}, "commonLabels": labels, "commonAnnotations": {},
    }


async def test_tenant_and_global_receivers_get_what_they_are_entitled_to(mail_server, seed, trust_test_ca):
    server = await mail_server(tls="starttls", users={"abc1": "test", "default": "test"})

    async with Manager.from_yaml(seed(server.port) + ROLEBINDING, plugins=[nm_email]) as nm:
        assert nm.snapshot.problems == ()
        await nm.submit_payload(webhook_body("demo", "web-1"))
        await nm.drain(timeout=10)
        in_demo = {(r.login, r.rcpt_tos) for r in server.received}
        assert in_demo == {("abc1", ("abc2@xyz.com", "abc3@xyz.com")), ("default", ("global@xyz.com",))}

        server.received.clear()
        await nm.submit_payload(webhook_body("elsewhere", "web-2"))
        await nm.drain(timeout=10)
        assert [(r.login, r.rcpt_tos) for r in server.received] == [("default", ("global@xyz.com",))]
        assert "in elsewhere" in server.received[0].message()["Subject"]

        outcomes = sorted((o.receiver, o.ok, o.attempts) for o in nm.outcomes)
        assert outcomes == [(GLOBAL, True, 1), (GLOBAL, True, 1), (TENANT, True, 1)]
    assert all(r.tls for r in server.received)
    assert server.connections == 2  # one pooled session per config (tenant abc1, default), reused


async def test_a_refused_login_is_reported_as_the_outcome(mail_server, seed, trust_test_ca):
    server = await mail_server(tls="starttls", users={"abc1": "not-the-seed-password", "default": "test"})

    async with Manager.from_yaml(seed(server.port) + ROLEBINDING, plugins=[nm_email]) as nm:
        await nm.submit_payload(webhook_body("demo", "web-1"))
        await nm.drain(timeout=10)
        outcome = {o.receiver: o for o in nm.outcomes}

    assert outcome[GLOBAL].ok
    assert not outcome[TENANT].ok and outcome[TENANT].attempts == 1
    assert "535" in outcome[TENANT].error and "'abc1'" in outcome[TENANT].error
    assert [r.rcpt_tos for r in server.received] == [("global@xyz.com",)]


async def test_verify_reports_the_smtp_servers_answer_for_each_receiver(mail_server, seed, trust_test_ca):
    server = await mail_server(tls="starttls", users={"abc1": "not-the-seed-password", "default": "test"})

    async with Manager.from_yaml(seed(server.port), plugins=[nm_email]) as nm:
        tenant, everyone = await nm.verify("test-user-receiver"), await nm.verify("global-email-receiver")

    assert everyone.ok and everyone.config == "EmailConfig/kubesphere-monitoring-system/default-email-config"
    [test_mail] = server.received
    assert test_mail.rcpt_tos == ("global@xyz.com",)
    assert test_mail.message()["Subject"] == "[TEST] nmcore test notification for global-email-receiver"
    assert not tenant.ok and "535" in tenant.error and "'abc1'" in tenant.error
    assert "test" not in tenant.error, f"never the password: {tenant.error}"
