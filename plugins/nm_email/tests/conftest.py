"""Real SMTP servers (aiosmtpd) in the test's event loop, with trustme certificates, and the plugin's sender."""

import asyncio
import base64
import email
import email.policy
import hmac
import secrets
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import attrs
import nm_email
import pytest
import trustme
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword
from nm_email.sender import EmailSender

from nmcore.sdk import SendRequest
from nmcore.testing import running_sender, send_request, snapshot_from_yaml

SEED = Path(__file__).with_name("seed_email.yaml")
TENANT_RECEIVER = "EmailReceiver/kubesphere-monitoring-system/test-user-receiver"
TENANT_SECRET_LABELS = "    app: notification-manager\n  name: test-user-email-secret"


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trust_test_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put the test CA in the process's default trust store, as an operator would with a private CA."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


@attrs.frozen
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None
    tls: bool
    hello: str

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)  # type: ignore[return-value]


@attrs.define
class MailServer:
    """An aiosmtpd server on 127.0.0.1:<random>: counts connections, keeps what it received."""

    port: int = 0
    received: list[Received] = attrs.field(factory=list)
    connections: int = 0
    noops: int = 0
    quits: int = 0
    users: dict[str, str] = attrs.field(factory=dict)
    cram_secrets: dict[str, str] = attrs.field(factory=dict)
    refuse_recipients: dict[str, str] = attrs.field(factory=dict)
    """address → reply, e.g. '550 5.1.1 user unknown'."""
    mail_reply: str | None = None
    """If set, the reply to every MAIL FROM (e.g. '451 4.7.1 try later')."""
    noop_reply: str | None = None
    plain_identities: list[bytes] = attrs.field(factory=list)
    mechanisms: list[str] = attrs.field(factory=list)
    quote_auth: bool = False
    """Refuse every login, quoting what the client sent (AUTH PLAIN's line, CRAM-MD5's answer and digest)."""

    @property
    def recipients(self) -> list[str]:
        return [r for message in self.received for r in message.rcpt_tos]

    # aiosmtpd handler hooks
    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse_recipients:
            return self.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_NOOP(self, server: SMTP, session: Any, envelope: Any, arg: str) -> Any:
        self.noops += 1
        return self.noop_reply or MISSING

    async def handle_QUIT(self, server: SMTP, session: Any, envelope: Any) -> Any:
        self.quits += 1
        return MISSING

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        auth = session.auth_data
        self.received.append(Received(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos), content=envelope.original_content,
            login=auth.login.decode() if auth else None,
            tls=server.transport.get_extra_info("ssl_object") is not None, hello=session.host_name,
        ))
        return "250 2.0.0 OK queued"

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        challenge = f"<{secrets.token_hex(8)}@mail.test>".encode()
        answer = await server.challenge_auth(challenge)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        user, _, digest = answer.partition(b" ")
        if self.quote_auth:
            return AuthResult(success=False, handled=False, message=f"535 5.7.8 refused "
                              f"{base64.b64encode(answer).decode()} (digest {digest.decode()})")
        secret = self.cram_secrets.get(user.decode(), "")
        expected = hmac.new(secret.encode(), challenge, "md5").hexdigest().encode()
        self.mechanisms.append("CRAM-MD5")
        return AuthResult(success=bool(secret) and hmac.compare_digest(digest, expected),
                          auth_data=LoginPassword(user, b""), handled=False)

    def authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and self.users.get(data.login.decode()) == data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


class _PlainIdentity(SMTP):
    """Records the authorization identity of AUTH PLAIN (aiosmtpd checks only login and password)."""

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        if len(args) > 1:
            self.event_handler.plain_identities.append(base64.b64decode(args[1]).split(b"\0")[0])
            if self.event_handler.quote_auth:
                return AuthResult(success=False, handled=False, message=f"535 5.7.8 refused {args[1]}")
        return await super().auth_PLAIN(_, args)


@pytest.fixture
async def mail_server(ca: trustme.CA) -> AsyncIterator[Callable[..., Any]]:
    """Start servers with `await mail_server(tls=..., ...)`; all are closed after the test.

    tls: "starttls" (offered), "implicit" (TLS from the first byte) or None (plain SMTP, no STARTTLS).
    """
    started: list[tuple[asyncio.AbstractServer, list[SMTP]]] = []

    async def start(*, tls: str | None = "starttls", users: dict[str, str] | None = None, auth_required: bool = True,
                    idle_timeout: float = 30.0, cert_names: tuple[str, ...] = ("localhost", "127.0.0.1"),
                    exclude_mechanisms: tuple[str, ...] = (), **behaviour: Any) -> MailServer:
        mail = MailServer(users=dict(users or {}), **behaviour)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*cert_names).configure_cert(server_ctx)
        protocols: list[SMTP] = []

        def factory() -> SMTP:
            mail.connections += 1
            with warnings.catch_warnings():  # auth without TLS on purpose: the plain-SMTP tests need it
                warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
                protocol = _PlainIdentity(
                    mail, hostname="mail.test", tls_context=server_ctx if tls == "starttls" else None,
                    require_starttls=tls == "starttls", authenticator=mail.authenticate, auth_required=auth_required,
                    auth_require_tls=tls == "starttls", auth_exclude_mechanism=exclude_mechanisms,
                    timeout=idle_timeout,
                )
            protocols.append(protocol)
            return protocol

        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_ctx if tls == "implicit" else None)
        mail.port = server.sockets[0].getsockname()[1]
        started.append((server, protocols))
        return mail

    yield start
    for server, protocols in started:
        server.close()
        for protocol in protocols:
            if protocol.transport is not None:
                protocol.transport.close()
        await server.wait_closed()
    await asyncio.sleep(0)


@pytest.fixture
async def sender() -> AsyncIterator[EmailSender]:
    async with running_sender(EmailSender, "email") as email_sender:
        yield email_sender


def seed_yaml(port: int, host: str = "127.0.0.1") -> str:
    """The seed's email manifests, verbatim except that smartHost points at the test server and the tenant's
    Secret is labelled for its user (nmcore lets a tenant's config use only its own Secrets)."""
    return (SEED.read_text().replace("host: imap.xyz.com", f"host: {host}").replace('port: "25"', f'port: "{port}"')
            .replace(TENANT_SECRET_LABELS, TENANT_SECRET_LABELS.replace("\n  name:", "\n    user: test-user\n  name:")))


@pytest.fixture
def seed() -> Callable[..., str]:
    return seed_yaml


@pytest.fixture
def request_for() -> Callable[..., SendRequest]:
    """The SendRequest the core would build for a receiver of these manifests; fails on any config problem."""

    def build(yaml_text: str, receiver: str = TENANT_RECEIVER, alerts: tuple[Any, ...] = ()) -> SendRequest:
        snapshot = snapshot_from_yaml(yaml_text, plugins=[nm_email])
        assert not snapshot.problems, [str(p) for p in snapshot.problems]
        return send_request(snapshot, receiver, alerts)

    return build
