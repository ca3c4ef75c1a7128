"""Config sources: where manifests come from. A source calls `publish` with the whole current set of
documents whenever it changes; the manager builds a new snapshot from it and swaps it in atomically.

Built in: `StaticSource` (documents given in code, for embedding and tests) and `FolderSource` (a folder of
YAML/JSON manifests, reloaded when files change). The Kubernetes source lives in `nmcore.kube`.
"""

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import anyio
import attrs
import watchfiles

from nmcore.manifests import SUFFIXES, documents_from_text, files_and_documents
from nmcore.snapshot import Document, Problem, Snapshot

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[Document], Sequence[Problem]], Snapshot]


class ConfigSource(Protocol):
    async def run(self, publish: Publish) -> None:
        """Publish the current documents, then again after every change, until cancelled.

        The first publish is the initial sync: the manager is ready from then on. `publish` returns the
        snapshot built, so a source can report each problem back where it came from.
        """
        ...


class StaticSource:
    def __init__(self, documents: Sequence[Document] = (), problems: Sequence[Problem] = ()):
        self._documents = list(documents)
        self._problems = list(problems)

    @classmethod
    def from_yaml(cls, text: str, origin: str = "inline.yaml") -> "StaticSource":
        return cls(*documents_from_text(text, origin))

    async def run(self, publish: Publish) -> None:
        publish(self._documents, self._problems)
        await anyio.sleep_forever()


ObjectId = tuple[str, str, str]
"""(kind, namespace as written, name) of a manifest."""


def _identity(body: Any) -> ObjectId | None:
    if not isinstance(body, Mapping) or not isinstance(body.get("metadata"), Mapping):
        return None
    meta = body["metadata"]
    if not isinstance(body.get("kind"), str) or not isinstance(meta.get("name"), str):
        return None
    return body["kind"], str(meta.get("namespace") or ""), meta["name"]


def _objects(doc: Document) -> list[tuple[ObjectId, Document]]:
    """The objects a document holds: itself, or each item of a `kind: List` (what `kubectl get -o yaml` writes)."""
    body = doc.body
    if isinstance(body, Mapping) and body.get("kind") == "List" and isinstance(body.get("items"), list):
        items = [Document(f"{doc.origin}:items[{i}]", item) for i, item in enumerate(body["items"])]
        return [(key, item) for item in items if (key := _identity(item.body)) is not None]
    key = _identity(body)
    return [] if key is None else [(key, doc)]


@attrs.define
class _Vanishing:
    """An object gone from its file, kept in force until that file has been left alone for a while."""

    document: Document
    path: Path
    since: float
    signature: tuple[int, int] | None


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class FolderSource:
    """A folder of manifests; edits, new files and removals are picked up within about a second.

    Written to survive editors and `kubectl get ... > file` (truncate, pause, write) without ever leaving alerts
    with no receiver: a change is applied once the folder has been quiet for `settle` seconds; a file that stops
    parsing (a half-saved edit, a bad indent) keeps its last good version in force, with the problem reported; an
    object that disappears from its file (emptied, partly written, deleted) stays in force until that file has
    been unchanged for `removal_delay` seconds, and only then is removed. So deleting a receiver, or its file,
    takes effect `removal_delay` seconds later. An object that stops validating keeps its last good version too
    (the snapshot builder does that, for every source).
    """

    def __init__(self, folder: Path | str, *, settle: float = 0.5, removal_delay: float = 10.0):
        self.folder = Path(folder)
        self._settle = settle
        self._removal_delay = removal_delay
        self._last_good: dict[Path, list[Document]] = {}
        self._in_force: dict[ObjectId, tuple[Document, Path]] = {}
        self._vanishing: dict[ObjectId, _Vanishing] = {}

    def load(self, now: float | None = None) -> tuple[list[Document], list[Problem]]:
        """The documents in force now: the folder's, plus what vanished from it too recently to be removed."""
        now = time.monotonic() if now is None else now
        documents: list[Document] = []
        in_force: dict[ObjectId, tuple[Document, Path]] = {}
        problems: list[Problem] = []
        for path, found, trouble in files_and_documents(self.folder, self._last_good):
            documents += found
            problems += trouble
            for key, doc in (pair for found_doc in found for pair in _objects(found_doc)):
                in_force[key] = (doc, path)
        for key, (doc, path) in self._in_force.items():
            if key in in_force:
                self._vanishing.pop(key, None)
                continue
            signature = _signature(path)
            gone = self._vanishing.get(key)
            if gone is None or gone.signature != signature:  # the file changed again: wait again
                gone = self._vanishing[key] = _Vanishing(doc, path, now, signature)
                log.info("%s/%s/%s is no longer in %s: kept until the file has been unchanged for %gs",
                         *key, path, self._removal_delay)
            if now - gone.since < self._removal_delay:
                documents.append(doc)
                in_force[key] = (doc, path)
            else:
                del self._vanishing[key]
                log.info("%s/%s/%s removed: gone from %s for %gs", *key, path, self._removal_delay)
        self._in_force = in_force
        return documents, problems

    def _removal_due(self, now: float) -> bool:
        return any(now - gone.since >= self._removal_delay for gone in self._vanishing.values())

    async def run(self, publish: Publish) -> None:
        await self._publish(publish)
        # A short rust_timeout: the watcher thread notices a stop within 0.3 s instead of its default 5 s, and a
        # removal falls due without any file event.
        async for changes in watchfiles.awatch(self.folder, step=int(self._settle * 1000), debounce=10_000,
                                               watch_filter=self._relevant, rust_timeout=300,
                                               yield_on_timeout=True, recursive=True):
            if changes:
                log.info("manifests in %s changed, reloading", self.folder)
            elif not self._removal_due(time.monotonic()):
                continue
            await self._publish(publish)

    async def _publish(self, publish: Publish) -> None:
        # Reading and parsing in a thread: a second for 30,000 manifests, during which alerts keep being accepted.
        snapshot = publish(*await anyio.to_thread.run_sync(self.load))
        for problem in snapshot.problems:
            log.warning("config: %s", problem)

    @staticmethod
    def _relevant(_: watchfiles.Change, path: str) -> bool:
        return path.endswith(SUFFIXES) and not Path(path).name.startswith(".")
