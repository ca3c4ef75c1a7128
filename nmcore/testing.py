"""The public test kit for nmcore and channel plugins: snapshots and send requests from YAML, sample alerts,
a sender built the way the manager builds it, a fake service served on loopback, and a scriptable fake
channel (`ScriptedChannel`)."""

import logging
import ssl
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import attrs
from aiohttp import web

from nmcore.alerts import Alert, Notification, Status, fingerprint_of
from nmcore.channel import ChannelContext, Sender, SendRequest
from nmcore.httpclient import make_http_client, new_session
from nmcore.manifests import documents_from_text
from nmcore.plugins import PluginHost
from nmcore.render import DefaultRenderer
from nmcore.requests import build_request
from nmcore.sdk import (
    ChannelLimits,
    ChannelSpec,
    LabelSelector,
    PermanentError,
    RegisterChannel,
    SecretKeySelector,
    SendReport,
    TransientError,
    hookimpl,
)
from nmcore.snapshot import Snapshot, build_snapshot


def plugin_host(plugins: Iterable[object] = ()) -> PluginHost:
    """A host with the built-ins and `plugins`, ignoring installed entry points (tests stay hermetic)."""
    return PluginHost(load_entrypoints=False, plugins=plugins)


def snapshot_from_yaml(text: str, *, plugins: Iterable[object] = (), host: PluginHost | None = None) -> Snapshot:
    host = host or plugin_host(plugins)
    documents, problems = documents_from_text(text, "test.yaml")
    return build_snapshot(documents, host.channels, problems=problems)


def alert(status: Status = "firing", annotations: Mapping[str, str] | None = None, **labels: str) -> Alert:
    labels = {"alertname": "TestAlert", **labels}
    return Alert(status=status, labels=labels, annotations=annotations or {"summary": "something happened"},
                 starts_at="2026-11-24T05:53:21.974712798Z", fingerprint=fingerprint_of(labels))


def send_request(snapshot: Snapshot, receiver_ref: str, alerts: Iterable[Alert] = ()) -> SendRequest:
    """The request the core would give the receiver's sender for these alerts (default: one TestAlert)."""
    target = snapshot.targets.get(receiver_ref)
    if target is None:
        reason = snapshot.skipped.get(receiver_ref, "no such receiver")
        raise LookupError(f"{receiver_ref} cannot send: {reason}; problems: {[str(p) for p in snapshot.problems]}")
    notification = Notification(receiver=receiver_ref, channel=target.channel, tenant=target.tenant,
                                alerts=tuple(alerts) or (alert(namespace="demo"),))
    request, _ = build_request(snapshot, target, notification, DefaultRenderer().render(notification))
    return request


S = TypeVar("S", bound=Sender)


@asynccontextmanager
async def running_sender(make_sender: Callable[[ChannelContext], S], channel: str) -> AsyncIterator[S]:
    """A sender with the context the manager gives it (the shared aiohttp session and the httpx client over
    it), closed afterwards as the manager closes it."""
    session = new_session()
    http = make_http_client(session=session)
    logger = logging.getLogger(f"nmcore.channel.{channel}")
    sender = make_sender(ChannelContext(http=http, session=session, logger=logger))
    try:
        yield sender
    finally:
        await sender.aclose()
        await http.aclose()


@asynccontextmanager
async def serving(app: web.Application, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """Serve a fake service's aiohttp app on a free loopback port; yields its base URL. No access log: a
    fake's log could show credentials that nmcore itself must never log."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = runner.addresses[0][1]
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@attrs.frozen(kw_only=True)
class ScriptedConfig:
    token: SecretKeySelector | None = None


@attrs.frozen(kw_only=True)
class ScriptedReceiver:
    config_selector: LabelSelector | None = None


class ScriptedChannel:
    """A fake channel (kinds ScriptedConfig/ScriptedReceiver) for testing the core or a plugin's hooks: it
    answers each send as `scripts[receiver name]` says, step by step, then "ok": ok, transient, retry:<s>,
    permanent, slow:<s>, hang, bug (an unexpected exception), leak (an error quoting the secret), warn.

        channel = ScriptedChannel()
        channel.scripts["a"] = ["transient", "ok"]
        async with Manager.from_yaml(scripted_manifests("a"), plugins=[channel]) as manager: ...
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[str]] = defaultdict(list)
        self.sent: list[tuple[str, float, tuple[tuple[str, str], ...]]] = []
        self.texts: list[tuple[str, str]] = []
        """(receiver name, rendered text) of each successful send."""

    @hookimpl
    def nmcore_register_channels(self, register: RegisterChannel) -> None:
        register(ChannelSpec(name="scripted", config_kind="ScriptedConfig", receiver_kind="ScriptedReceiver",
                             config_schema=ScriptedConfig, receiver_schema=ScriptedReceiver,
                             make_sender=lambda ctx: self, limits=ChannelLimits(send_timeout=0.5)))

    async def send(self, request: SendRequest[ScriptedConfig, ScriptedReceiver]) -> SendReport | None:
        name = request.receiver.name
        step = self.scripts[name].pop(0) if self.scripts[name] else "ok"
        if step.startswith("slow:"):
            await anyio.sleep(float(step.split(":")[1]))
        elif step == "transient":
            raise TransientError("service unavailable (503)")
        elif step.startswith("retry:"):
            raise TransientError("rate limited", retry_after=float(step.split(":")[1]))
        elif step == "permanent":
            raise PermanentError("channel_not_found: invite the bot")
        elif step == "bug":
            raise RuntimeError("plugin bug")
        elif step == "leak":
            assert request.config is not None and request.config.spec.token is not None
            raise PermanentError(f"bad token {request.secret(request.config.spec.token)}")
        elif step == "hang":
            await anyio.sleep(60)
        alerts = tuple((a.labels["alertname"], a.status) for a in request.notification.alerts)
        self.sent.append((name, time.monotonic(), alerts))
        self.texts.append((name, request.message.text))
        return SendReport(warnings=("user x unknown",)) if step == "warn" else None

    async def aclose(self) -> None:
        pass


SCRIPTED_CONFIG = """
apiVersion: v1
kind: Secret
metadata: {name: tok}
stringData: {token: hunter2-very-secret}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedConfig
metadata: {name: default, labels: {type: default}}
spec: {token: {name: tok, key: token}}
"""


def scripted_manifests(*receivers: str) -> str:
    """A default ScriptedConfig (with a Secret-held token) and a global ScriptedReceiver per name."""
    return SCRIPTED_CONFIG + "".join(f"""---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedReceiver
metadata: {{name: {name}, labels: {{type: global}}}}
spec: {{}}
""" for name in receivers)
