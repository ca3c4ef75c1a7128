"""Configuration from Kubernetes objects another component already holds: the library path into nmcore.

A controller with its own informers feeds an `ObjectStoreSource` (`upsert`, `delete`, `replace`,
`mark_synced`) and hands it to a Manager; `KubernetesSource` is the same store fed by nmcore's own
list+watch. `run` publishes the whole set once every awaited kind has synced (that is "ready"), then once
per burst of changes. Each problem of a published snapshot is logged once, and passed to `report` once (the
Kubernetes source posts it as an Event), until it goes away.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio

from nmcore.kube.kinds import object_key, origin_of
from nmcore.snapshot import Document, Problem, Snapshot
from nmcore.sources import Publish

log = logging.getLogger(__name__)

Reporter = Callable[[Problem, Mapping[str, Any]], None]
"""Told about each new problem and the object it is about."""

ObjectKey = tuple[str, str, str]


class ObjectStoreSource:
    """Holds the current objects by (kind, namespace, name); call its methods from the event loop's thread.

    Objects are plain dicts as `kubectl get -o json` shows them, with `apiVersion` and `kind` set.
    """

    def __init__(self, wait_for: Iterable[str] = (), *, debounce: float = 0.15, report: Reporter | None = None):
        self._objects: dict[ObjectKey, Mapping[str, Any]] = {}
        self._unsynced = set(wait_for)
        self._debounce = debounce
        self._report = report
        self._changed = anyio.Event()
        self._synced = anyio.Event()
        self._ready = False
        self._reported: set[tuple[str, str, str]] = set()
        self.snapshot: Snapshot | None = None
        """The snapshot built from the last publish."""
        if not self._unsynced:
            self._synced.set()
            self._ready = True

    @property
    def ready(self) -> bool:
        """Every awaited kind has synced once; publishing starts (or has started)."""
        return self._ready

    def expect(self, key: str) -> None:
        """Wait for `key` (e.g. `Secret/<namespace>`, newly needed) to sync before the next publish."""
        if key not in self._unsynced:
            self._unsynced.add(key)
            if self._synced.is_set():
                self._synced = anyio.Event()

    def upsert(self, obj: Mapping[str, Any]) -> None:
        key = object_key(obj)
        if not key[0] or not key[2] or not obj.get("apiVersion"):
            raise ValueError(f"an object needs apiVersion, kind and metadata.name, got {key}")
        old = self._objects.get(key)
        if old is not None and _unchanged(old, obj):
            return
        self._objects[key] = obj
        self._changed.set()

    def delete(self, kind: str, namespace: str, name: str) -> None:
        if self._objects.pop((kind, namespace, name), None) is not None:
            self._changed.set()

    def replace(self, kind: str, objects: Iterable[Mapping[str, Any]], namespace: str | None = None,
                sync_key: str | None = None) -> None:
        """Make `objects` the whole set of `kind` (in `namespace`, when given) after a list or relist, and count
        the kind (or the `sync_key` given) as synced."""
        fresh = {object_key(o): o for o in objects}
        stale = [k for k in self._objects if k[0] == kind and (namespace is None or k[1] == namespace)
                 and k not in fresh]
        for key in stale:
            del self._objects[key]
        changed = bool(stale)
        for key, obj in fresh.items():
            if key[0] != kind:
                raise ValueError(f"replace({kind!r}) was given a {key[0]} object")
            old = self._objects.get(key)
            if old is None or not _unchanged(old, obj):
                self._objects[key] = obj
                changed = True
        if changed:
            self._changed.set()
        self.mark_synced(sync_key or kind)

    def mark_synced(self, key: str) -> None:
        self._unsynced.discard(key)
        if not self._unsynced:
            self._synced.set()
            self._ready = True

    def get(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._objects.get((kind, namespace, name))

    def documents(self) -> list[Document]:
        return [Document(origin_of(*key), obj) for key, obj in sorted(self._objects.items())]

    async def run(self, publish: Publish, prepare: Callable[[list[Document]], None] | None = None) -> None:
        """Publish once synced, then after each burst of changes. `prepare` sees the documents first and may
        `expect` more (the Secrets of a namespace a credential now names): publishing then waits for them."""
        while True:
            await self._synced.wait()
            if prepare is not None:
                prepare(self.documents())
                await self._synced.wait()
            self._changed = anyio.Event()
            self.snapshot = publish(self.documents(), ())
            self._report_problems(self.snapshot)
            await self._changed.wait()
            await anyio.sleep(self._debounce)

    def _report_problems(self, snapshot: Snapshot) -> None:
        by_origin = {origin_of(*key): obj for key, obj in self._objects.items()}
        current: set[tuple[str, str, str]] = set()
        for problem in snapshot.problems:
            key = (problem.origin, problem.object, problem.message)
            obj = by_origin.get(problem.origin)
            current.add(key)
            if key in self._reported:
                continue
            log.warning("configuration problem: %s", problem)
            if obj is not None and self._report is not None:
                self._report(problem, obj)
        for origin, obj_name, message in self._reported - current:
            log.info("resolved: %s", Problem(origin, obj_name, message))
        self._reported = current


def _unchanged(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Same resourceVersion means same content (API server objects); without one, compare the content."""
    old_rv = (old.get("metadata") or {}).get("resourceVersion")
    new_rv = (new.get("metadata") or {}).get("resourceVersion")
    return old_rv == new_rv if old_rv and new_rv else old == new
