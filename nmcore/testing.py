"""Helpers for testing nmcore and channel plugins: snapshots and send requests from YAML, sample alerts,
and a sender built the way the manager builds it."""

import logging
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import TypeVar

from aiohttp import web

from nmcore.alerts import Alert, Notification, Status, fingerprint_of
from nmcore.channel import ChannelContext, Sender, SendRequest
from nmcore.httpclient import make_http_client, new_session
from nmcore.manifests import documents_from_text
from nmcore.plugins import PluginHost
from nmcore.render import DefaultRenderer
from nmcore.requests import build_request
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
