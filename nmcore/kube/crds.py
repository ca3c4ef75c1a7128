"""CustomResourceDefinitions generated from the channels' attrs schemas, so `kubectl apply` checks manifests too.

Each installed channel's Config and Receiver kind becomes one CRD (apiextensions.k8s.io/v1, namespaced,
v1alpha1 served and stored). The v2beta2 kinds get the CRDs of the Go original (same names, plurals, short names,
cluster scope, v2beta2 served and stored, a status subresource), so nmcore runs on a cluster that already has
them: a Config's or Receiver's spec holds one property per installed channel block and keeps the blocks of
channels not installed here (`x-kubernetes-preserve-unknown-fields`), so installing these CRDs never prunes them.
Every OpenAPI v3 schema is structural, as Kubernetes requires: every field's
type is known; `int` fields accept numbers or strings (the KubeSphere examples write `port: "25"`); fields
whose shape only nmcore's converter knows (unions, custom types) keep whatever is written and nmcore
validates them. Rules that span several fields stay in nmcore, which reports them as Events.
"""

import collections.abc
import inspect
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

from nmcore import v2beta2
from nmcore.channel import RegisteredChannel
from nmcore.kube.kinds import GROUP, V2_KINDS, VERSION, custom_kind
from nmcore.schema import is_open, manifest_key

__all__ = ["crd_for", "openapi_schema", "render_crds", "stale_crds", "v2_crd", "write_crds"]

_SEQUENCES = (tuple, list, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)
_KEEP = {"x-kubernetes-preserve-unknown-fields": True}


def openapi_schema(tp: Any, _within: frozenset[type] = frozenset()) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a type used in a manifest schema."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or isinstance(tp, typing.NewType):
        return dict(_KEEP)  # a NewType exists to be parsed its own way (e.g. `a | b` or a list)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in args if a is not type(None)]
        schema = openapi_schema(present[0], _within) if len(present) == 1 else dict(_KEEP)
        return schema | {"nullable": True} if len(present) < len(args) else schema
    if origin is typing.Literal:
        return _literal(args)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
    if tp is float:
        return {"type": "number"}
    if origin in _SEQUENCES and args:
        return {"type": "array", "items": openapi_schema(args[0], _within)}
    if origin in _MAPPINGS and len(args) == 2:
        return {"type": "object", "additionalProperties": openapi_schema(args[1], _within)}
    if isinstance(tp, type) and attrs.has(tp):
        return _object(tp, _within)
    raise TypeError(f"cannot describe {tp!r} in a CRD schema")


def _literal(values: tuple[Any, ...]) -> dict[str, Any]:
    names = {bool: "boolean", int: "integer", str: "string"}
    kinds = {names.get(type(v)) for v in values}
    if len(kinds) != 1 or None in kinds:
        raise TypeError(f"cannot describe Literal{list(values)} in a CRD schema: mixed or unsupported types")
    return {"type": kinds.pop(), "enum": list(values)}


def _object(cls: type, within: frozenset[type]) -> dict[str, Any]:
    if cls in within:
        raise TypeError(f"{cls.__qualname__} contains itself; structural schemas cannot describe recursion")
    attrs.resolve_types(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        key = manifest_key(cls, field)
        properties[key] = openapi_schema(field.type, within | {cls})
        if field.default is attrs.NOTHING:
            required.append(key)
    schema: dict[str, Any] = {"type": "object"}
    if cls.__doc__:
        schema["description"] = inspect.cleandoc(cls.__doc__).split("\n\n")[0].replace("\n", " ")
    schema["properties"] = properties
    if required:
        schema["required"] = required
    if is_open(cls):
        schema |= _KEEP
    return schema


def crd_for(kind: str, spec_schema: type, description: str) -> dict[str, Any]:
    """The v1alpha1 CRD of a channel's Config or Receiver kind."""
    version = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "additionalPrinterColumns": [
            {"name": "Type", "type": "string", "jsonPath": ".metadata.labels.type"},
            {"name": "User", "type": "string", "jsonPath": ".metadata.labels.user"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    spec = openapi_schema(spec_schema)
    if kind.endswith("Receiver"):  # the core reads it on every receiver kind (nmcore.resources.Resource)
        spec.setdefault("properties", {})["alertSelector"] = openapi_schema(v2beta2.LabelSelector)
    return _crd(kind, custom_kind(kind).plural, "Namespaced", version, spec, description)


V2_SHORT_NAMES = {"Config": ["nc"], "Receiver": ["nr"], "NotificationManager": ["nm"]}
V2_DESCRIPTIONS = {
    "Config": "How to send: one block per channel (SMTP server, tokens, applications).",
    "Receiver": "Where to send: one block per channel; each block is its own receiver.",
    "NotificationManager": "Who owns what (selectors, tenantKey), the secrets namespace, options of the receivers.",
    "Router": "Sends the alerts its selector matches to the receivers it names.",
    "Silence": "Mutes the alerts its matcher matches, for a time or on a schedule.",
}
_V2_SPECS = {"NotificationManager": v2beta2.NotificationManagerSpec, "Router": v2beta2.RouterSpec,
             "Silence": v2beta2.SilenceSpec}


def v2_crd(kind: str, channels: Mapping[str, RegisteredChannel]) -> dict[str, Any]:
    """The v2beta2 CRD of `kind`, compatible with the Go original's."""
    if kind in _V2_SPECS:
        spec = openapi_schema(_V2_SPECS[kind])
    else:
        blocks = sorted((c.spec.v2beta2 for c in channels.values() if c.spec.v2beta2 is not None),
                        key=lambda b: b.name)
        spec = {"type": "object", "properties": {
            b.name: openapi_schema(b.config_schema if kind == "Config" else b.receiver_schema) for b in blocks},
            **_KEEP}
    watched = next(k for k in V2_KINDS if k.kind == kind)
    version = {"name": watched.version, "served": True, "storage": True, "subresources": {"status": {}}}
    return _crd(kind, watched.plural, "Cluster", version, spec, V2_DESCRIPTIONS[kind],
                short_names=V2_SHORT_NAMES.get(kind, []))


def _crd(kind: str, plural: str, scope: str, version: dict[str, Any], spec: dict[str, Any], description: str,
         short_names: list[str] | None = None) -> dict[str, Any]:
    names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                             "categories": ["notification-manager"]}
    if short_names:
        names["shortNames"] = short_names
    version = version | {"schema": {"openAPIV3Schema": {
        "type": "object",
        "description": description,
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": {"type": "object", **_KEEP},
        },
    }}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app": "notification-manager"}},
        "spec": {"group": GROUP, "names": names, "scope": scope, "versions": [version]},
    }


def _yaml(crd: dict[str, Any], header: str) -> str:
    return header + yaml.safe_dump(crd, sort_keys=False, width=120, allow_unicode=True)


def render_crds(channels: Mapping[str, RegisteredChannel]) -> dict[str, str]:
    """File name → YAML text: every Config and Receiver kind of `channels`, and the v2beta2 kinds."""
    files: dict[str, str] = {}
    for name, registered in sorted(channels.items()):
        spec = registered.spec
        for role, kind, schema in (("config", spec.config_kind, spec.config_schema),
                                   ("receiver", spec.receiver_kind, spec.receiver_schema)):
            what = f"The {role} of the {name} channel" + (f" ({spec.description})" if spec.description else "") + "."
            crd = crd_for(kind, schema, what)
            header = (f"# Generated by `nm crds` from {schema.__module__}.{schema.__qualname__} "
                      f"({registered.plugin.distribution}); change the schema class, not this file.\n")
            files[f"{crd['metadata']['name']}.yaml"] = _yaml(crd, header)
    blocks = ", ".join(sorted(c.spec.v2beta2.name for c in channels.values() if c.spec.v2beta2 is not None))
    for watched in V2_KINDS:
        crd = v2_crd(watched.kind, channels)
        source = f"the {blocks} blocks of the installed channels" if watched.kind in ("Config", "Receiver") \
            else f"nmcore.v2beta2.{_V2_SPECS[watched.kind].__qualname__}"
        header = (f"# Generated by `nm crds` from {source}; compatible with the Go original's CRD (same names, "
                  f"scope and versions).\n")
        files[f"{crd['metadata']['name']}.yaml"] = _yaml(crd, header)
    return files


def write_crds(directory: Path | str, channels: Mapping[str, RegisteredChannel]) -> list[Path]:
    """Write the CRDs of `channels` into `directory`; return the files that changed."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for filename, text in render_crds(channels).items():
        path = directory / filename
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def stale_crds(directory: Path | str, channels: Mapping[str, RegisteredChannel]) -> list[str]:
    """What differs between `directory` and the CRDs of `channels`, one line each (empty: up to date).

    Files for channels that are not installed here are left alone: they cannot be regenerated here.
    """
    directory = Path(directory)
    problems = []
    for filename, text in render_crds(channels).items():
        path = directory / filename
        if not path.exists():
            problems.append(f"{path}: missing; run `nm crds` to write it")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{path}: stale, its schema class has changed; run `nm crds` to regenerate it")
    return problems
