"""Sending to real SMTP servers: TLS modes, authentication, and how each failure is reported."""

import base64
import logging

import nm_email.session
import pytest

from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import collecting

pytestmark = pytest.mark.anyio

PASSWORD = "Xq7-unguessable-pw"
USERS = {"abc1": "test", "default": "test", "nm": PASSWORD}


def config_yaml(port: int, spec: str = "", *, password: str = PASSWORD, to: str = "[ops@xyz.com]") -> str:
    """A default EmailConfig (user nm) plus a global receiver; `spec` adds lines to the config's spec."""
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: smtp}}
stringData: {{password: "{password}", cram: cram-shared-secret}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {{name: mail, labels: {{type: default}}}}
spec:
  from: nmcore@xyz.com
  smartHost: {{host: 127.0.0.1, port: {port}}}
{spec}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
  to: {to}
"""


LOGIN = "  authUsername: nm\n  authPassword: {name: smtp, key: password}\n"
OPS = "EmailReceiver/kubesphere-monitoring-system/ops"


async def test_seed_manifests_deliver_over_starttls_with_auth(mail_server, sender, seed, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    request = request_for(seed(server.port))

    assert await sender.send(request) is None

    [received] = server.received
    assert sorted(received.rcpt_tos) == ["abc2@xyz.com", "abc3@xyz.com"]
    assert received.mail_from == "abc1@xyz.com"
    assert received.login == "abc1"
    assert received.tls
    assert received.hello == "localhost"
    message = received.message()
    assert message["Subject"] == request.message.subject
    assert [a.addr_spec for a in message["To"].addresses] == ["abc2@xyz.com", "abc3@xyz.com"]
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


async def test_implicit_tls_is_used_on_port_465(mail_server, sender, request_for, trust_test_ca, monkeypatch):
    assert nm_email.session.implicit_tls(465)
    assert not nm_email.session.implicit_tls(25) and not nm_email.session.implicit_tls(587)
    server = await mail_server(tls="implicit", users=USERS)
    # The test server cannot listen on 465; make its random port count as an SMTPS port, as 465 does.
    monkeypatch.setattr(nm_email.session, "IMPLICIT_TLS_PORTS", frozenset({server.port}))

    await sender.send(request_for(config_yaml(server.port, LOGIN + "  requireTLS: true"), OPS))

    [received] = server.received
    assert received.tls and received.login == "nm" and received.rcpt_tos == ("ops@xyz.com",)


async def test_a_silent_server_times_out_transiently(mail_server, sender, request_for, trust_test_ca, monkeypatch):
    """An implicit-TLS server on a port not taken for one waits for a TLS hello while we wait for its greeting."""
    monkeypatch.setattr(nm_email.session, "COMMAND_TIMEOUT", 0.3)
    server = await mail_server(tls="implicit", users=USERS)
    with pytest.raises(TransientError, match=f"127.0.0.1:{server.port} did not answer in time while connecting"):
        await sender.send(request_for(config_yaml(server.port, LOGIN), OPS))
    assert server.received == []


async def test_plain_smtp_when_tls_is_not_required(mail_server, sender, request_for):
    server = await mail_server(tls=None, auth_required=False)
    await sender.send(request_for(config_yaml(server.port, "  hello: nm.xyz.com"), OPS))
    [received] = server.received
    assert not received.tls and received.login is None and received.hello == "nm.xyz.com"


@pytest.mark.parametrize("login", [LOGIN, "  authUsername: nm\n  authSecret: {name: smtp, key: cram}\n"],
                         ids=["password", "cram-md5"])
async def test_no_credentials_over_a_connection_without_tls_even_to_localhost(mail_server, sender, request_for,
                                                                               login):
    """A server that hides STARTTLS (here on 127.0.0.1, where Go's net/smtp would still send PLAIN) gets no AUTH."""
    server = await mail_server(tls=None, users=USERS, cram_secrets={"nm": "cram-shared-secret"})

    with pytest.raises(PermanentError) as failure:
        await sender.send(request_for(config_yaml(server.port, login), OPS))

    message = str(failure.value)
    assert "does not offer STARTTLS" in message and "allowInsecureAuth: true" in message
    assert server.mechanisms == [] and server.plain_identities == []  # no AUTH command of any kind
    assert server.received == []


async def test_allow_insecure_auth_sends_the_login_without_tls(mail_server, sender, request_for):
    server = await mail_server(tls=None, users=USERS)
    await sender.send(request_for(config_yaml(server.port, LOGIN + "  allowInsecureAuth: true"), OPS))
    assert server.received[0].login == "nm" and not server.received[0].tls


async def test_require_tls_without_starttls_sends_nothing(mail_server, sender, request_for):
    server = await mail_server(tls=None, users=USERS)
    request = request_for(config_yaml(server.port, LOGIN + "  requireTLS: true"), OPS)

    with pytest.raises(PermanentError) as failure:
        await sender.send(request)

    assert "does not offer STARTTLS" in str(failure.value)
    assert "requireTLS: true" in str(failure.value)
    assert server.mechanisms == []  # no AUTH attempted: the password never left
    assert server.received == []


async def test_untrusted_certificate_is_a_permanent_failure(mail_server, sender, request_for):
    server = await mail_server(tls="starttls", users=USERS)  # test CA not trusted here
    with pytest.raises(PermanentError, match=r"certificate is not trusted.*tls.rootCA"):
        await sender.send(request_for(config_yaml(server.port, LOGIN), OPS))
    assert server.mechanisms == [] and server.received == []


async def test_root_ca_and_server_name_from_the_config(mail_server, sender, request_for, ca):
    server = await mail_server(tls="starttls", users=USERS, cert_names=("mail.internal",))
    pem = base64.b64encode(ca.cert_pem.bytes()).decode()
    tls = f"""  tls:
    rootCA: {{valueFrom: {{secretKeyRef: {{name: ca, key: ca.crt}}}}}}
    serverName: mail.internal
---
apiVersion: v1
kind: Secret
metadata: {{name: ca}}
data: {{ca.crt: {pem}}}
"""
    await sender.send(request_for(config_yaml(server.port, LOGIN + tls), OPS))
    assert server.received[0].tls

    without_name = tls.replace("    serverName: mail.internal\n", "")
    with pytest.raises(PermanentError, match=r"address mismatch.*tls.serverName"):
        await sender.send(request_for(config_yaml(server.port, LOGIN + without_name), OPS))


async def test_insecure_skip_verify_accepts_any_certificate(mail_server, sender, request_for):
    server = await mail_server(tls="starttls", users=USERS)
    await sender.send(request_for(config_yaml(server.port, LOGIN + "  tls: {insecureSkipVerify: true}"), OPS))
    assert server.received[0].tls


async def test_wrong_password_is_permanent_and_never_shown(mail_server, sender, request_for, trust_test_ca, caplog):
    caplog.set_level(logging.DEBUG)
    server = await mail_server(tls="starttls", users=USERS)
    wrong = "Wr0ng-but-secret-pw"
    request = request_for(config_yaml(server.port, LOGIN, password=wrong), OPS)

    with pytest.raises(PermanentError) as failure:
        await sender.send(request)

    message = str(failure.value)
    assert "535" in message and "refused the login of 'nm'" in message and "authPassword" in message
    assert server.received == []
    encoded = base64.b64encode(f"\0nm\0{wrong}".encode()).decode()
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]  # aiosmtpd's are the server's
    assert any(r.name == "nmcore.channel.email" for r in ours)
    for text in [message, repr(failure.value), *(r.getMessage() for r in ours)]:
        assert wrong not in text and encoded not in text


@pytest.mark.parametrize("mechanism", ["PLAIN", "CRAM-MD5"])
async def test_a_refusal_quoting_the_login_is_scrubbed_of_it(mechanism, mail_server, sender, request_for,
                                                               trust_test_ca):
    """AUTH PLAIN's base64 line (the password in base64, but not as b64(password)) and CRAM-MD5's answer (an HMAC
    of the secret) are noted for the send: the core hides them from its error, as from what its requests carry."""
    server = await mail_server(tls="starttls", users=USERS, quote_auth=True,
                               exclude_mechanisms=("CRAM-MD5",) if mechanism == "PLAIN" else ())
    spec = LOGIN if mechanism == "PLAIN" else "  authUsername: nm\n  authSecret: {name: smtp, key: cram}\n"
    with collecting() as carried, pytest.raises(PermanentError) as failure:
        await sender.send(request_for(config_yaml(server.port, spec), OPS))
    message = str(failure.value)
    assert f"with AUTH {mechanism}: 535 5.7.8 refused " in message and server.mechanisms == []
    quoted = message.split("refused ")[-1].split(";")[0]  # the server's words: the login, as the client sent it
    assert carried.scrub(message) == message.replace(quoted, "<redacted>" if mechanism == "PLAIN"
                                                     else "<redacted> (digest <redacted>)")


async def test_cram_md5_with_auth_secret(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, cram_secrets={"nm": "cram-shared-secret"})
    spec = "  authUsername: nm\n  authSecret: {name: smtp, key: cram}\n"
    await sender.send(request_for(config_yaml(server.port, spec), OPS))
    assert server.mechanisms == ["CRAM-MD5"] and server.received[0].login == "nm"


async def test_plain_carries_the_auth_identity(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS)
    await sender.send(request_for(config_yaml(server.port, LOGIN + "  authIdentify: admin"), OPS))
    assert server.mechanisms == ["PLAIN"] and server.plain_identities == [b"admin"]


async def test_login_mechanism_when_plain_is_not_offered(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, exclude_mechanisms=("PLAIN",))
    await sender.send(request_for(config_yaml(server.port, LOGIN), OPS))
    assert server.mechanisms == ["LOGIN"] and server.received[0].login == "nm"


async def test_no_usable_mechanism_is_explained(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, exclude_mechanisms=("PLAIN", "LOGIN"))
    with pytest.raises(PermanentError, match=r"offers AUTH CRAM-MD5, none usable.*CRAM-MD5 needs authSecret"):
        await sender.send(request_for(config_yaml(server.port, LOGIN), OPS))


async def test_a_4xx_reply_is_transient_and_quoted(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, mail_reply="451 4.7.1 Greylisted, try again later")
    with pytest.raises(TransientError, match=r"answered 451 4.7.1 Greylisted, try again later while sending"):
        await sender.send(request_for(config_yaml(server.port, LOGIN), OPS))


async def test_a_5xx_reply_is_permanent_and_quoted(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, mail_reply="550 5.7.1 Sender address rejected")
    with pytest.raises(PermanentError, match=r"answered 550 5.7.1 Sender address rejected"):
        await sender.send(request_for(config_yaml(server.port, LOGIN), OPS))


async def test_refused_recipients(mail_server, sender, request_for, trust_test_ca):
    server = await mail_server(tls="starttls", users=USERS, refuse_recipients={
        "gone@xyz.com": "550 5.1.1 <gone@xyz.com>: user unknown", "full@xyz.com": "452 4.2.2 mailbox full"})

    report = await sender.send(request_for(config_yaml(server.port, LOGIN, to="[ops@xyz.com, gone@xyz.com]"), OPS))
    assert server.recipients == ["ops@xyz.com"]
    assert report is not None and report.warnings == (
        f"SMTP server 127.0.0.1:{server.port} refused gone@xyz.com: 550 5.1.1 <gone@xyz.com>: user unknown",)

    with pytest.raises(PermanentError, match=r"refused every recipient .*gone@xyz.com: 550 5.1.1"):
        await sender.send(request_for(config_yaml(server.port, LOGIN, to="[gone@xyz.com]"), OPS))
    with pytest.raises(TransientError, match=r"full@xyz.com: 452 4.2.2 mailbox full"):
        await sender.send(request_for(config_yaml(server.port, LOGIN, to="[gone@xyz.com, full@xyz.com]"), OPS))
