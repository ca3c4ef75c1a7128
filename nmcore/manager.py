"""The manager: a config source, the router, the store and the dispatcher composed, with no HTTP server.

This is the library entry point. Another program builds a Manager from a source (or YAML), enters it,
and feeds it alert groups; the `nm run` server is a thin layer over the same object. Its collaborators (the
source, store, plugin host, renderer, HTTP client) are arguments; its knobs are one frozen `ManagerSettings`.
"""

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import anyio
import attrs
import httpx
import orjson

from nmcore import batching
from nmcore.alerts import AlertGroup, Notification, with_default_label
from nmcore.attempt import send_once
from nmcore.builtins.webhook import WebhookSender
from nmcore.channel import ChannelContext, StartedChannel
from nmcore.console import channel_of, targets_from_objects
from nmcore.delivery import Dispatcher, Outcome
from nmcore.errors import Busy, NmcoreError, NotReady
from nmcore.fallback import choose_fallback, crosses_limit, fell_back_before, redirected
from nmcore.history import HistoryEntry, HistoryQuery, HistoryRecorder, Withheld
from nmcore.history import Outcome as Verdict
from nmcore.httpclient import make_http_client, new_session
from nmcore.ingest import Parsed, parse_payload
from nmcore.metrics import Metrics
from nmcore.plugins import PluginHost
from nmcore.redaction import publish as publish_scrubber
from nmcore.redaction import withdraw as withdraw_scrubber
from nmcore.render import DefaultRenderer, Renderer
from nmcore.requests import SecretTracker
from nmcore.resources import Resource
from nmcore.routing import Routed, Router
from nmcore.settings import ManagerSettings
from nmcore.snapshot import Document, Problem, Snapshot, Target, build_snapshot, empty_snapshot
from nmcore.sources import ConfigSource, StaticSource
from nmcore.store import Job, MemoryStore, Store
from nmcore.verify import ALERTNAME, VerifyResult, find_receiver, verification_notification

log = logging.getLogger(__name__)


@attrs.frozen
class Accepted:
    alerts: int
    notifications: int
    duplicates: int = 0
    rejected: tuple[str, ...] = ()


class Manager:
    def __init__(
        self,
        source: ConfigSource,
        *,
        settings: ManagerSettings = ManagerSettings(),
        host: PluginHost | None = None,
        store: Store | None = None,
        renderer: Renderer | None = None,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ):
        """`clock` (seconds since the epoch) decides which Silences are active; tests inject one."""
        self.settings = settings
        self.host = host or PluginHost()
        self.source = source
        self.metrics = Metrics()
        self.outcomes: deque[Outcome] = deque(maxlen=settings.keep_outcomes)
        self._warned: set[str] = set()
        self.router = Router(self.host, self.host.tenant_resolver(settings.tenant_resolver, settings.tenant_options),
                             on_lookup_failure=lambda namespace, error: self.metrics.tenant_lookup_failures.inc(),
                             clock=clock)
        self._store = store or MemoryStore()
        self._renderer = renderer or DefaultRenderer(default_namespace=settings.default_namespace)
        self._reserved = 0
        """Deliveries of POSTs being stored right now: they count against max_pending too."""
        self._http = http_client
        self._session: aiohttp.ClientSession | None = None
        self._snapshot = empty_snapshot(self.host.channels)
        self._ready = anyio.Event()
        self._channels: dict[str, StartedChannel] = {}
        self._dispatcher: Dispatcher | None = None
        """Made on entry, once the channels it sends with have started."""
        # Read at scrape time: a value set by hand lagged the counter (it stayed at 1 with nothing pending).
        self.metrics.pending.set_function(lambda: self.pending)
        self.metrics.waiting_in_batches.set_function(lambda: sum(self.waiting_in_batches.values()))
        self._stack: AsyncExitStack | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._fell_back: set[str] = set()
        """Jobs still being retried that this process already sent to their fallback for failing too long."""
        self._history = (HistoryRecorder(self._store, retention=settings.history_retention)
                         if settings.history else None)

    @classmethod
    def from_yaml(cls, text: str, *, plugins: Iterable[object] = (), settings: ManagerSettings = ManagerSettings(),
                  store: Store | None = None, renderer: Renderer | None = None) -> "Manager":
        """A manager on inline manifests, with `plugins` and the built-ins only (no entry points)."""
        return cls(StaticSource.from_yaml(text), settings=settings, store=store, renderer=renderer,
                   host=PluginHost(load_entrypoints=False, plugins=plugins))

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """What in the configuration is probably not what was meant, though valid (a tenant nobody can reach)."""
        return self._snapshot.access_warnings if self.settings.tenant_resolver == "rbac" else ()

    @property
    def ready(self) -> bool:
        """The first configuration is loaded (see `unready_reason` for whether work can be taken now)."""
        return self._ready.is_set()

    def unready_reason(self) -> str:
        """Why this manager cannot take work now (no configuration yet, its store unreachable), or "" (/readyz)."""
        if not self.ready:
            return "no configuration yet"
        return self._store.unavailable()

    @property
    def pending(self) -> int:
        """Deliveries accepted and not yet finished: this process's, or every replica's on a shared store."""
        backlog = self._store.backlog()
        if backlog is not None:
            return backlog
        return self._dispatcher.pending if self._dispatcher else 0

    @property
    def waiting_in_batches(self) -> dict[str, int]:
        """Receiver → this process's deliveries waiting in its batches (batchMaxWait), counted in `pending` too."""
        return self._dispatcher.waiting_in_batches if self._dispatcher else {}

    @property
    def _running(self) -> Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("the manager is not running: use it as `async with manager:`")
        return self._dispatcher

    @property
    def store(self) -> Store:
        return self._store

    def template_status(self, receiver: str) -> list[str]:
        """Template trouble of one receiver now: refused templates, and the last failure of each format."""
        return self._renderer.receiver_status(receiver)

    def publish(self, documents: Sequence[Document], problems: Sequence[Problem] = ()) -> Snapshot:
        """Build a snapshot from a source's documents and swap it in whole."""
        started = time.perf_counter()
        snapshot = build_snapshot(documents, self.host.channels, default_namespace=self.settings.default_namespace,
                                  problems=problems, cluster=self.settings.cluster,
                                  unloaded_plugin=self.host.unloaded_plugin, previous=self._snapshot)
        template_problems = self._renderer.prepare(snapshot)
        if template_problems:
            snapshot = attrs.evolve(snapshot, problems=(*snapshot.problems, *template_problems))
        self._snapshot = snapshot
        publish_scrubber(self, snapshot.scrubber)  # this process's log hides this configuration's credentials
        self._ready.set()
        m = self.metrics
        m.config_problems.set(sum(1 for p in snapshot.problems if not p.notice))
        m.receivers_skipped.set(len(snapshot.skipped))
        for channel in self.host.channels:
            m.receivers.labels(channel).set(sum(1 for t in snapshot.targets.values() if t.channel == channel))
        log.info("configuration loaded in %.0f ms: %d receivers can send, %d cannot, %d problems",
                 (time.perf_counter() - started) * 1000, len(snapshot.targets), len(snapshot.skipped),
                 len(snapshot.problems))
        warned, self._warned = self._warned, {str(w) for w in self.warnings}
        for warning in sorted(self._warned - warned):  # once each, not at every reload
            log.warning("config: %s", warning)
        return snapshot

    async def __aenter__(self) -> "Manager":
        stack = self._stack = AsyncExitStack()
        await stack.__aenter__()
        try:
            if self._http is None:
                self._session = new_session(self.settings.network_policy)
                self._http = make_http_client(session=self._session)
                stack.push_async_callback(self._http.aclose)
            self._start_senders(stack)
            dispatcher = self._dispatcher = Dispatcher(
                store=self._store, channels=self._channels, snapshot=lambda: self._snapshot,
                renderer=self._renderer, policy=self.settings.retry, per_receiver=self.settings.per_receiver,
                report=self._record, on_attempt=self._observe_attempt,
                on_send=self._history.attempt_of if self._history else lambda job, ok, answer: None,
                on_retry=self._on_retry,
                on_merge=self._history.merged if self._history else lambda job_id, members: None,
                on_release=self._silenced_after_wait,
            )
            pending = await self._store.open()
            stack.push_async_callback(self._store.close)
            self._tasks = await stack.enter_async_context(anyio.create_task_group())
            self._tasks.start_soon(self._run_source)
            self._tasks.start_soon(self._deliver_once_configured, dispatcher)
            if self._history:
                self._history.publish = self._post_history
                self._tasks.start_soon(self._history.run)
            dispatcher.enqueue(pending)
            if pending:
                log.info("resuming %d pending deliveries from the store", len(pending))
        except BaseException:
            await stack.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Stop. An exception raised in the `async with` body propagates as raised, not wrapped in the
        ExceptionGroup the background task group would make of it."""
        assert self._stack is not None and self._tasks is not None
        self._tasks.cancel_scope.cancel()
        try:
            await self._stack.__aexit__(None, None, None)
        finally:
            withdraw_scrubber(self)

    def _start_senders(self, stack: AsyncExitStack) -> None:
        assert self._http is not None
        for name, registered in self.host.channels.items():
            context = ChannelContext(http=self._http, session=self._session,
                                     logger=logging.getLogger(f"nmcore.channel.{name}"))
            try:
                sender = registered.spec.make_sender(context)
            except Exception:  # one broken channel must not stop the others
                log.exception("channel %s (%s) could not start; its receivers will not send",
                              name, registered.plugin.distribution)
                continue
            self._channels[name] = StartedChannel(registered.spec, sender)
            stack.push_async_callback(sender.aclose)

    async def _run_source(self) -> None:
        try:
            await self.source.run(self.publish)
        except Exception:  # keep serving the last configuration
            log.exception("config source %s stopped; keeping the last configuration", type(self.source).__name__)

    async def _await_config(self) -> None:
        """Wait up to `ready_wait` for the first configuration; acting on the empty one would lose work."""
        try:
            await self.wait_ready(self.settings.ready_wait)
        except TimeoutError:
            raise NotReady("no configuration loaded yet") from None

    async def _deliver_once_configured(self, dispatcher: Dispatcher) -> None:
        """Jobs resumed from the store wait for the first configuration: sent against the empty one they would
        all look unconfigured and be dead-lettered (a Kubernetes source takes seconds to sync). A shared store's
        work is not claimed before then either, so a replica that cannot load its configuration takes none."""
        await self._ready.wait()
        assert self._tasks is not None
        self._tasks.start_soon(self._store.watch, dispatcher.enqueue)
        await dispatcher.run()

    async def wait_ready(self, timeout: float | None = None) -> None:
        with anyio.fail_after(timeout):
            await self._ready.wait()

    async def submit(self, group: AlertGroup) -> Accepted:
        """Route `group` and commit its jobs; return once they are stored (delivery happens after)."""
        dispatcher = self._running
        await self._await_config()
        self._check_room(0)
        if self.cluster:
            group = with_default_label(group, "cluster", self.cluster)
        withheld: dict[str, str] | None = {} if self._history else None
        routed = await self._with_owed_resolved(group, await self.router.route(group, self._snapshot, withheld))
        if withheld:  # a receiver owed a resolved gets it, whatever routing would choose now
            for r in routed:
                withheld.pop(r.notification.receiver, None)
        now = time.time()
        jobs = [Job(id=uuid.uuid4().hex, notification=r.notification, created=now) for r in routed]
        settings = self._snapshot.settings
        if settings.batch_max_wait > 0:
            jobs = batching.waiting(jobs, settings.group_labels, settings.batch_max_wait)
        self._check_room(len(jobs))
        self._reserved += len(jobs)  # concurrent POSTs storing at the same time count against the limit too
        try:
            accepted = await self._store.add(jobs, self.settings.dedup_window)
        finally:
            self._reserved -= len(jobs)
        if self._history and accepted:
            self._history.withheld([j.id for j in accepted], tuple(
                Withheld(receiver=ref, reason=reason) for ref, reason in sorted((withheld or {}).items())))
        if not self._store.shared:  # a shared store's work reaches the dispatcher when claimed
            dispatcher.enqueue(accepted)
        m = self.metrics
        m.alerts_received.inc(len(group.alerts))
        m.notifications_deduplicated.inc(len(jobs) - len(accepted))
        for job in accepted:
            m.notifications_routed.labels(job.notification.channel).inc()
        return Accepted(alerts=len(group.alerts), notifications=len(accepted), duplicates=len(jobs) - len(accepted))

    def _check_room(self, wanted: int) -> None:
        """Busy unless `wanted` more deliveries fit under `max_pending`: a hard limit, one POST included."""
        limit = self.settings.max_pending
        pending = self.pending + self._reserved
        if wanted > limit:
            log.error("a POST routed to %d deliveries, more than --max-pending %d allows at all: it is refused "
                      "until the limit is raised", wanted, limit)
            raise Busy(f"this POST needs {wanted} deliveries, more than the limit of {limit} pending "
                       "allows (raise --max-pending)", retry_after=30)
        if pending + wanted > limit or pending >= limit:
            raise Busy(f"{pending} deliveries pending; {wanted or 'more'} more would exceed the limit of "
                       f"{limit}", retry_after=5)

    async def submit_payload(self, payload: Any) -> Accepted:
        """Accept what POST /api/v2/alerts receives (already JSON-decoded); raises PayloadError if unusable."""
        return await self.submit_parsed(parse_payload(payload))

    async def submit_parsed(self, parsed: Parsed) -> Accepted:
        """Accept a checked payload: its good alerts are routed and stored, its rejected ones counted and logged."""
        if parsed.rejected:
            self.metrics.alerts_rejected.inc(len(parsed.rejected))
            for problem in parsed.rejected:
                log.warning("alert rejected: %s", problem)
        accepted = await self.submit(parsed.group)
        return attrs.evolve(accepted, rejected=parsed.rejected)

    async def explain(self, parsed: Parsed) -> list[dict]:
        """For each alert of a checked payload, as routing would see it now: who gets it and why not the others
        (`nm route`, `POST /api/v2/route`). Nothing is stored or sent."""
        await self._await_config()
        group = with_default_label(parsed.group, "cluster", self.cluster) if self.cluster else parsed.group
        snapshot = self._snapshot
        return [await self.router.explain(alert, snapshot) for alert in group.alerts]

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until everything accepted so far is delivered or dead-lettered."""
        dispatcher = self._running
        with anyio.fail_after(timeout):
            await dispatcher.drain()

    async def stop_delivering(self) -> None:
        """Start no new send; return once those in flight have finished and been recorded. What is queued
        stays pending in the store for the next start. Leaving the `async with` does this too."""
        if self._dispatcher is not None:
            await self._dispatcher.stop()

    async def verify(self, name: str) -> VerifyResult:
        """Send a test notification to the receiver called `name` now, past the queue, and say how it went.
        Raises UnknownReceiver when no single receiver has that name."""
        await self._await_config()
        snapshot = self._snapshot
        ref = find_receiver(snapshot, name)
        target = snapshot.targets.get(ref)
        if target is None:
            channel = next(channel_of(snapshot, r) for r in snapshot.receivers if r.ref == ref)
            error = f"cannot send: {snapshot.skipped.get(ref, 'not configured')}"
            log.info("verify %s: %s", ref, error)
            return VerifyResult(receiver=ref, channel=channel, ok=False, error=error)
        return await self._send_now(snapshot, target, self._notification(target, None))

    async def verify_objects(self, receiver: Any, config: Any = None,
                             group: AlertGroup | None = None) -> list[VerifyResult]:
        """Send to each block of a Receiver object given as the console gives it (saved or not), with `config`
        or the config selection would choose: a test notification, or `group`'s alerts. Raises
        console.BadRequest when the objects cannot be used as written."""
        await self._await_config()
        snapshot = self._snapshot
        return [await self._send_now(snapshot, target, self._notification(target, group))
                for target in targets_from_objects(snapshot, receiver, config)]

    async def send_alerts_to(self, receiver: Resource, group: AlertGroup) -> list[VerifyResult]:
        """Send `group`'s alerts to a configured receiver now, past the queue and routing."""
        await self._await_config()
        snapshot = self._snapshot
        target = snapshot.targets.get(receiver.ref)
        if target is None:
            return [VerifyResult(receiver=receiver.ref, channel=channel_of(snapshot, receiver), ok=False,
                                 error=f"cannot send: {snapshot.skipped.get(receiver.ref, 'not configured')}")]
        return [await self._send_now(snapshot, target, self._notification(target, group))]

    def _notification(self, target: Target, group: AlertGroup | None) -> Notification:
        if group is None:
            return verification_notification(target)
        if self.cluster:
            group = with_default_label(group, "cluster", self.cluster)
        return Notification(receiver=target.receiver.ref, channel=target.channel, tenant=target.tenant,
                            alerts=group.alerts, group_labels=group.group_labels, external_url=group.external_url,
                            group_key=group.group_key)

    async def _send_now(self, snapshot: Snapshot, target: Target, notification: Notification) -> VerifyResult:
        ref = target.receiver.ref
        config = target.config.ref if target.config else ""
        started = self._channels.get(target.channel)
        if started is None:
            return VerifyResult(receiver=ref, channel=target.channel, config=config, ok=False,
                                error=f"channel {target.channel!r} failed to start (see the log at start-up)")
        result = await send_once(started, snapshot, target, notification, self._renderer)
        test = bool(notification.alerts) and notification.alerts[0].labels.get("alertname") == ALERTNAME
        what = "verify" if test else "notification now to"
        log.info("%s %s: %s", what, ref, "delivered" if result.ok else f"failed: {result.error}")
        return VerifyResult(receiver=ref, channel=target.channel, config=config, ok=result.ok, error=result.error,
                            warnings=result.warnings, seconds=result.seconds)

    @property
    def cluster(self) -> str:
        """The label alerts without a `cluster` get: `--cluster`, else the NotificationManager's global cluster."""
        return self._snapshot.settings.cluster

    async def _with_owed_resolved(self, group: AlertGroup, routed: list[Routed]) -> list[Routed]:
        """Resolved follows firing: a receiver delivered an alert's firing gets its resolved even when routing
        would no longer choose it (its configuration changed meanwhile), as long as it still exists."""
        resolved = {a.fingerprint: a for a in group.alerts if a.status == "resolved"}
        if not resolved:
            return routed
        owed = await self._store.owed_resolved(list(resolved))
        by_receiver = {r.notification.receiver: r for r in routed}
        for fingerprint, receivers in owed.items():
            for ref in sorted(receivers):
                target = self._snapshot.targets.get(ref)
                if target is None:  # deleted, or can no longer send: nothing to send with
                    continue
                current = by_receiver.get(ref)
                if current is None:
                    current = by_receiver[ref] = Routed(target, Notification(
                        receiver=ref, channel=target.channel, tenant=target.tenant, alerts=(),
                        group_labels=group.group_labels, external_url=group.external_url,
                        group_key=group.group_key))
                if all(a.fingerprint != fingerprint for a in current.notification.alerts):
                    alerts = (*current.notification.alerts, resolved[fingerprint])
                    by_receiver[ref] = attrs.evolve(current, notification=attrs.evolve(current.notification,
                                                                                         alerts=alerts))
        return list(by_receiver.values())

    async def _silenced_after_wait(self, job: Job) -> dict[str, str]:
        """Which alerts of a batch going now a Silence mutes for its receiver (fingerprint → why), as the original
        mutes after the wait. A resolved one whose firing the receiver was delivered still goes: it would otherwise
        never learn the alert ended."""
        muted = self.router.silenced_now(job.notification, self._snapshot)
        resolved = [a.fingerprint for a in job.notification.alerts if a.status == "resolved" and a.fingerprint in muted]
        if resolved:
            for fingerprint, receivers in (await self._store.owed_resolved(resolved)).items():
                if job.receiver in receivers:
                    del muted[fingerprint]
        total = len(job.notification.alerts)
        if muted and len(muted) < total and self._history:
            self._history.withheld_alerts(job.id, Withheld(
                receiver=job.receiver, reason=f"{len(muted)} of its {total} alerts, after their batch wait: "
                                              + "; ".join(dict.fromkeys(muted.values()))))
        return muted

    async def history(self, query: HistoryQuery) -> list[HistoryEntry]:
        """Finished deliveries matching `query`, newest first (what is still buffered is written first)."""
        if self._history:
            await self._history.flush()
        return await self._store.history(query)

    @property
    def history_webhook(self) -> str:
        """Where history entries are POSTed: `--history-webhook`, else the NotificationManager's
        `spec.history.webhook`, else nowhere ("")."""
        return self.settings.history_webhook or self._snapshot.settings.history_url

    @property
    def fallback_after(self) -> float:
        """Seconds a delivery may keep failing before it also goes to its fallback: `--fallback-after`, else the
        NotificationManager's `spec.fallback.after`; 0: only dead letters fall back."""
        return self.settings.fallback_after or self._snapshot.settings.fallback_after

    async def _post_history(self, entries: Sequence[HistoryEntry]) -> None:
        """POST a batch of entries to `--history-webhook`, else to the NotificationManager's `spec.history.webhook`."""
        body = {"history": [e.to_json() for e in entries]}
        target = None if self.settings.history_webhook else self._snapshot.history_target
        if target is not None:
            await self._post_history_to(target, orjson.dumps(body))
            return
        url = self.history_webhook
        if not url:
            return
        assert self._http is not None
        answer = await self._http.post(url, timeout=10, json=body)
        if answer.status_code >= 300:
            raise RuntimeError(f"answered {answer.status_code}")

    async def _post_history_to(self, target: Target, body: bytes) -> None:
        """Through the webhook channel, with the block's httpConfig (credentials, TLS, proxy) as a global receiver's;
        a failure is said scrubbed of the credentials it used."""
        webhook = self._channels.get("webhook")
        if webhook is None or not isinstance(webhook.sender, WebhookSender):
            raise RuntimeError("the webhook channel is not nmcore's own: the history webhook cannot be posted")
        snapshot = self._snapshot
        secrets = SecretTracker(snapshot, target)
        try:
            await webhook.sender.post(target.receiver.spec.target_url, body, target.receiver.spec.http_config, secrets,
                                      timeout=10)
        except NmcoreError as exc:
            raise RuntimeError(snapshot.scrubber.scrub(secrets.scrub(str(exc)))) from None

    async def redrive(self, ids: Sequence[str] | None) -> list[str]:
        return await self._store.redrive(ids)

    async def _fall_back(self, job: Job, why: str) -> None:
        """Send the notification of a delivery given up on (or failing too long) to its fallback receiver, if it
        has one (nmcore.fallback)."""
        fallback = choose_fallback(self._snapshot, job.notification)
        if fallback is None or self._dispatcher is None:
            return
        notification = redirected(job.notification, fallback)
        log.warning("delivery %s to %s %s; sending it to the fallback receiver %s", job.id, job.receiver, why,
                    fallback.receiver.ref)
        fallback_job = Job(id=uuid.uuid4().hex, notification=notification, created=time.time())
        accepted = await self._store.add([fallback_job], 0)
        if not self._store.shared:  # a shared store's work reaches a dispatcher when claimed
            self._dispatcher.enqueue(accepted)

    def _on_retry(self, job: Job, retry: Job) -> None:
        after = self.fallback_after
        if crosses_limit(job, retry, after) and job.id not in self._fell_back and self._tasks is not None:
            # Remembered too: a success to the same destination retries the job at once (delivery._retry_now, for a
            # store of this process alone), which can move its next try back before the limit to cross it again.
            if not self._store.shared:
                self._fell_back.add(job.id)
            self._tasks.start_soon(self._fall_back, job, f"is still failing after {after:g}s (it is retried)")

    def _record(self, outcome: Outcome, job: Job) -> None:
        fell_back = job.id in self._fell_back or fell_back_before(job, self.fallback_after)
        self._fell_back.discard(job.id)
        if not outcome.ok and self._tasks is not None and not fell_back:
            self._tasks.start_soon(self._fall_back, job, "was given up on")
        verdict: Verdict = "silenced" if outcome.silenced else "delivered" if outcome.ok else "dead"
        if self._history:
            self._history.finished(job.id, job.notification, job.created, verdict, outcome.error or outcome.silenced)
        self.outcomes.append(outcome)
        self.metrics.deliveries.labels(outcome.channel, verdict).inc()

    def _observe_attempt(self, channel: str, receiver: str, result: str, seconds: float) -> None:
        self.metrics.attempts.labels(channel, result).observe(seconds)
