"""Reading manifests from YAML or JSON text and folders: multi-document files, located parse errors.

Bounded, because the config folder is input too: a file over MAX_FILE_BYTES is not read, and a document whose
aliases expand it past MAX_DOCUMENT_NODES values (a 588-byte "billion laughs" expands to 10^9), that nests too
deep or that refers to itself is refused. Each is one located problem; the other documents and files load.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs
import yaml

from nmcore.gcpause import gc_paused
from nmcore.snapshot import Document, Problem

SUFFIXES = (".yaml", ".yml", ".json")

_TAG = "tag:yaml.org,2002:"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml (it parses about 8x faster than the pure-Python loader: 30,000 manifests in a second, not ten),
    with a timestamp kept as the text written, as Kubernetes keeps it (`startsAt: 2026-12-02T22:00:00Z` unquoted is
    the string a Silence reads, not a datetime)."""


_Loader.add_constructor(_TAG + "timestamp", _Loader.construct_yaml_str)
_SCALARS = {_TAG + name for name in ("null", "bool", "int", "float", "timestamp")}


MAX_FILE_BYTES = 32 * 1024 * 1024
"""Larger manifest files are refused unread (30,000 manifests take about 15 MiB)."""

MAX_DOCUMENT_NODES = 1_000_000
"""Values one document may hold once its aliases are expanded (a List of 10,000 manifests holds ~300,000)."""

MAX_ALIAS_NODES = 100_000
"""Nodes a document built by PyYAML's own constructor may gain from alias expansion, beyond its own."""

MAX_DEPTH = 64
"""Nesting a manifest may have; real ones have about ten levels."""


class _Refused:
    """A document left out, and why."""

    def __init__(self, message: str):
        self.message = message


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _refusal(node: yaml.Node) -> str:
    """Why a composed document must not be built, or "". Aliases make the node graph a DAG (or a cycle):
    its expanded size is counted once per shared node, iteratively, so neither a bomb nor deep nesting costs
    more than the composed graph."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, int, bool]] = [(node, 1, False)]
    while stack:
        current, depth, finished = stack.pop()
        key = id(current)
        if finished:
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(current))
            entered.discard(key)
            continue
        if key in sizes:
            continue
        if key in entered:
            return "it refers to itself through an alias"
        if depth > MAX_DEPTH:
            return f"it nests deeper than {MAX_DEPTH} levels"
        entered.add(key)
        stack.append((current, depth, True))
        stack.extend((child, depth + 1, False) for child in _children(current) if id(child) not in sizes)
    expanded, own = sizes[id(node)], len(sizes)
    if expanded - own > MAX_ALIAS_NODES:
        return (f"its aliases expand it from {own} to {expanded} nodes (more than {MAX_ALIAS_NODES:,} added): "
                "a YAML bomb?")
    return ""


class _Unusual(Exception):
    """A document using merge keys, complex keys or other tags: PyYAML's own constructor takes it."""


class _TooLarge(Exception):
    """A document that aliases expand past MAX_DOCUMENT_NODES."""


def _plain(document: yaml.Node, loader: yaml.BaseLoader) -> object:
    """The value of a composed document made of plain maps, lists and scalars, in a quarter of PyYAML's time (its
    generic constructor was the largest cost of loading 30,000 manifests). Raises _TooLarge past
    MAX_DOCUMENT_NODES values built: aliases would otherwise expand a few hundred bytes to 10^9."""
    remaining = MAX_DOCUMENT_NODES

    def plain(node: yaml.Node) -> object:
        nonlocal remaining
        remaining -= 1
        if remaining < 0:
            raise _TooLarge
        kind, tag = type(node), node.tag
        if kind is yaml.ScalarNode:
            if tag == _TAG + "str":
                return node.value
            if tag in _SCALARS:
                return loader.yaml_constructors[tag](loader, node)
        elif kind is yaml.MappingNode and tag == _TAG + "map":
            if any(type(k) is not yaml.ScalarNode or k.tag == _TAG + "merge" for k, _ in node.value):
                raise _Unusual
            return {plain(k): plain(v) for k, v in node.value}
        elif kind is yaml.SequenceNode and tag == _TAG + "seq":
            return [plain(item) for item in node.value]
        raise _Unusual

    return plain(document)


def _load_all(text: str) -> Iterator[object]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            where = f"document at line {node.start_mark.line + 1} left out"
            try:
                yield _plain(node, loader)
            except _TooLarge:
                yield _Refused(f"{where}: its aliases expand it past {MAX_DOCUMENT_NODES:,} values: a YAML bomb?")
            except RecursionError:
                yield _Refused(f"{where}: it nests too deep, or refers to itself through an alias")
            except _Unusual:  # merge keys, tags: PyYAML builds it, sharing what aliases share; check it first
                refusal = _refusal(node)
                try:
                    yield _Refused(f"{where}: {refusal}") if refusal else loader.construct_document(node)
                except RecursionError:
                    yield _Refused(f"{where}: it nests too deep")
    finally:
        loader.dispose()


def documents_from_text(text: str, origin: str) -> tuple[list[Document], list[Problem]]:
    """Every document in `text`; the first YAML syntax error ends the file and is reported with its line."""
    documents: list[Document] = []
    refused: list[Problem] = []
    try:
        with gc_paused():
            for index, body in enumerate(_load_all(text), start=1):
                if isinstance(body, _Refused):  # its message says where: "document at line N left out"
                    refused.append(Problem(origin, "", body.message))
                elif body is not None:
                    documents.append(Document(f"{origin}#{index}", body))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return documents, [*refused, Problem(origin, "", f"not valid YAML{where}: {problem}")]
    if len(documents) == 1 and not refused:
        documents = [Document(origin, documents[0].body)]
    return documents, refused


def manifest_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith("."))


def documents_from_file(path: Path) -> tuple[list[Document], list[Problem]]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [], [Problem(str(path), "", f"not read: {size:,} bytes, more than the {MAX_FILE_BYTES:,} a "
                                               "manifest file may have (split it)")]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(str(path), "", f"cannot read: {exc}")]
    return documents_from_text(text, str(path))


def files_and_documents(folder: Path, last_good: dict[Path, list[Document]] | None = None,
                        ) -> Iterator[tuple[Path, list[Document], list[Problem]]]:
    """Each manifest file's documents and problems. With `last_good` (kept by the caller across reloads, updated
    here), a file that no longer parses keeps its last good documents in force, the problem still reported."""
    if not folder.is_dir():
        yield folder, [], [Problem(str(folder), "", "not a folder")]
        return
    previous = dict(last_good or {})
    files = manifest_files(folder)
    with gc_paused():
        for path in files:
            found, trouble = documents_from_file(path)
            if last_good is not None:
                if not trouble:
                    last_good[path] = found
                elif path in previous:
                    found = previous[path]
                    trouble = [attrs.evolve(p, message=f"{p.message}; its last good version stays in force")
                               for p in trouble]
            yield path, found, trouble
    if last_good is not None:
        for gone in previous.keys() - set(files):
            del last_good[gone]


def documents_from_folder(folder: Path | str, last_good: dict[Path, list[Document]] | None = None,
                          ) -> tuple[list[Document], list[Problem]]:
    """Every manifest file's documents and problems (see files_and_documents)."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for _, found, trouble in files_and_documents(Path(folder), last_good):
        documents += found
        problems += trouble
    return documents, problems


def documents_from_paths(paths: Iterable[Path | str]) -> tuple[list[Document], list[Problem]]:
    documents: list[Document] = []
    problems: list[Problem] = []
    for path in map(Path, paths):
        if path.is_dir():
            found, trouble = documents_from_folder(path)
        else:
            found, trouble = documents_from_file(path)
        documents += found
        problems += trouble
    return documents, problems
