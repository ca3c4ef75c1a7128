"""A fake Kubernetes API server for tests: real HTTP on 127.0.0.1, driven by kubernetes_asyncio via a kubeconfig.

It does what clients depend on, the way kube-apiserver does it:
- `/api/v1` and `/apis/<group>/<version>`, namespaced, all-namespaces and cluster-scoped paths; GET, LIST,
  POST, PUT (optimistic concurrency on metadata.resourceVersion), merge/strategic/JSON PATCH, DELETE.
- One resourceVersion counter stamped on every write (a no-op update keeps the version), uid,
  creationTimestamp, generation; list `metadata.resourceVersion`; list items of built-in kinds carry no
  apiVersion/kind (as the real server's typed lists); Secrets' `stringData` folded into base64 `data`.
- Paged lists (`limit`, `continue`): every page shows the snapshot taken at the first one (read back through
  the history, as etcd's MVCC reads an old revision) with its resourceVersion, `remainingItemCount` when no
  selector filters; a continue token older than the compaction floor gets `410 Expired`.
- Watch (`watch=true`, any case): from a resourceVersion out of a bounded history, or ADDED for every object
  when none is given; `timeoutSeconds`; `labelSelector` (equality and set-based) with the cacher's
  ADDED/DELETED when an object enters or leaves the selection; ERROR `410 Expired` for a version older than
  the history; BOOKMARK events with `allowWatchBookmarks`.
- Bearer tokens (401 otherwise) and an optional RBAC authorizer per token (403 with the real message).
- CRDs: creating a CustomResourceDefinition serves its resource, validating objects against its schema.
- Test controls: `drop_connections()`, `stop()` then `start()` on the same port (objects survive, as in
  etcd), `compact()` (as etcd compaction, or a restarted server's fresh watch cache: resuming from an older
  version gets 410), `max_watch_seconds`. Writes from the test side go through the same code as HTTP ones.
"""

import asyncio
import base64
import binascii
import copy
import json
import re
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import yaml
from aiohttp import web

Validator = Callable[[dict[str, Any]], list[str]]
Authorizer = Callable[[str, str, str, str | None], bool]
"""(verb, API group, resource plural, namespace or None for cluster-wide) → allowed."""


@attrs.frozen
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    builtin: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def describe(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


BUILTINS = (
    ResourceType("", "v1", "secrets", "Secret", builtin=True),
    ResourceType("", "v1", "configmaps", "ConfigMap", builtin=True),
    ResourceType("", "v1", "events", "Event", builtin=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", builtin=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", builtin=True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False,
                 builtin=True),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                 namespaced=False, builtin=True),
)


class FakeApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message = code, reason, message

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}


@attrs.frozen
class WatchEvent:
    revision: int
    resource: ResourceType
    type: str
    object: dict[str, Any]
    previous: dict[str, Any] | None = None


@attrs.define(eq=False)
class _Watcher:
    resource: ResourceType
    namespace: str | None
    matches: Callable[[Mapping[str, Any]], bool]
    queue: asyncio.Queue
    request: web.Request


_DROP = object()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeApiServer:
    def __init__(self, *, history: int = 1000, bookmark_interval: float = 1.0, token: str = "admin-token"):
        self.resources: dict[tuple[str, str, str], ResourceType] = {}
        self._validators: dict[ResourceType, Validator] = {}
        self.objects: dict[ResourceType, dict[tuple[str, str], dict[str, Any]]] = {}
        self.revision = 100
        self._history: deque[WatchEvent] = deque(maxlen=history)
        self._floor = self.revision
        self._watchers: set[_Watcher] = set()
        self.bookmark_interval = bookmark_interval
        self.max_watch_seconds: float | None = None
        """Ends every watch after this long, whatever the client asked (0: at once)."""
        self.between_pages: Callable[[dict[str, Any]], None] | None = None
        """Called with each page of a paged list but the last, once built: where a test writes or compacts."""
        self.tokens: dict[str, Authorizer | None] = {token: None}
        self.admin_token = token
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        for resource in BUILTINS:
            self.add_resource(resource)

    # ---- resources -------------------------------------------------------------------------------------
    def add_resource(self, resource: ResourceType, validator: Validator | None = None) -> None:
        self.resources[(resource.group, resource.version, resource.plural)] = resource
        self.objects.setdefault(resource, {})
        if validator is not None:
            self._validators[resource] = validator

    def resource_for(self, api_version: str, kind: str) -> ResourceType:
        for resource in self.resources.values():
            if resource.api_version == api_version and resource.kind == kind:
                return resource
        raise FakeApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')

    def _serve_crd(self, crd: Mapping[str, Any]) -> None:
        from crd_schema import validator_for  # a test helper: the CRD's schema as JSON Schema

        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                resource = ResourceType(spec["group"], version["name"], spec["names"]["plural"],
                                        spec["names"]["kind"], namespaced=spec.get("scope") == "Namespaced")
                self.add_resource(resource, validator_for(version["schema"]["openAPIV3Schema"]))

    # ---- test-side API: the same code paths as HTTP, raising FakeApiError --------------------------------
    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.resource_for(obj["apiVersion"], obj["kind"])
        return self._create(resource, obj.get("metadata", {}).get("namespace") or None, obj)

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create, or replace the whole object (as `kubectl replace`), ignoring any resourceVersion given."""
        obj = copy.deepcopy(dict(obj))
        obj.get("metadata", {}).pop("resourceVersion", None)
        resource = self.resource_for(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        if (meta.get("namespace") or "", meta["name"]) in self.objects[resource]:
            return self._update(resource, meta.get("namespace") or None, meta["name"], obj)
        return self._create(resource, meta.get("namespace") or None, obj)

    def patch(self, api_version: str, kind: str, namespace: str | None, name: str, patch: Any) -> dict[str, Any]:
        return self._patch(self.resource_for(api_version, kind), namespace, name, patch,
                           "application/merge-patch+json")

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return self._delete(self.resource_for(api_version, kind), namespace, name)

    def get(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return self._get(self.resource_for(api_version, kind), namespace, name)

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        resource = self.resource_for(api_version, kind)
        return [copy.deepcopy(o) for (ns, _), o in sorted(self.objects[resource].items())
                if namespace is None or ns == namespace]

    def events(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The core v1 Events clients posted."""
        return self.list_objects("v1", "Event", namespace)

    def compact(self) -> None:
        """Forget the watch history, as etcd compaction does: resuming from any older version gets 410."""
        self._history.clear()
        self._floor = self.revision

    # ---- server lifecycle -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "FakeApiServer":
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    def drop_connections(self) -> None:
        """Cut every open connection (watches mid-stream and idle keep-alives), as a network failure does."""
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(_DROP)
        if self._runner is not None and self._runner.server is not None:
            for connection in list(self._runner.server.connections):
                if connection.transport is not None:
                    connection.transport.abort()

    async def stop(self) -> None:
        self.drop_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeApiServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def kubeconfig(self, path: Path, token: str | None = None, namespace: str = "default") -> Path:
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": token or self.admin_token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester", "namespace": namespace}}],
            "current-context": "fake",
        }))
        return path

    # ---- HTTP -------------------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append((request.method, request.path, query))
        try:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if token not in self.tokens:
                raise FakeApiError(401, "Unauthorized", "Unauthorized")
            resource, namespace, name = self._route(request.path)
            watch = _flag(query.get("watch"))
            verb = _verb(request.method, name, watch)
            self._authorize(self.tokens[token], verb, resource, namespace)
            if watch:
                return await self._serve_watch(request, resource, namespace, query)
            body = await self._dispatch(request, verb, resource, namespace, name, query)
            return web.json_response(body, status=201 if verb == "create" else 200)
        except FakeApiError as exc:
            return web.json_response(exc.status(), status=exc.code)

    def _route(self, path: str) -> tuple[ResourceType, str | None, str | None]:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise FakeApiError(404, "NotFound", "the server could not find the requested resource")
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        resource = self.resources.get((group, version, rest[0])) if rest else None
        if resource is None or len(rest) > 2 or (namespace is not None and not resource.namespaced):
            raise FakeApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        if name is not None and resource.namespaced and namespace is None:
            raise FakeApiError(404, "NotFound", "the server could not find the requested resource")
        return resource, namespace, name

    def _authorize(self, authorizer: Authorizer | None, verb: str, resource: ResourceType, ns: str | None) -> None:
        if authorizer is None or authorizer(verb, resource.group, resource.plural, ns):
            return
        where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
        raise FakeApiError(403, "Forbidden", f'{resource.describe()} is forbidden: User "system:serviceaccount:'
                                             f'test:nmcore" cannot {verb} resource "{resource.plural}" in API group '
                                             f'"{resource.group}"{where}')

    async def _dispatch(self, request: web.Request, verb: str, resource: ResourceType, namespace: str | None,
                        name: str | None, query: Mapping[str, str]) -> dict[str, Any]:
        if verb == "list":
            return self._list(resource, namespace, query)
        if verb == "get":
            assert name is not None
            return self._get(resource, namespace, name)
        if verb == "delete":
            assert name is not None
            return self._delete(resource, namespace, name)
        if verb not in ("create", "update", "patch"):
            raise FakeApiError(405, "MethodNotAllowed", f"{verb} is not supported by this fake")
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            raise FakeApiError(400, "BadRequest", f"the body of the request was in an unknown format: {exc}") from None
        if verb == "create":
            return self._create(resource, namespace, body)
        assert name is not None
        if verb == "update":
            return self._update(resource, namespace, name, body)
        return self._patch(resource, namespace, name, body, request.content_type)

    # ---- reads ------------------------------------------------------------------------------------------
    def _key(self, resource: ResourceType, namespace: str | None, name: str) -> tuple[str, str]:
        return (namespace or "") if resource.namespaced else "", name

    def _get(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        found = self.objects[resource].get(self._key(resource, namespace, name))
        if found is None:
            raise FakeApiError(404, "NotFound", f'{resource.describe()} "{name}" not found')
        return copy.deepcopy(found)

    def _list(self, resource: ResourceType, namespace: str | None, query: Mapping[str, str]) -> dict[str, Any]:
        matches = _selection(query)
        limit = _limit(query.get("limit"))
        if query.get("continue"):
            revision, start = _decode_continue(query["continue"])
            if revision < self._floor:
                raise FakeApiError(410, "Expired", "The provided continue parameter is too old to display a "
                                                   "consistent list result. You can start a new list without the "
                                                   "continue parameter.")
            objects = self._objects_at(resource, revision)
        else:
            revision, start, objects = self.revision, ("", ""), self.objects[resource]
        selected = [(key, obj) for key, obj in sorted(objects.items())
                    if key >= start and (namespace is None or key[0] == namespace) and matches(obj)]
        page = selected[:limit] if limit else selected
        metadata: dict[str, Any] = {"resourceVersion": str(revision)}
        if len(page) < len(selected):
            last_ns, last_name = page[-1][0]
            # as the real token, it starts at the smallest key after the last one returned
            metadata["continue"] = _encode_continue(revision, (last_ns, last_name + "\0"))
            if not query.get("labelSelector") and not query.get("fieldSelector"):
                metadata["remainingItemCount"] = len(selected) - len(page)
        items = []
        for _, obj in page:
            item = copy.deepcopy(obj)
            if resource.builtin:
                item.pop("apiVersion", None)
                item.pop("kind", None)
            items.append(item)
        body = {"apiVersion": resource.api_version, "kind": f"{resource.kind}List", "metadata": metadata,
                "items": items}
        if "continue" in metadata and self.between_pages is not None:
            self.between_pages(body)
        return body

    def _objects_at(self, resource: ResourceType, revision: int) -> dict[tuple[str, str], dict[str, Any]]:
        """The objects of `resource` at `revision` (not below the floor), by undoing the later writes."""
        objects = dict(self.objects[resource])
        for event in reversed(self._history):
            if event.revision <= revision:
                break
            if event.resource == resource:
                meta = event.object["metadata"]
                key = self._key(resource, meta.get("namespace"), meta["name"])
                if event.previous is None:
                    del objects[key]
                else:
                    objects[key] = event.previous
        return objects

    # ---- writes -----------------------------------------------------------------------------------------
    def _check_identity(self, resource: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise FakeApiError(400, "BadRequest", "the object is not a JSON object with metadata")
        obj = copy.deepcopy(body)
        if obj.setdefault("apiVersion", resource.api_version) != resource.api_version or \
                obj.setdefault("kind", resource.kind) != resource.kind:
            raise FakeApiError(400, "BadRequest", f"the API version in the data ({obj['apiVersion']}) and kind "
                                                  f"({obj['kind']}) do not match {resource.api_version} {resource.kind}")
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            namespace = namespace or meta.get("namespace") or "default"
            if meta.setdefault("namespace", namespace) != namespace:
                raise FakeApiError(400, "BadRequest", "the namespace of the provided object does not match the "
                                                      "namespace sent on the request")
        else:
            meta.pop("namespace", None)
        return obj

    def _validate(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        name = obj["metadata"].get("name", "")
        if resource.kind == "Secret":
            _fold_string_data(obj, f'Secret "{name}"')
        if resource.kind == "Event":
            # As kube-apiserver's legacy Event validation: the namespaces agree, or the object is cluster-scoped
            # and the Event is in "default".
            involved = obj.get("involvedObject") or {}
            namespace = obj["metadata"].get("namespace")
            if involved.get("namespace", "") != namespace and (involved.get("namespace") or namespace != "default"):
                raise FakeApiError(422, "Invalid", f'Event "{name}" is invalid: involvedObject.namespace: Invalid '
                                                   "value: does not match event.namespace")
        validator = self._validators.get(resource)
        problems = validator(obj) if validator else []
        if problems:
            raise FakeApiError(422, "Invalid", f'{resource.kind}.{resource.group} "{name}" is invalid: '
                                               + ", ".join(problems))

    def _create(self, resource: ResourceType, namespace: str | None, body: Any) -> dict[str, Any]:
        obj = self._check_identity(resource, namespace, body)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise FakeApiError(422, "Invalid", f"{resource.kind} is invalid: metadata.name: Required value")
        key = self._key(resource, meta.get("namespace"), meta["name"])
        if key in self.objects[resource]:
            raise FakeApiError(409, "AlreadyExists", f'{resource.describe()} "{meta["name"]}" already exists')
        self._validate(resource, obj)
        if meta.get("resourceVersion"):
            raise FakeApiError(400, "BadRequest", "resourceVersion should not be set on objects to be created")
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now())
        if not resource.builtin:
            meta["generation"] = 1
        self._write(resource, key, obj, "ADDED", None)
        return copy.deepcopy(obj)

    def _update(self, resource: ResourceType, namespace: str | None, name: str, body: Any) -> dict[str, Any]:
        obj = self._check_identity(resource, namespace, body)
        meta = obj["metadata"]
        if meta.get("name", name) != name:
            raise FakeApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        key = self._key(resource, meta.get("namespace"), name)
        old = self.objects[resource].get(key)
        if old is None:
            raise FakeApiError(404, "NotFound", f'{resource.describe()} "{name}" not found')
        expected = meta.get("resourceVersion")
        if expected and expected != old["metadata"]["resourceVersion"]:
            raise FakeApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.describe()} "{name}": the '
                                                "object has been modified; please apply your changes to the latest "
                                                "version and try again")
        self._validate(resource, obj)
        for kept in ("uid", "creationTimestamp", "generation", "resourceVersion"):
            if kept in old["metadata"]:
                meta[kept] = old["metadata"][kept]
            else:
                meta.pop(kept, None)
        meta["name"] = name
        if obj == old:
            return copy.deepcopy(old)  # a no-op update does not bump the resourceVersion
        if "generation" in meta and obj.get("spec") != old.get("spec"):
            meta["generation"] += 1
        self._write(resource, key, obj, "MODIFIED", old)
        return copy.deepcopy(obj)

    def _patch(self, resource: ResourceType, namespace: str | None, name: str, patch: Any,
               content_type: str) -> dict[str, Any]:
        current = self._get(resource, namespace, name)
        if content_type == "application/json-patch+json":
            patched = _json_patch(current, patch)
        elif content_type == "application/merge-patch+json" or (
                content_type == "application/strategic-merge-patch+json" and resource.builtin):
            if not isinstance(patch, dict):
                raise FakeApiError(400, "BadRequest", "a merge patch must be a JSON object")
            patched = _merge_patch(current, patch)
        else:
            raise FakeApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                                                            f"accepted media types include: application/json-patch"
                                                            f"+json, application/merge-patch+json ({content_type})")
        if not patch_sets_version(patch):
            patched["metadata"].pop("resourceVersion", None)
        return self._update(resource, namespace, name, patched)

    def _delete(self, resource: ResourceType, namespace: str | None, name: str) -> dict[str, Any]:
        key = self._key(resource, namespace, name)
        old = self.objects[resource].get(key)
        if old is None:
            raise FakeApiError(404, "NotFound", f'{resource.describe()} "{name}" not found')
        gone = copy.deepcopy(old)
        self._write(resource, key, gone, "DELETED", old)
        return copy.deepcopy(gone)

    def _write(self, resource: ResourceType, key: tuple[str, str], obj: dict[str, Any], kind: str,
               previous: dict[str, Any] | None) -> None:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        if kind == "DELETED":
            del self.objects[resource][key]
        else:
            self.objects[resource][key] = obj
        if len(self._history) == self._history.maxlen:
            self._floor = self._history[0].revision
        event = WatchEvent(self.revision, resource, kind, copy.deepcopy(obj), previous)
        self._history.append(event)
        for watcher in self._watchers:
            if watcher.resource == resource:
                watcher.queue.put_nowait(event)
        if resource.kind == "CustomResourceDefinition" and kind != "DELETED":
            self._serve_crd(obj)

    # ---- watch ------------------------------------------------------------------------------------------
    async def _serve_watch(self, request: web.Request, resource: ResourceType, namespace: str | None,
                           query: Mapping[str, str]) -> web.StreamResponse:
        matches = _selection(query)
        timeout = float(query.get("timeoutSeconds") or 0) or None
        if self.max_watch_seconds is not None:
            timeout = min(timeout or self.max_watch_seconds, self.max_watch_seconds)
        bookmarks = _flag(query.get("allowWatchBookmarks"))
        since = query.get("resourceVersion", "")
        if since not in ("", "0") and not since.isdigit():
            raise FakeApiError(400, "BadRequest", f"invalid resource version: {since}")
        watcher = _Watcher(resource, namespace, matches, asyncio.Queue(), request)
        if since in ("", "0"):
            backlog: list[Any] = [WatchEvent(self.revision, resource, "ADDED", copy.deepcopy(o))
                                  for o in self.objects[resource].values()]
        elif int(since) < self._floor:
            backlog = [{"type": "ERROR", "object": FakeApiError(
                410, "Expired", f"too old resource version: {since} ({self._floor + 1})").status()}]
        else:
            backlog = [e for e in self._history if e.revision > int(since) and e.resource == resource]
        self._watchers.add(watcher)  # in the same step as the backlog: no write can fall between them
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        try:
            await response.prepare(request)
            for item in backlog:
                await self._send(response, watcher, item)
                if isinstance(item, dict):
                    return await _end(response)
            await self._stream(response, watcher, timeout, bookmarks)
        except ConnectionError:
            pass
        finally:
            self._watchers.discard(watcher)
        return response

    async def _stream(self, response: web.StreamResponse, watcher: _Watcher, timeout: float | None,
                      bookmarks: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        next_bookmark = loop.time() + self.bookmark_interval
        # One pending get across timeouts: Python 3.11's asyncio.wait_for(queue.get(), t) can drop an item that
        # arrives as the timeout fires, which lost watch events (a DELETED one, seen as a flaky test).
        getter: asyncio.Future[Any] | None = None
        try:
            while True:
                now = loop.time()
                if deadline is not None and now >= deadline:
                    await _end(response)
                    return
                wait = min(x for x in (deadline, next_bookmark if bookmarks else None, now + 3600)
                           if x is not None) - now
                getter = getter or asyncio.ensure_future(watcher.queue.get())
                done, _ = await asyncio.wait({getter}, timeout=max(wait, 0))
                if not done:
                    if bookmarks and loop.time() >= next_bookmark and watcher.queue.empty():
                        await _write_line(response, {"type": "BOOKMARK", "object": {
                            "kind": watcher.resource.kind, "apiVersion": watcher.resource.api_version,
                            "metadata": {"resourceVersion": str(self.revision)}}})
                        next_bookmark = loop.time() + self.bookmark_interval
                    continue
                item, getter = getter.result(), None
                if item is _DROP:
                    if watcher.request.transport is not None:
                        watcher.request.transport.abort()
                    raise ConnectionResetError("dropped by the test")
                await self._send(response, watcher, item)
        finally:
            if getter is not None:
                getter.cancel()

    async def _send(self, response: web.StreamResponse, watcher: _Watcher, item: Any) -> None:
        if isinstance(item, dict):
            await _write_line(response, item)
            return
        event: WatchEvent = item
        obj = event.object
        if watcher.namespace is not None and obj["metadata"].get("namespace") != watcher.namespace:
            return
        now_in, was_in = watcher.matches(obj), event.previous is not None and watcher.matches(event.previous)
        kind = event.type
        if kind == "MODIFIED" and now_in != was_in:
            kind = "ADDED" if now_in else "DELETED"
            if not now_in:  # as the cacher does: the old content, at the new version
                obj = copy.deepcopy(event.previous)
                obj["metadata"]["resourceVersion"] = str(event.revision)
        elif not (now_in or (kind == "DELETED" and was_in)):
            return
        await _write_line(response, {"type": kind, "object": obj})


async def _write_line(response: web.StreamResponse, payload: Mapping[str, Any]) -> None:
    await response.write(json.dumps(payload).encode() + b"\n")


async def _end(response: web.StreamResponse) -> web.StreamResponse:
    await response.write_eof()
    return response


def _flag(value: str | None) -> bool:
    """Go's strconv.ParseBool truths, which the API server accepts (kubernetes_asyncio sends `True`)."""
    return value in ("1", "t", "T", "true", "True", "TRUE")


def _limit(value: str | None) -> int:
    """The `limit` of a list: 0 (or none) for no limit."""
    try:
        return max(0, int(value or 0))
    except ValueError:
        raise FakeApiError(400, "BadRequest", f"limit: Invalid value: {value!r}") from None


def _encode_continue(revision: int, start: tuple[str, str]) -> str:
    """As kube-apiserver's: unpadded URL-safe base64 of JSON with the snapshot's revision and the next page's key."""
    token = {"v": "meta.k8s.io/v1", "rv": revision, "start": list(start)}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if decoded["v"] != "meta.k8s.io/v1":
            raise ValueError("server does not recognize this encoded key")
        namespace, name = decoded["start"]
        return int(decoded["rv"]), (str(namespace), str(name))
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise FakeApiError(400, "BadRequest", f"invalid continue token: continue key is not valid: {exc}") from None


def _verb(method: str, name: str | None, watch: bool) -> str:
    if method == "GET":
        return "watch" if watch else ("get" if name else "list")
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    if method not in verbs or (method == "POST") == (name is not None):
        raise FakeApiError(405, "MethodNotAllowed", f"{method} is not supported here")
    return verbs[method]


# ---- selectors ---------------------------------------------------------------------------------------------
_NAME = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"


def parse_label_selector(text: str) -> Callable[[Mapping[str, str]], bool]:
    """Kubernetes label selector syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`."""
    requirements: list[tuple[str, str, frozenset[str]]] = []  # (key, operator, values)
    for requirement in re.split(r",(?![^(]*\))", text):
        requirement = requirement.strip()
        if not requirement:
            continue
        if m := re.fullmatch(rf"({_NAME})\s*(==|=|!=)\s*({_VALUE})", requirement):
            key, op, value = m.groups()
            requirements.append((key, "notin" if op == "!=" else "in", frozenset([value])))
        elif m := re.fullmatch(rf"({_NAME})\s+(in|notin)\s+\(([^)]*)\)", requirement):
            values = frozenset(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append((m.group(1), m.group(2), values))
        elif m := re.fullmatch(rf"(!?)\s*({_NAME})", requirement):
            requirements.append((m.group(2), "absent" if m.group(1) else "present", frozenset()))
        else:
            raise FakeApiError(400, "BadRequest", f"unable to parse requirement: {requirement!r}")

    def holds(key: str, op: str, values: frozenset[str], labels: Mapping[str, str]) -> bool:
        if op == "in":
            return key in labels and labels[key] in values
        if op == "notin":
            return labels.get(key) not in values
        return (key in labels) == (op == "present")

    return lambda labels: all(holds(*r, labels) for r in requirements)


def _selection(query: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    labels = parse_label_selector(query.get("labelSelector", ""))
    fields: dict[str, str] = {}
    for part in filter(None, query.get("fieldSelector", "").split(",")):
        key, _, value = part.partition("=")
        if key not in ("metadata.name", "metadata.namespace"):
            raise FakeApiError(400, "BadRequest", f'"{key}" is not a known field selector')
        fields[key.split(".")[1]] = value.lstrip("=")

    def matches(obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        return labels(meta.get("labels") or {}) and all(meta.get(k, "") == v for k, v in fields.items())

    return matches


# ---- patches and Secrets -----------------------------------------------------------------------------------
def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902: add, replace, remove and test."""
    if not isinstance(operations, list):
        raise FakeApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(target)
    for op in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if op["op"] == "test":
            if (node[int(last)] if isinstance(node, list) else node.get(last)) != op.get("value"):
                raise FakeApiError(422, "Invalid", f"test failed at {op['path']}")
        elif op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif op["op"] in ("add", "replace"):
            if isinstance(node, list):
                node.insert(len(node) if last == "-" else int(last), op["value"])
            else:
                node[last] = op["value"]
        else:
            raise FakeApiError(400, "BadRequest", f"unsupported JSON patch operation {op['op']!r}")
    return doc


def patch_sets_version(patch: Any) -> bool:
    return isinstance(patch, dict) and bool((patch.get("metadata") or {}).get("resourceVersion"))


def _fold_string_data(secret: dict[str, Any], what: str) -> None:
    """As the API server stores Secrets: `stringData` merged into `data` as base64; bad base64 is refused."""
    data = secret.get("data") or {}
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError):
            raise FakeApiError(400, "BadRequest", f"{what}: data[{key}]: illegal base64 data") from None
    for key, value in (secret.pop("stringData", None) or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        secret["data"] = data


# ---- RBAC ----------------------------------------------------------------------------------------------------
def rbac_authorizer(manifests: Iterable[Mapping[str, Any]], namespace: str, service_account: str) -> Authorizer:
    """What kube-apiserver's RBAC authorizer allows a ServiceAccount, from Role/ClusterRole and their bindings."""
    docs = [d for d in manifests if d]
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d.get("rules") or []
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    grants: list[tuple[str | None, list[dict[str, Any]]]] = []  # (namespace or None for everywhere, rules)
    for binding in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == service_account
                   and s.get("namespace") == namespace for s in binding.get("subjects") or []):
            continue
        ref = binding["roleRef"]
        bound_ns = binding["metadata"].get("namespace", "")
        rules = roles.get((ref["kind"], bound_ns if ref["kind"] == "Role" else "", ref["name"]), [])
        grants.append((bound_ns if binding["kind"] == "RoleBinding" else None, rules))

    def allowed(verb: str, group: str, plural: str, ns: str | None) -> bool:
        return any(
            (scope is None or scope == ns)
            and any(_covers(r.get("verbs"), verb) and _covers(r.get("apiGroups"), group)
                    and _covers(r.get("resources"), plural) for r in rules)
            for scope, rules in grants
        )

    return allowed


def _covers(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)
