"""The email sender: one message per notification to all of a receiver's addresses, over pooled sessions."""

import ssl
from collections import OrderedDict

import aiosmtplib
import attrs

from nm_email.failures import smtp_errors
from nm_email.message import compose
from nm_email.pool import SessionPool
from nm_email.schema import EmailConfigSpec, EmailReceiverSpec, SmartHost, mailbox
from nm_email.session import Login, open_session
from nmcore.sdk import (
    ChannelContext,
    ChannelLimits,
    DeliveryError,
    PermanentError,
    SecretReader,
    SendReport,
    SendRequest,
    TLSConfig,
    ssl_context,
)

MAX_RECIPIENTS = 50
"""Recipients per message, under the per-message limits of common hosted mail services; a receiver with more
addresses gets the same notification as several messages."""

LIMITS = ChannelLimits(max_recipients=MAX_RECIPIENTS, send_timeout=30.0)

Request = SendRequest[EmailConfigSpec, EmailReceiverSpec]

MAX_POOLS = 32
"""Distinct (server, credentials) pools kept; the least recently used one is closed beyond that."""


@attrs.frozen(kw_only=True)
class PoolKey:
    """What makes sessions interchangeable: same server, same TLS rules, same login (by fingerprint only)."""

    smart_host: SmartHost
    hello: str
    require_tls: bool
    allow_insecure_auth: bool
    tls: TLSConfig | None
    login: str = attrs.field(repr=False)


class EmailSender:
    def __init__(self, ctx: ChannelContext):
        self._log = ctx.logger
        self._pools: OrderedDict[PoolKey, SessionPool] = OrderedDict()

    async def send(self, request: Request) -> SendReport | None:
        if request.config is None:
            raise PermanentError("no EmailConfig to send with: add one labelled type: default")
        config = request.config.spec
        receiver = request.receiver.spec
        login = _login(config, request.secret)
        sender = mailbox(config.from_)
        recipients = list({a.addr_spec.lower(): a for a in map(mailbox, receiver.to)}.values())
        pool = await self._pool(config, login)
        server = f"SMTP server {config.smart_host}"
        config_ref = request.config.ref

        async def new_session() -> aiosmtplib.SMTP:
            self._log.debug("opening a session to %s for %s", server, config_ref)
            return await open_session(config, login, lambda: _tls_context(config.tls, request.secret))

        warnings: list[str] = []
        delivered = 0
        for batch in LIMITS.batches(recipients):
            data = compose(sender, batch, request.message, html=receiver.tmpl_type != "text").as_bytes()
            try:
                async with pool.session(new_session) as smtp:
                    with smtp_errors(server, "sending the message"):
                        refused, _ = await smtp.sendmail(sender.addr_spec, [a.addr_spec for a in batch], data)
            except DeliveryError as exc:
                if delivered:
                    raise type(exc)(f"{exc} ({delivered} of {len(recipients)} recipients had already received it)",
                                    retry_after=exc.retry_after) from None
                raise
            delivered += len(batch) - len(refused)
            warnings += [f"{server} refused {address}: {r.code} {r.message}" for address, r in refused.items()]
        return SendReport(warnings=tuple(warnings)) if warnings else None

    async def _pool(self, config: EmailConfigSpec, login: Login | None) -> SessionPool:
        key = PoolKey(smart_host=config.smart_host, hello=config.hello, require_tls=config.require_tls,
                      allow_insecure_auth=config.allow_insecure_auth, tls=config.tls,
                      login=login.fingerprint() if login else "")
        pool = self._pools.get(key)
        if pool is not None:
            self._pools.move_to_end(key)
            return pool
        pool = self._pools[key] = SessionPool()
        if len(self._pools) > MAX_POOLS:
            _, oldest = self._pools.popitem(last=False)
            await oldest.aclose()
        return pool

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


def _login(config: EmailConfigSpec, secret: SecretReader) -> Login | None:
    if not config.auth_username:
        return None
    return Login(
        username=config.auth_username,
        identity=config.auth_identify,
        password=secret(config.auth_password) if config.auth_password else "",
        secret=secret(config.auth_secret) if config.auth_secret else "",
    )


def _tls_context(tls: TLSConfig | None, secret: SecretReader) -> ssl.SSLContext:
    try:
        return ssl_context(tls, secret)
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise PermanentError(f"tls: the certificates in the EmailConfig cannot be loaded: {exc}") from None
