"""Configuration read live from Kubernetes: list, then watch, every kind nmcore needs.

Each kind is followed on its own: list, in pages of `LIST_PAGE` (replacing what was known of that kind), then
watch from the list's resourceVersion with bookmarks, resuming from the last version seen when a watch ends. A
`410 Gone` (the watch's version, or the list's continue token, is too old) relists at once; any other failure
(the API server restarting, a network cut, a 5xx) retries with capped, jittered exponential backoff while the
manager keeps the last configuration. A kind whose CRD is not installed counts as empty, so one missing CRD
does not keep the manager from becoming ready. The v2beta2 kinds are cluster-scoped; the Secrets of every other
namespace a v2beta2 credential names are followed the same way from the moment it is named (the next publish waits
for their list) until no credential names it.
"""

import json
import logging
import os
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp
import anyio
import attrs
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration, CoreV1Api, CustomObjectsApi

from nmcore.channel import RegisteredChannel
from nmcore.errors import ApiError
from nmcore.kube.events import EventRecorder
from nmcore.kube.kinds import SECRETS, WatchedKind, kinds_for, object_key, secret_namespaces
from nmcore.kube.objectstore import ObjectStoreSource
from nmcore.snapshot import DEFAULT_NAMESPACE, Snapshot
from nmcore.sources import Publish

log = logging.getLogger(__name__)

ApiClientFactory = Callable[[], Awaitable[ApiClient]]

LIST_TIMEOUT = 60.0
LIST_PAGE = 500  # client-go's page size: a large kind comes in bounded responses, not one the server must build whole
CONNECT_TIMEOUT = 10.0


@attrs.frozen
class Backoff:
    """Delay before retry number `failures` (1, 2, ...): doubling from `initial` up to `cap`, with jitter."""

    initial: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int) -> float:
        return min(self.cap, self.initial * 2 ** max(0, failures - 1)) * random.uniform(0.5, 1.0)


@attrs.define
class _Follow:
    kind: WatchedKind
    namespace: str | None = None
    """Where a namespaced kind is read (None: all namespaces, or cluster-scoped)."""
    key: str = ""
    """What the object store counts as synced: the kind, or `Secret/<namespace>` for a namespace followed on demand."""
    on_demand: bool = False
    version: str | None = None
    failures: int = 0
    missing: bool = False

    def __attrs_post_init__(self) -> None:
        self.key = self.key or self.kind.kind


async def default_api_client(kubeconfig: str | os.PathLike[str] | None = None) -> ApiClient:
    """In a pod (and no kubeconfig given): the service account. Otherwise the kubeconfig ($KUBECONFIG, ~/.kube)."""
    configuration = Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)
    else:
        path = os.fspath(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG")
        await config.load_kube_config(config_file=path, client_configuration=configuration, persist_config=False)
    return ApiClient(configuration)


class KubernetesSource:
    def __init__(
        self,
        kinds: Iterable[WatchedKind],
        namespace: str = DEFAULT_NAMESPACE,
        kubeconfig: str | os.PathLike[str] | None = None,
        api_client_factory: ApiClientFactory | None = None,
        *,
        debounce: float = 0.15,
        watch_timeout: float = 300.0,
        backoff: Backoff = Backoff(),
        post_events: bool = True,
    ):
        self.kinds = list(kinds)
        self.namespace = namespace
        self._factory = api_client_factory or (lambda: default_api_client(kubeconfig))
        self._watch_timeout = watch_timeout
        self._backoff = backoff
        self._recorder = EventRecorder(namespace) if post_events else None
        self.store = ObjectStoreSource(
            [k.kind for k in self.kinds], debounce=debounce, report=self._recorder.report if self._recorder else None
        )
        self._secret_follows: dict[str, anyio.CancelScope] = {}

    @classmethod
    def for_channels(cls, channels: Mapping[str, RegisteredChannel], *, rolebindings: bool = True,
                     **options: Any) -> "KubernetesSource":
        """Watch every installed channel's kinds, Secrets, and RoleBindings unless the tenant resolver needs none."""
        return cls(kinds_for(channels, rolebindings=rolebindings), **options)

    @property
    def ready(self) -> bool:
        return self.store.ready

    @property
    def snapshot(self) -> Snapshot | None:
        return self.store.snapshot

    async def run(self, publish: Publish) -> None:
        client = await self._factory()
        async with client, anyio.create_task_group() as tasks:
            for kind in self.kinds:
                tasks.start_soon(self._follow, client, _Follow(kind, None if kind.cluster_wide else self.namespace))
            if self._recorder is not None:
                tasks.start_soon(self._recorder.run, client)
            await self.store.run(publish, lambda documents: self._follow_secrets(tasks, client, documents))

    def _follow_secrets(self, tasks: anyio.abc.TaskGroup, client: ApiClient, documents: list[Any]) -> None:
        """Follow the Secrets of each other namespace v2beta2 credentials now name; stop for those no longer named."""
        needed = secret_namespaces((d.body for d in documents), self.namespace) - {self.namespace}
        for namespace in sorted(needed - set(self._secret_follows)):
            key = f"Secret/{namespace}"
            self.store.expect(key)
            scope = self._secret_follows[namespace] = anyio.CancelScope()
            tasks.start_soon(self._follow_in, scope, client, _Follow(SECRETS, namespace, key, on_demand=True))
            log.info("credentials name Secrets in namespace %s: following them", namespace)
        for namespace in sorted(set(self._secret_follows) - needed):
            self._secret_follows.pop(namespace).cancel()
            self.store.replace("Secret", [], namespace=namespace, sync_key=f"Secret/{namespace}")
            log.info("no credential names Secrets in namespace %s any more: no longer following them", namespace)

    async def _follow_in(self, scope: anyio.CancelScope, client: ApiClient, state: _Follow) -> None:
        with scope:
            await self._follow(client, state)

    async def _follow(self, client: ApiClient, state: _Follow) -> None:
        kind = state.kind
        while True:
            try:
                if state.version is None:
                    items, state.version = await self._list(client, state)
                    self.store.replace(kind.kind, items, namespace=state.namespace, sync_key=state.key)
                    self._recovered(state, f"listed {len(items)}")
                started = time.monotonic()
                if not await self._watch(client, state) and time.monotonic() - started < 1:
                    state.failures += 1  # ended at once, saying nothing: do not hammer the API server
                    await anyio.sleep(self._backoff.delay(state.failures))
            except ApiError as exc:
                if exc.status == 410:
                    if state.version is None:  # a list's later page: its snapshot was compacted away
                        log.info("%s: the list's continue token expired (410 Gone); listing again from the start",
                                 kind.kind)
                    else:
                        log.info("%s: watch from resourceVersion %s expired (410 Gone); listing again",
                                 kind.kind, state.version)
                    state.version = None
                    continue
                if exc.status == 404 and kind.group:
                    self._crd_missing(state)
                else:
                    self._failed(state, exc)
                await anyio.sleep(self._backoff.delay(state.failures))
            except Exception as exc:
                self._failed(state, exc)
                await anyio.sleep(self._backoff.delay(state.failures))

    async def _list(self, client: ApiClient, state: _Follow) -> tuple[list[dict[str, Any]], str]:
        """Every object followed and the list's resourceVersion, following `continue` from page to page.

        The pages are one consistent snapshot, so the last page's resourceVersion is the whole list's."""
        kind = state.kind
        items: list[dict[str, Any]] = []
        token = None
        while True:
            response = await self._call(client, state, limit=LIST_PAGE, _continue=token,
                                        _request_timeout=aiohttp.ClientTimeout(total=LIST_TIMEOUT))
            async with response:
                body = await _json_or_raise(response)
            page = body.get("items") or []
            for item in page:
                item["apiVersion"], item["kind"] = kind.api_version, kind.kind  # built-in lists leave them out
            items.extend(page)
            metadata = body.get("metadata") or {}
            token = metadata.get("continue")
            if not token:
                return items, str(metadata.get("resourceVersion", ""))

    async def _watch(self, client: ApiClient, state: _Follow) -> int:
        """Follow one watch request until the server ends it, applying events and advancing `state.version`.

        Returns how many events (bookmarks included) it brought."""
        kind = state.kind
        seconds = max(1, round(self._watch_timeout * random.uniform(1.0, 1.2)))
        timeout = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=seconds + 30)
        response = await self._call(client, state, watch=True, resource_version=state.version,
                                    allow_watch_bookmarks=True, timeout_seconds=seconds, _request_timeout=timeout)
        events = 0
        async with response:
            if response.status != 200:
                await _json_or_raise(response)
            while line := await response.content.readline():
                events += 1
                event = json.loads(line)
                kind_of_event, obj = event.get("type"), event.get("object") or {}
                if kind_of_event == "ERROR":
                    raise ApiError(int(obj.get("code", 0)), obj.get("reason", ""), obj.get("message", ""))
                if kind_of_event in ("ADDED", "MODIFIED"):
                    obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
                    self.store.upsert(obj)
                elif kind_of_event == "DELETED":
                    self.store.delete(kind.kind, *object_key(obj)[1:])
                elif kind_of_event != "BOOKMARK":
                    log.debug("%s: ignoring watch event of type %r", kind.kind, kind_of_event)
                state.version = str((obj.get("metadata") or {}).get("resourceVersion") or state.version)
                self._recovered(state, "watching")
        return events

    def _call(self, client: ApiClient, state: _Follow, **params: Any) -> Awaitable[aiohttp.ClientResponse]:
        kind, namespace = state.kind, state.namespace
        params = {k: v for k, v in params.items() if v is not None} | {"_preload_content": False}
        if not kind.group:
            api = CoreV1Api(client)
            if namespace is None:
                return getattr(api, f"list_{kind.snake_name}_for_all_namespaces")(**params)
            return getattr(api, f"list_namespaced_{kind.snake_name}")(namespace, **params)
        custom = CustomObjectsApi(client)
        if namespace is None:
            return custom.list_cluster_custom_object(kind.group, kind.version, kind.plural, **params)
        return custom.list_namespaced_custom_object(kind.group, kind.version, namespace, kind.plural, **params)

    def _failed(self, state: _Follow, exc: Exception) -> None:
        state.failures += 1
        where = "all namespaces" if state.namespace is None else f"namespace {state.namespace}"
        message = f"{state.kind.kind} in {where}: {_describe(exc)}; keeping the last configuration and retrying"
        if getattr(exc, "status", None) in (401, 403):
            message += " (does nmcore's ServiceAccount have get/list/watch on it? see deploy/10-rbac.yaml)"
        if state.on_demand:
            # Credentials name this namespace; one that cannot be read must not hold every other change back.
            message += "; its Secrets count as missing meanwhile"
            self.store.mark_synced(state.key)
        log.log(logging.WARNING if state.failures == 1 else logging.DEBUG, "%s", message)

    def _crd_missing(self, state: _Follow) -> None:
        state.failures += 1
        if not state.missing:
            kind = state.kind
            log.error("%s: the API server does not serve %s.%s/%s (is its CRD installed? kubectl apply -f deploy/crds);"
                      " counting it as empty and checking again", kind.kind, kind.plural, kind.group, kind.version)
            state.missing = True
        state.version = None
        self.store.replace(state.kind.kind, [], namespace=state.namespace, sync_key=state.key)

    def _recovered(self, state: _Follow, what: str) -> None:
        if state.failures or state.missing:
            log.info("%s: %s again after %d failed attempts", state.kind.kind, what, state.failures)
        state.failures, state.missing = 0, False


async def _json_or_raise(response: aiohttp.ClientResponse) -> dict[str, Any]:
    raw = await response.read()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    if response.status != 200:
        raise ApiError(response.status, str(body.get("reason") or response.reason or ""), str(body.get("message", "")))
    return body


def _describe(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
