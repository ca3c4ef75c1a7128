"""The built-in webhook channel: POSTs the notification as JSON in Alertmanager's webhook shape.

It registers through `nmcore_register_channels` like any plugin. The body is Alertmanager's (version 4)
plus `receiver` and `tenant`, so tools that already read Alertmanager webhooks read it unchanged.
"""

import ssl
from typing import Any

import attrs
import httpx

from nmcore.channel import (
    ChannelContext,
    ChannelLimits,
    ChannelSpec,
    PermanentError,
    SendRequest,
)
from nmcore.hookspecs import hookimpl
from nmcore.httpclient import make_http_client
from nmcore.httpfailures import check_status, transport_errors
from nmcore.resources import Credential, LabelSelector
from nmcore.tlsconfig import SecretReader, TLSConfig, credential_value, ssl_context

LIMITS = ChannelLimits(send_timeout=5.0)


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
    config_selector: LabelSelector | None = attrs.field(default=None, metadata={"nmcore.key": "webhookConfigSelector"})


def _needs_config(spec: WebhookReceiverSpec) -> bool:
    return not spec.url


class WebhookSender:
    def __init__(self, ctx: ChannelContext):
        self._http = ctx.http
        self._tls_clients: dict[Any, httpx.AsyncClient] = {}

    async def send(self, request: SendRequest) -> None:
        receiver: WebhookReceiverSpec = request.receiver.spec
        config: WebhookConfigSpec | None = request.config.spec if request.config else None
        url = receiver.url or (config.url if config else "")
        if not url:
            raise PermanentError("no url: set spec.url on the WebhookReceiver or on its WebhookConfig")
        # Credentials go only where their owner sends them: a receiver's own url gets only its own httpConfig.
        http_config = receiver.http_config if receiver.url else (config.http_config if config else None)
        headers, auth = _credentials(http_config, request.secret)
        client = self._client_for(http_config.tls_config if http_config else None, request.secret)
        with transport_errors(f"webhook {url}"):
            response = await client.post(
                url, json=request.notification.webhook_body(), headers=headers, auth=auth, timeout=LIMITS.send_timeout
            )
        check_status(response, f"webhook {url}")

    def _client_for(self, tls: TLSConfig | None, secret: SecretReader) -> httpx.AsyncClient:
        """The shared client, unless this config has TLS settings of its own (httpx sets TLS per client)."""
        if tls is None:
            return self._http
        client = self._tls_clients.get(tls)
        if client is None:
            context: ssl.SSLContext = ssl_context(tls, secret)
            client = self._tls_clients[tls] = make_http_client(verify=context)
        return client

    async def aclose(self) -> None:
        for client in self._tls_clients.values():
            await client.aclose()


def _credentials(http_config: HTTPConfig | None, secret: SecretReader) -> tuple[dict[str, str], Any]:
    if http_config is None:
        return {}, None
    if http_config.bearer_token is not None:
        return {"Authorization": f"Bearer {credential_value(http_config.bearer_token, secret)}"}, None
    if http_config.basic_auth is not None:
        basic = http_config.basic_auth
        password = credential_value(basic.password, secret) if basic.password else ""
        return {}, httpx.BasicAuth(basic.username, password)
    return {}, None


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
)


class WebhookPlugin:
    @hookimpl
    def nmcore_register_channels(self, register: Any) -> None:
        register(SPEC)
