"""The built-in webhook channel: POSTs the notification as JSON in Alertmanager's webhook shape.

It registers through `nmcore_register_channels` like any plugin. The body is Alertmanager's (version 4)
plus `receiver` and `tenant`, so tools that already read Alertmanager webhooks read it unchanged. In v2beta2
the receiver block carries its destination (`url`, or a cluster `service`) and never uses a Config.
"""

import base64
import ssl
from typing import Any

import aiohttp
import anyio
import attrs
import orjson

from nmcore.sdk import (
    READ_CHUNK,
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
    V2Beta2Block,
    credential_value,
    hookimpl,
    new_session,
    raise_for_status,
    read_prefix,
    redact_url_secrets,
    ssl_context,
    transport_errors,
    v2beta2,
)

LIMITS = ChannelLimits(send_timeout=5.0)
THREAD_BODY_ALERTS = 1000
"""A notification with more alerts than this is turned into its JSON body in a worker thread."""


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

    @property
    def target_url(self) -> str:
        return self.url


@attrs.frozen(kw_only=True)
class WebhookConfigBlock(v2beta2.ConfigBlock):
    """The `webhook` block of a v2beta2 Config: empty, as in the original (a webhook receiver needs no config)."""

    @classmethod
    def from_v1alpha1(cls, body: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        """`nm convert`: a WebhookConfig's url and httpConfig move to the receivers that use it."""
        return {}


@attrs.frozen(kw_only=True)
class ServiceReference:
    namespace: str
    name: str
    path: str | None = None
    port: int | None = None
    scheme: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.port is not None and not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not a TCP port (1-65535)")

    @property
    def url(self) -> str:
        """`scheme://name.namespace[:port]/path`, as the original builds it (with the `/` it forgets without a port)."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme or 'http'}://{self.name}.{self.namespace}{port}/{(self.path or '').lstrip('/')}"


@attrs.frozen(kw_only=True)
class WebhookReceiverBlock(v2beta2.ReceiverBlock):
    """The `webhook` block of a v2beta2 Receiver: exactly one of `url` and `service`."""

    config_selector: v2beta2.LabelSelector | None = None
    url: str | None = None
    service: ServiceReference | None = None
    http_config: v2beta2.HTTPClientConfig | None = None

    def __attrs_post_init__(self) -> None:
        if self.url is None and self.service is None:
            raise ValueError("must specify one of: `url` or `service`")
        if self.url is not None and self.service is not None:
            raise ValueError("give url or service, not both")

    @property
    def target_url(self) -> str:
        return self.url if self.url is not None else self.service.url if self.service else ""

    @classmethod
    def from_v1alpha1(cls, body: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        """`nm convert`: a v1alpha1 receiver without a url sends to its WebhookConfig's, with its httpConfig."""
        if not body.get("url") and config:
            body["url"] = config.get("url", "")
            if "httpConfig" in config:
                body["httpConfig"] = config["httpConfig"]
        body.pop("webhookConfigSelector", None)
        return body

    @classmethod
    def to_v1alpha1(cls, body: dict[str, Any]) -> dict[str, Any]:
        if "service" in body:
            body["url"] = ServiceReference(**body.pop("service")).url
        return body


def _needs_config(spec: WebhookReceiverSpec | WebhookReceiverBlock) -> bool:
    return isinstance(spec, WebhookReceiverSpec) and not spec.url


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
        self._tls: dict[TLSConfig | v2beta2.TLSConfig, ssl.SSLContext] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self._shared is not None:
            return self._shared
        if self._own is None:
            self._own = new_session()
        return self._own

    async def send(self, request: SendRequest[WebhookConfigSpec, WebhookReceiverSpec | WebhookReceiverBlock]) -> None:
        receiver = request.receiver.spec
        config = request.config.spec if request.config else None
        own = receiver.target_url
        url = own or (config.url if config else "")
        if not url:
            raise PermanentError("no url: set spec.url on the WebhookReceiver or on its WebhookConfig")
        # Credentials go only where their owner sends them: a receiver's own url gets only its own httpConfig.
        http_config = receiver.http_config if own else (config.http_config if config else None)
        notification = request.notification
        if len(notification.alerts) > THREAD_BODY_ALERTS:  # seconds of work for 100,000 alerts: off the loop
            body = await anyio.to_thread.run_sync(lambda: orjson.dumps(webhook_body(notification)))
        else:
            body = orjson.dumps(webhook_body(notification))
        await self.post(url, body, http_config, request.secret, request.timeout)

    async def post(self, url: str, body: bytes, http_config: HTTPConfig | v2beta2.HTTPClientConfig | None,
                   secret: SecretReader, timeout: float) -> None:
        """POST a JSON `body` with `http_config`'s credentials, TLS and proxy; raise the SDK's errors on failure
        (also how the history webhook is posted)."""
        headers = {"Content-Type": "application/json", **_authorization(http_config, secret)}
        tls = http_config.tls_config if http_config else None
        proxy = getattr(http_config, "proxy_url", "") or None
        service = f"webhook {redact_url_secrets(url)}"
        with transport_errors(service):
            async with self._session().post(url, data=body, headers=headers, ssl=self._ssl(tls, secret),
                                            proxy=proxy, timeout=aiohttp.ClientTimeout(total=timeout),
                                            allow_redirects=False) as response:
                text = (await read_prefix(response.content.iter_chunked(READ_CHUNK))).decode(errors="replace")
        raise_for_status(response.status, response.headers, text, service)

    def _ssl(self, tls: TLSConfig | v2beta2.TLSConfig | None, secret: SecretReader) -> ssl.SSLContext | bool:
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


def _authorization(http_config: HTTPConfig | v2beta2.HTTPClientConfig | None, secret: SecretReader) -> dict[str, str]:
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
    v2beta2=V2Beta2Block(name="webhook", config_schema=WebhookConfigBlock, receiver_schema=WebhookReceiverBlock),
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
