"""Config sources: where manifests come from. A source calls `publish` with the whole current set of
documents whenever it changes; the manager builds a new snapshot from it and swaps it in atomically.

Built in: `StaticSource` (documents given in code, for embedding and tests) and `FolderSource` (a folder of
YAML/JSON manifests, reloaded when files change). The Kubernetes source lives in `nmcore.kube`.
"""

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import anyio
import watchfiles

from nmcore.manifests import SUFFIXES, documents_from_folder, documents_from_text
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


class FolderSource:
    """A folder of manifests; edits, new files and removals are picked up within about a second.

    A file that stops parsing (a half-saved edit, a bad indent) keeps its last good version in force, with the
    problem reported: one stray keystroke must not silently take every receiver in that file offline.
    """

    def __init__(self, folder: Path | str, *, debounce_ms: int = 300):
        self.folder = Path(folder)
        self._debounce_ms = debounce_ms
        self._last_good: dict[Path, list[Document]] = {}

    def load(self) -> tuple[list[Document], list[Problem]]:
        return documents_from_folder(self.folder, self._last_good)

    async def run(self, publish: Publish) -> None:
        await self._publish(publish)
        # A short rust_timeout: the watcher thread notices a stop within 0.3 s instead of its default 5 s.
        async for _ in watchfiles.awatch(self.folder, debounce=self._debounce_ms, watch_filter=self._relevant,
                                         rust_timeout=300, recursive=True):
            log.info("manifests in %s changed, reloading", self.folder)
            await self._publish(publish)

    async def _publish(self, publish: Publish) -> None:
        # Reading and parsing in a thread: a second for 30,000 manifests, during which alerts keep being accepted.
        snapshot = publish(*await anyio.to_thread.run_sync(self.load))
        for problem in snapshot.problems:
            log.warning("config: %s", problem)

    @staticmethod
    def _relevant(_: watchfiles.Change, path: str) -> bool:
        return path.endswith(SUFFIXES) and not Path(path).name.startswith(".")
