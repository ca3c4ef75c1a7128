"""The public test kit for nmcore and channel plugins: snapshots and send requests from YAML, sample alerts,
a sender built the way the manager builds it, a fake service served on loopback, a scriptable fake channel
(`ScriptedChannel`), and the channel contract suite (`ChannelContract`) every channel plugin runs against its
own fake of its service. `structure` (with `SchemaError`) checks a manifest fragment against a schema
class with located errors, as the loader does. `collecting` opens what the core opens around each send: `with
collecting() as carried:` then `carried.scrub(text)` hides what the send's requests carried and what it noted
(`nmcore.sdk.note_secret`)."""

import base64
import logging
import re
import socket
import ssl
import time
import traceback
import urllib.parse
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol, TypeVar

import anyio
import attrs
import pytest
from aiohttp import web

from nmcore import v2beta2
from nmcore.alerts import Alert, Notification, Status, fingerprint_of
from nmcore.channel import ChannelContext, Sender, SendRequest
from nmcore.httpclient import make_http_client, new_session
from nmcore.manifests import documents_from_text
from nmcore.plugins import PluginHost
from nmcore.redaction import collecting as collecting  # re-exported: what the core scrubs a send's errors of
from nmcore.render import DefaultRenderer
from nmcore.requests import build_request
from nmcore.resources import Credential, ObjectMeta, Resource
from nmcore.schema import SchemaError as SchemaError  # re-exported: the kit checks manifest fragments
from nmcore.schema import structure as structure
from nmcore.sdk import (
    ChannelLimits,
    ChannelSpec,
    DeliveryError,
    LabelSelector,
    PermanentError,
    RegisterChannel,
    SecretKeySelector,
    SendReport,
    TransientError,
    hookimpl,
    utf8_len,
)
from nmcore.snapshot import Snapshot, build_snapshot
from nmcore.tlsconfig import SecretSource


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
    renderer = DefaultRenderer()
    renderer.prepare(snapshot)
    request, _ = build_request(snapshot, target, notification, renderer.render(notification, target))
    return request


def block_request(receiver: Any, config: Any = None, *, channel: str, alerts: Iterable[Alert] = (),
                  secrets: Mapping[str, Mapping[str, str]] | None = None) -> SendRequest:
    """A send request for a global receiver (and config) whose specs a test built itself, e.g. v2beta2 blocks
    structured with `structure`; Secret keys resolve from `secrets` (name → key → value)."""
    owner = Resource(kind="Receiver", metadata=ObjectMeta(name="ops", labels={"type": "global"}), spec=receiver)
    used = None if config is None else Resource(
        kind="Config", metadata=ObjectMeta(name="default", labels={"type": "default"}), spec=config)
    notification = Notification(receiver=owner.ref, channel=channel, tenant="",
                                alerts=tuple(alerts) or (alert(namespace="demo"),))
    values = secrets or {}

    def secret(ref: SecretSource) -> str:  # what SendRequest.secret takes: a Secret key or a credential
        if isinstance(ref, Credential | v2beta2.Credential):
            if ref.value_from is None:
                return ref.value or ""
            assert ref.value_from.secret_key_ref is not None
            ref = ref.value_from.secret_key_ref
        try:
            return values[ref.name][ref.key]
        except KeyError:
            raise PermanentError(f"{ref}: not among the test's secrets") from None

    return SendRequest(notification=notification, message=DefaultRenderer().render(notification), receiver=owner,
                       config=used, secret=secret)


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


class FakeService(Protocol):
    """A plugin's fake of its service, as the channel contract suite drives it."""

    url: str
    """Where the fake listens (`http://127.0.0.1:PORT`); `ChannelContract.manifests(url)` points a config at it."""

    def rate_limit(self, retry_after: int) -> None:
        """Answer the next request as the real API does when rate limiting, advertising `retry_after` seconds
        where the API has a way to say so."""

    def texts(self) -> list[str]:
        """The message texts received so far, in order, as the channel's declared size limit measures them."""


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago): sending there is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _encodings(secret: str) -> set[str]:
    """A secret as it might leak: as is, base64 (Basic auth), URL-quoted."""
    return {secret, base64.b64encode(secret.encode()).decode(), urllib.parse.quote(secret, safe="")}


class ChannelContract:
    """The checks every channel must pass, run against a plugin's own fake of its service. A plugin subclasses
    it in a test module (`class TestContract(ChannelContract)`) and gives:

    - `plugin`: the module or object with its hook implementations;
    - `receiver`: the ref (`Kind/namespace/name`) of the receiver `manifests` defines;
    - `manifests(url)`: manifests whose config sends to the service at `url`, credentials from a Secret;
    - `secrets`: every secret value in those manifests;
    - `unconfigured`: manifests with a receiver that needs a config and has none it may use;
    - a `service` fixture yielding its fake (a `FakeService`), and, optionally, `unreachable_match` (a regex the
      unreachable error must match) and `rate_limits = False` for a service with no rate-limit answer.

    Checked: an unreachable service is a TransientError; a secret never appears in errors, logs or reprs, in
    any encoding; a rate limit is transient with `retry_after` at least what the service advertised; a long
    notification arrives split within the declared limits, in order, with no alert lost; a receiver without a
    usable config is reported by validation and not sent to; a service answering an endless body (declaring
    10 GB) is read only as far as the bound (`http_replies = False` for a channel that does not speak HTTP).
    """

    pytestmark = pytest.mark.anyio
    plugin: object
    receiver: str
    secrets: tuple[str, ...]
    unconfigured: str
    unreachable_match: str = ""
    rate_limits: bool = True
    http_replies: bool = True
    ADVERTISED_WAIT = 30

    def manifests(self, url: str) -> str:
        raise NotImplementedError("give the manifests whose config sends to the service at `url`")

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.fixture
    def service(self) -> FakeService:
        raise NotImplementedError("give a `service` fixture yielding the plugin's fake of its service")

    @property
    def spec(self) -> ChannelSpec[Any, Any]:
        kind = self.receiver.split("/")[0]
        return next(c.spec for c in plugin_host([self.plugin]).channels.values() if c.spec.receiver_kind == kind)

    @asynccontextmanager
    async def sender(self) -> AsyncIterator[Sender]:
        async with running_sender(self.spec.make_sender, self.spec.name) as sender:
            yield sender

    def request(self, url: str, alerts: Iterable[Alert] = ()) -> SendRequest[Any, Any]:
        return send_request(snapshot_from_yaml(self.manifests(url), plugins=[self.plugin]), self.receiver, alerts)

    async def test_an_unreachable_service_is_transient(self) -> None:
        async with self.sender() as sender:
            with pytest.raises(TransientError, match=self.unreachable_match):
                await sender.send(self.request(f"http://127.0.0.1:{closed_port()}"))

    async def test_a_secret_never_shows_in_errors_logs_or_reprs(self, service: FakeService,
                                                               caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        caplog.set_level(logging.DEBUG, logger="httpx")  # quiet by default; an operator may turn it up
        shown: list[str] = []
        unreachable = f"http://127.0.0.1:{closed_port()}"
        scenarios = [(service.url, False), (unreachable, False), (service.url, self.rate_limits)]
        async with self.sender() as sender:
            for url, rate_limited in scenarios:
                if rate_limited:
                    service.rate_limit(self.ADVERTISED_WAIT)
                request = self.request(url)
                try:
                    report = await sender.send(request)
                    shown.append(repr(report))
                except DeliveryError as exc:
                    shown += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
                shown += [repr(request), repr(request.config), repr(request.receiver)]
            shown += [repr(sender), caplog.text]
        assert service.texts(), "the first send arrived (so the secrets were used)"
        for secret in self.secrets:
            for leaked in _encodings(secret):
                assert not [text for text in shown if leaked in text], f"a secret ({leaked[:2]}…) was shown"

    async def test_a_rate_limit_is_transient_and_waits_as_long_as_the_service_asks(self, service: FakeService) -> None:
        if not self.rate_limits:
            pytest.skip("this service has no rate-limit answer")
        service.rate_limit(self.ADVERTISED_WAIT)
        async with self.sender() as sender:
            with pytest.raises(TransientError) as caught:
                await sender.send(self.request(service.url))
        assert caught.value.retry_after is not None and caught.value.retry_after >= self.ADVERTISED_WAIT

    async def test_a_long_notification_is_split_within_the_declared_limits_in_order(self, service: FakeService) -> None:
        limits = self.spec.limits
        size = min(x for x in (limits.max_message_bytes, limits.max_message_chars, 20_000) if x is not None)
        note = "lorem ipsum dolor " * 25  # 450 characters per alert, with the alert's number
        count = max(30, 3 * size // len(note))
        alerts = [alert(namespace="demo", annotations={"summary": f"alert-{i:04} {note}"}, pod=f"p{i:04}")
                  for i in range(count)]
        async with self.sender() as sender:
            await sender.send(self.request(service.url, alerts))
        texts = service.texts()
        if limits.max_message_bytes is not None or limits.max_message_chars is not None:
            assert len(texts) > 1, "more than the declared size arrives as several messages"
        for text in texts:
            assert limits.max_message_bytes is None or utf8_len(text) <= limits.max_message_bytes
            assert limits.max_message_chars is None or len(text) <= limits.max_message_chars
        received = re.findall(r"alert-(\d{4})", "\n".join(texts))
        assert sorted(set(received), key=received.index) == [f"{i:04}" for i in range(count)], \
            "every alert arrives, in order"

    async def test_an_endless_reply_is_read_only_as_far_as_the_bound(self) -> None:
        if not self.http_replies:
            pytest.skip("this channel does not speak HTTP")
        server = EndlessReply(200)
        async with serving(server.app()) as url, self.sender() as sender:
            with suppress(DeliveryError):  # a cut body is not the service's answer: failing is fine
                await sender.send(self.request(url))
        assert server.requests >= 1, "the channel sent to the service"
        assert server.written < BOUNDED_READ_SLACK, f"{server.written:,} bytes of the reply were taken"

    def test_a_receiver_without_a_usable_config_is_reported_and_not_sent_to(self) -> None:
        snapshot = snapshot_from_yaml(self.unconfigured, plugins=[self.plugin])
        assert len(snapshot.skipped) == 1, snapshot.problems
        (ref, reason) = next(iter(snapshot.skipped.items()))
        assert ref not in snapshot.targets
        assert any(ref in str(p) and "will not send" in str(p) and reason in str(p) for p in snapshot.problems)


def alertmanager_body(*namespaces: str, summary: str = "container {pod} keeps crashing") -> dict[str, Any]:
    """An Alertmanager webhook body with one KubePodCrashLooping alert per namespace given (pods web-0, web-1,
    …), each with `summary` formatted with its pod: what the end-to-end tests of every channel submit."""
    alerts = [
        {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": ns, "pod": f"web-{i}"},
         "annotations": {"summary": summary.format(pod=f"web-{i}")}, "startsAt": "2026-11-24T05:53:21.974712798Z",
         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": f"{i:016x}"}
        for i, ns in enumerate(namespaces)
    ]
    group = {"alertname": "KubePodCrashLooping"}
    return {"receiver": "nmcore", "status": "firing", "alerts": alerts, "groupLabels": group, "commonLabels": group,
            "commonAnnotations": {}, "externalURL": "http://am:9093", "version": "4",
            "groupKey": '{}:{alertname="KubePodCrashLooping"}', "truncatedAlerts": 0}


def rolebinding_yaml(user: str, namespace: str) -> str:
    """A RoleBinding document (with its leading `---`) that lets `user` view `namespace`."""
    return f"""
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {user}-view, namespace: {namespace}}}
subjects: [{{kind: User, name: {user}, apiGroup: rbac.authorization.k8s.io}}]
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
"""


async def send_all(sender: Sender, requests: Iterable[SendRequest]) -> list[BaseException]:
    """Send `requests` concurrently through one sender; the errors they raised (empty if none did)."""
    errors: list[BaseException] = []

    async def one(request: SendRequest) -> None:
        try:
            await sender.send(request)
        except Exception as exc:  # collected for the caller's assertions
            errors.append(exc)

    async with anyio.create_task_group() as tasks:
        for request in requests:
            tasks.start_soon(one, request)
    return errors


BOUNDED_READ_SLACK = 32 * 1024 * 1024
"""What an `EndlessReply` may have written when its client reads a bounded prefix: the prefix and whatever the
socket buffers of both ends took before the client hung up (a few MiB); an unbounded read takes its cap."""


class EndlessReply:
    """A server whose every answer declares a huge body (10 GB by default) and streams garbage until the client
    hangs up, or until `cap` bytes (a safety net for the test itself). `written` is how much the client took,
    `answered` how many answers have ended (the client hung up or took the cap)."""

    def __init__(self, status: int = 200, *, content_type: str = "application/json",
                 declared: int = 10 * 1024**3, cap: int = 128 * 1024**2):
        self.status = status
        self.content_type = content_type
        self.declared = declared
        self.cap = cap
        self.written = 0
        self.requests = 0
        self.answered = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests += 1
        response = web.StreamResponse(status=self.status, headers={"Content-Type": self.content_type})
        response.content_length = self.declared
        await response.prepare(request)
        chunk = b"garbage " * 8192
        try:
            while self.written < self.cap:
                await response.write(chunk)
                self.written += len(chunk)
        except ConnectionError:  # the client stopped reading and closed: what a bounded reader does
            pass
        self.answered += 1
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app
