"""Reading manifests from YAML or JSON text and folders: multi-document files, located parse errors."""

from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import yaml

from nmcore.gcpause import gc_paused
from nmcore.snapshot import Document, Problem

SUFFIXES = (".yaml", ".yml", ".json")

# libyaml parses about 8x faster than the pure-Python loader: 30,000 manifests in a second, not ten.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_SCALARS = {_TAG + name for name in ("null", "bool", "int", "float", "timestamp")}


class _Unusual(Exception):
    """A document using merge keys, complex keys or other tags: PyYAML's own constructor takes it."""


def _plain(node: yaml.Node, loader: yaml.BaseLoader) -> object:
    """The value of a composed node made of plain maps, lists and scalars, in a quarter of PyYAML's time (its
    generic constructor was the largest cost of loading 30,000 manifests)."""
    kind, tag = type(node), node.tag
    if kind is yaml.ScalarNode:
        if tag == _TAG + "str":
            return node.value
        if tag in _SCALARS:
            return loader.yaml_constructors[tag](loader, node)
    elif kind is yaml.MappingNode and tag == _TAG + "map":
        if any(type(k) is not yaml.ScalarNode or k.tag == _TAG + "merge" for k, _ in node.value):
            raise _Unusual
        return {_plain(k, loader): _plain(v, loader) for k, v in node.value}
    elif kind is yaml.SequenceNode and tag == _TAG + "seq":
        return [_plain(item, loader) for item in node.value]
    raise _Unusual


def _load_all(text: str) -> Iterator[object]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            try:
                yield _plain(node, loader)
            except _Unusual:
                yield loader.construct_document(node)
    finally:
        loader.dispose()


def documents_from_text(text: str, origin: str) -> tuple[list[Document], list[Problem]]:
    """Every document in `text`; the first YAML syntax error ends the file and is reported with its line."""
    documents: list[Document] = []
    try:
        with gc_paused():
            for index, body in enumerate(_load_all(text), start=1):
                if body is not None:
                    documents.append(Document(f"{origin}#{index}", body))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return documents, [Problem(origin, "", f"not valid YAML{where}: {problem}")]
    if len(documents) == 1:
        documents = [Document(origin, documents[0].body)]
    return documents, []


def manifest_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith("."))


def documents_from_file(path: Path) -> tuple[list[Document], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(str(path), "", f"cannot read: {exc}")]
    return documents_from_text(text, str(path))


@gc_paused()
def documents_from_folder(folder: Path | str, last_good: dict[Path, list[Document]] | None = None,
                          ) -> tuple[list[Document], list[Problem]]:
    """Every manifest file's documents. With `last_good` (kept by the caller across reloads, updated here), a
    file that no longer parses keeps its last good documents in force, the problem still reported."""
    folder = Path(folder)
    if not folder.is_dir():
        return [], [Problem(str(folder), "", "not a folder")]
    documents: list[Document] = []
    problems: list[Problem] = []
    previous = dict(last_good or {})
    files = manifest_files(folder)
    for path in files:
        found, trouble = documents_from_file(path)
        if last_good is not None:
            if not trouble:
                last_good[path] = found
            elif path in previous:
                found = previous[path]
                trouble = [attrs.evolve(p, message=f"{p.message}; its last good version stays in force")
                           for p in trouble]
        documents += found
        problems += trouble
    if last_good is not None:
        for gone in previous.keys() - set(files):
            del last_good[gone]
    return documents, problems


def documents_from_paths(paths: Iterable[Path | str]) -> tuple[list[Document], list[Problem]]:
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in map(Path, paths):
        if path.is_dir():
            found, trouble = documents_from_folder(path)
        else:
            found, trouble = documents_from_text(path.read_text(encoding="utf-8"), str(path))
        documents += found
        problems += trouble
    return documents, problems
