"""Sessions are reused across notifications; big recipient lists are split; the pool stays bounded."""

import anyio
import nm_email.pool
import nm_email.sender
import pytest

from nmcore.sdk import TransientError
from nmcore.testing import alert

pytestmark = pytest.mark.anyio

USERS = {"nm": "pool-test-pw"}
OPS = "EmailReceiver/kubesphere-monitoring-system/ops"


def config_yaml(port: int, to: list[str], password: str = "pool-test-pw") -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: smtp}}
stringData: {{password: {password}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {{name: mail, labels: {{type: default}}}}
spec:
  from: nmcore@xyz.com
  smartHost: {{host: 127.0.0.1, port: {port}}}
  authUsername: nm
  authPassword: {{name: smtp, key: password}}
  requireTLS: true
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
  to: {to}
"""


def alerts(count: int) -> list:
    return [(alert(namespace="demo", pod=f"web-{n}"),) for n in range(count)]


async def test_notifications_to_one_server_share_one_session(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    yaml_text = config_yaml(server.port, ["ops@xyz.com"])

    for group in alerts(5):
        await sender.send(request_for(yaml_text, OPS, alerts=group))

    assert len(server.received) == 5
    assert server.connections == 1
    assert server.mechanisms == ["PLAIN"]  # one login for five messages
    assert all(r.tls and r.login == "nm" for r in server.received)


async def test_concurrent_sends_open_a_bounded_number_of_sessions(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    yaml_text = config_yaml(server.port, ["ops@xyz.com"])

    async with anyio.create_task_group() as tasks:
        for group in alerts(20):
            tasks.start_soon(sender.send, request_for(yaml_text, OPS, alerts=group))

    assert len(server.received) == 20
    assert 1 <= server.connections <= nm_email.pool.MAX_SESSIONS


async def test_a_session_the_server_closed_is_replaced(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, idle_timeout=0.2)
    yaml_text = config_yaml(server.port, ["ops@xyz.com"])
    first, second = alerts(2)

    await sender.send(request_for(yaml_text, OPS, alerts=first))
    await anyio.sleep(0.5)  # the server drops the idle client
    await sender.send(request_for(yaml_text, OPS, alerts=second))

    assert len(server.received) == 2 and server.connections == 2


async def test_a_long_idle_session_is_checked_with_noop(mail_server, sender, request_for, trust_test_ca, monkeypatch):
    monkeypatch.setattr(nm_email.pool, "CHECK_AFTER", 0.0)
    server = await mail_server(tls="starttls", users=USERS)
    yaml_text = config_yaml(server.port, ["ops@xyz.com"])
    first, second, third = alerts(3)

    await sender.send(request_for(yaml_text, OPS, alerts=first))
    await sender.send(request_for(yaml_text, OPS, alerts=second))
    assert (server.noops, server.connections) == (1, 1)

    server.noop_reply = "421 4.4.2 mail.test closing idle connection"  # a server that lost the session
    await sender.send(request_for(yaml_text, OPS, alerts=third))
    assert (server.noops, server.connections, len(server.received)) == (2, 2, 3)


async def test_a_failed_session_is_not_reused(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, mail_reply="451 4.3.0 queue full")
    yaml_text = config_yaml(server.port, ["ops@xyz.com"])
    with pytest.raises(TransientError, match=r"451 4.3.0 queue full"):
        await sender.send(request_for(yaml_text, OPS))
    server.mail_reply = None
    await sender.send(request_for(yaml_text, OPS))
    assert server.connections == 2 and len(server.received) == 1


async def test_rotated_credentials_get_a_new_session(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    await sender.send(request_for(config_yaml(server.port, ["ops@xyz.com"]), OPS))
    server.users["nm"] = "rotated-pw"
    await sender.send(request_for(config_yaml(server.port, ["ops@xyz.com"], password="rotated-pw"), OPS))
    assert server.connections == 2 and len(server.received) == 2


async def test_aclose_says_quit_to_idle_sessions(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    await sender.send(request_for(config_yaml(server.port, ["ops@xyz.com"]), OPS))
    assert server.quits == 0  # kept open for the next notification
    await sender.aclose()
    assert server.quits == 1


async def test_recipients_above_the_maximum_are_split(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    maximum = nm_email.sender.MAX_RECIPIENTS
    addresses = [f"user{n:03}@xyz.com" for n in range(2 * maximum + 20)]

    await sender.send(request_for(config_yaml(server.port, addresses), OPS))

    assert [len(r.rcpt_tos) for r in server.received] == [maximum, maximum, 20]
    assert server.recipients == addresses  # each exactly once, in order
    for received in server.received:
        assert [a.addr_spec for a in received.message()["To"].addresses] == list(received.rcpt_tos)
    assert server.connections == 1
