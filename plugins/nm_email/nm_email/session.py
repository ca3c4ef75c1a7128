"""Opening one SMTP session as the config asks: TLS first, then AUTH, and never credentials in clear text.

Port 465 speaks TLS from the first byte (implicit TLS). Any other port starts plain and upgrades with
STARTTLS when the server offers it; with `requireTLS: true` a server that does not offer it is left before
MAIL or AUTH. Without TLS no AUTH of any mechanism is sent, to localhost neither, unless the config says
`allowInsecureAuth: true`. Certificates are verified unless the config says `insecureSkipVerify`.
"""

import asyncio
import base64
import hashlib
import socket
import ssl
from collections.abc import Callable

import aiosmtplib
import anyio
import attrs
from aiosmtplib import SMTPAuthenticationError, SMTPHeloError
from aiosmtplib.auth import auth_crammd5_verify

from nm_email.failures import reply_error, smtp_errors
from nm_email.schema import EmailConfigSpec
from nmcore.sdk import PermanentError, note_secret

IMPLICIT_TLS_PORTS = frozenset({465})
"""Ports that speak TLS from the first byte (SMTPS, RFC 8314). Tests add their random port here."""

COMMAND_TIMEOUT = 10.0
"""Seconds to wait for connecting, the TLS handshake, or any one SMTP reply."""

AUTH_SUCCEEDED = 235
AUTH_CONTINUE = 334


def implicit_tls(port: int) -> bool:
    return port in IMPLICIT_TLS_PORTS


@attrs.frozen(kw_only=True)
class Login:
    """The credentials of one config, resolved from its Secrets for this send; never in repr or logs."""

    username: str
    identity: str = ""
    password: str = attrs.field(default="", repr=False)
    secret: str = attrs.field(default="", repr=False)

    def fingerprint(self) -> str:
        """Tells credential sets apart (a rotated password gets fresh connections) without keeping them."""
        joined = "\0".join((self.username, self.identity, self.password, self.secret))
        return hashlib.sha256(joined.encode()).hexdigest()


async def open_session(
    config: EmailConfigSpec, login: Login | None, tls_context: Callable[[], ssl.SSLContext]
) -> aiosmtplib.SMTP:
    """A connected, greeted and (if configured and offered) authenticated session, ready for MAIL."""
    server = f"SMTP server {config.smart_host}"
    host, port = config.smart_host.host, config.smart_host.port
    server_name = (config.tls.server_name if config.tls else "") or host
    implicit = implicit_tls(port)
    sock: socket.socket | None = None
    smtp: aiosmtplib.SMTP | None = None
    try:
        with smtp_errors(server, "connecting"):
            if implicit:
                # Our own socket, so that TLS can check `serverName` rather than the address we dial.
                with anyio.fail_after(COMMAND_TIMEOUT):
                    sock = await _tcp_socket(host, port)
                smtp = aiosmtplib.SMTP(sock=sock, hostname=server_name, use_tls=True, tls_context=tls_context(),
                                       start_tls=False, local_hostname=config.hello, timeout=COMMAND_TIMEOUT)
            else:
                smtp = aiosmtplib.SMTP(hostname=host, port=port, start_tls=False, local_hostname=config.hello,
                                       timeout=COMMAND_TIMEOUT)
            await smtp.connect()
            sock = None  # the connection owns it now and closes it with itself
            await _greet(smtp)
        if not implicit:
            if smtp.supports_extension("starttls"):
                with smtp_errors(server, "starting TLS (STARTTLS)"):
                    await smtp.starttls(server_hostname=server_name, tls_context=tls_context())
                    await _greet(smtp)
            elif config.require_tls:
                raise PermanentError(
                    f"{server} does not offer STARTTLS and the EmailConfig says requireTLS: true, so nothing was "
                    "sent, not even the credentials; enable STARTTLS on the server, use port 465 (implicit TLS), "
                    "or set requireTLS: false"
                )
        if login is not None and smtp.supports_extension("auth"):
            if not _encrypted(smtp) and not config.allow_insecure_auth:
                raise PermanentError(
                    f"{server} does not offer STARTTLS, so the connection is not encrypted and the login was not "
                    "sent; enable STARTTLS on the server or use port 465 (implicit TLS). Only for a relay on a "
                    "network you trust: set allowInsecureAuth: true in the EmailConfig"
                )
            await _authenticate(smtp, login, server)
    except BaseException:
        if smtp is not None:
            smtp.close()
        if sock is not None:
            sock.close()
        raise
    return smtp


async def _tcp_socket(host: str, port: int) -> socket.socket:
    loop = asyncio.get_running_loop()
    failure: OSError | None = None
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise failure or OSError(f"{host} has no address")


async def _greet(smtp: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO for an old server that knows no extensions."""
    try:
        await smtp.ehlo()
    except SMTPHeloError:
        await smtp.helo()


def _encrypted(smtp: aiosmtplib.SMTP) -> bool:
    """TLS is on (implicit or after STARTTLS). Go's net/smtp also trusts localhost; nmcore does not: a relay
    on this machine may still forward the login over the network, and the config says so if it wants that."""
    return smtp.get_transport_info("sslcontext") is not None


async def _authenticate(smtp: aiosmtplib.SMTP, login: Login, server: str) -> None:
    offered = smtp.server_auth_methods
    if login.secret and "cram-md5" in offered:
        mechanism, credential = "CRAM-MD5", "authSecret"
    elif login.password and "plain" in offered:
        mechanism, credential = "PLAIN", "authPassword"
    elif login.password and "login" in offered:
        mechanism, credential = "LOGIN", "authPassword"
    else:
        raise PermanentError(
            f"{server} offers AUTH {' '.join(m.upper() for m in offered) or '(no mechanism)'}, none usable with "
            "this EmailConfig: PLAIN and LOGIN need authPassword, CRAM-MD5 needs authSecret"
        )
    with smtp_errors(server, f"logging in with AUTH {mechanism}"):
        try:
            if mechanism == "CRAM-MD5":
                await _auth_crammd5(smtp, login)
            elif mechanism == "PLAIN":
                await _auth_plain(smtp, login)
            else:
                await smtp.auth_login(login.username, login.password)
        except SMTPAuthenticationError as exc:
            raise reply_error(exc.code)(
                f"{server} refused the login of {login.username!r} with AUTH {mechanism}: {exc.code} {exc.message}; "
                f"check authUsername and the Secret key behind {credential}"
            ) from None


async def _auth_plain(smtp: aiosmtplib.SMTP, login: Login) -> None:
    """AUTH PLAIN with the authorization identity (authIdentify), which aiosmtplib's own method cannot send."""
    token = base64.b64encode(f"{login.identity}\0{login.username}\0{login.password}".encode())
    note_secret(token.decode())  # a server refusing it may quote it: the password in base64, but not b64(password)
    response = await smtp.execute_command(b"AUTH", b"PLAIN", token)
    if response.code != AUTH_SUCCEEDED:
        raise SMTPAuthenticationError(response.code, response.message)


async def _auth_crammd5(smtp: aiosmtplib.SMTP, login: Login) -> None:
    """AUTH CRAM-MD5 as aiosmtplib's own method does it, but its answer (an HMAC of the secret) noted as a
    credential of the send: a server refusing it may quote it."""
    challenge = await smtp.execute_command(b"AUTH", b"CRAM-MD5")
    if challenge.code != AUTH_CONTINUE:
        raise SMTPAuthenticationError(challenge.code, challenge.message)
    answer = auth_crammd5_verify(login.username, login.secret, challenge.message)
    note_secret(answer.decode(), base64.b64decode(answer).decode().rpartition(" ")[2])
    response = await smtp.execute_command(answer)
    if response.code != AUTH_SUCCEEDED:
        raise SMTPAuthenticationError(response.code, response.message)
