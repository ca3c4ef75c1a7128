"""The built-in webhook channel: POSTs the notification as JSON in Alertmanager's webhook shape.

It registers through `nmcore_register_channels` like any plugin. The body is Alertmanager's (version 4)
plus `receiver` and `tenant`, so tools that already read Alertmanager webhooks read it unchanged.
"""

import base64
import ssl
from typing import Any

import aiohttp
import attrs
import orjson

from nmcore.sdk import (
    ChannelContext,
    ChannelLimits,
    ChannelSpec,
    Credential,
    LabelSelector,
    Notification,
    PermanentError,
    RegisterChannel,
    SecretReader,
    SendRequest,
    TLSConfig,
    credential_value,
    hookimpl,
    new_session,
    raise_for_status,
    ssl_context,
    transport_errors,
)

LIMITS = ChannelLimits(send_timeout=5.0)
TIMEOUT = aiohttp.ClientTimeout(total=LIMITS.send_timeout)


@attrs.frozen(kw_only=True)
class BasicAuth:
    username: str
    password: Credential | None = None


@attrs.frozen(kw_only=True)
class HTTPConfig:
    bearer_token: Credential | None = None
    basic_auth: BasicAuth | None = None
    tls_config: TLSConfig | None = None

    def __attrs_post_init__(self) -> None:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("give bearerToken or basicAuth, not both")


@attrs.frozen(kw_only=True)
class WebhookConfigSpec:
    url: str = ""
    http_config: HTTPConfig | None = None


@attrs.frozen(kw_only=True)
class WebhookReceiverSpec:
    url: str = ""
    """Shorthand: a receiver with its own url needs no WebhookConfig (one may still add httpConfig)."""
    http_config: HTTPConfig | None = None
    config_selector: LabelSelector | None = None


def _needs_config(spec: WebhookReceiverSpec) -> bool:
    return not spec.url


def webhook_body(notification: Notification) -> dict[str, Any]:
    """The Alertmanager webhook shape (what many tools already parse), plus `receiver` and `tenant`."""
    return {
        "version": "4",
        "receiver": notification.receiver,
        "tenant": notification.tenant,
        "status": notification.status,
        "alerts": [
            {
                "status": a.status,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": a.starts_at,
                "endsAt": a.ends_at,
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
            }
            for a in notification.alerts
        ],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": notification.common_labels,
        "commonAnnotations": notification.common_annotations,
        "externalURL": notification.external_url,
        "groupKey": notification.group_key,
    }


class WebhookSender:
    """Posts through the process's aiohttp session (the hot path: no httpx request building, no cookies)."""

    def __init__(self, ctx: ChannelContext):
        self._shared = ctx.session
        self._own: aiohttp.ClientSession | None = None
        self._tls: dict[TLSConfig, ssl.SSLContext] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self._shared is not None:
            return self._shared
        if self._own is None:
            self._own = new_session()
        return self._own

    async def send(self, request: SendRequest[WebhookConfigSpec, WebhookReceiverSpec]) -> None:
        receiver = request.receiver.spec
        config = request.config.spec if request.config else None
        url = receiver.url or (config.url if config else "")
        if not url:
            raise PermanentError("no url: set spec.url on the WebhookReceiver or on its WebhookConfig")
        # Credentials go only where their owner sends them: a receiver's own url gets only its own httpConfig.
        http_config = receiver.http_config if receiver.url else (config.http_config if config else None)
        headers = {"Content-Type": "application/json", **_authorization(http_config, request.secret)}
        tls = http_config.tls_config if http_config else None
        body = orjson.dumps(webhook_body(request.notification))
        service = f"webhook {url}"
        with transport_errors(service):
            async with self._session().post(url, data=body, headers=headers, ssl=self._ssl(tls, request.secret),
                                            timeout=TIMEOUT, allow_redirects=False) as response:
                text = await response.text(errors="replace")
        raise_for_status(response.status, response.headers, text, service)

    def _ssl(self, tls: TLSConfig | None, secret: SecretReader) -> ssl.SSLContext | bool:
        """The default verification, or this config's TLS settings (built once: loading CAs is not cheap)."""
        if tls is None:
            return True
        context = self._tls.get(tls)
        if context is None:
            context = self._tls[tls] = ssl_context(tls, secret)
        return context

    async def aclose(self) -> None:
        if self._own is not None:
            await self._own.close()


def _authorization(http_config: HTTPConfig | None, secret: SecretReader) -> dict[str, str]:
    if http_config is None:
        return {}
    if http_config.bearer_token is not None:
        return {"Authorization": f"Bearer {credential_value(http_config.bearer_token, secret)}"}
    if http_config.basic_auth is not None:
        basic = http_config.basic_auth
        password = credential_value(basic.password, secret) if basic.password else ""
        token = base64.b64encode(f"{basic.username}:{password}".encode()).decode()  # RFC 7617, UTF-8
        return {"Authorization": f"Basic {token}"}
    return {}


SPEC = ChannelSpec(
    name="webhook",
    config_kind="WebhookConfig",
    receiver_kind="WebhookReceiver",
    config_schema=WebhookConfigSpec,
    receiver_schema=WebhookReceiverSpec,
    make_sender=WebhookSender,
    limits=LIMITS,
    config_required=_needs_config,
    description="HTTP POST of the alert group as JSON (Alertmanager webhook shape)",
    formats=lambda spec: (),
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
