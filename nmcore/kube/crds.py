"""CustomResourceDefinitions generated from the channels' attrs schemas, so `kubectl apply` checks manifests too.

Each installed channel's Config and Receiver kind becomes one CRD (apiextensions.k8s.io/v1, namespaced,
v1alpha1 served and stored) whose OpenAPI v3 schema is structural, as Kubernetes requires: every field's
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

from nmcore.channel import RegisteredChannel
from nmcore.kube.kinds import GROUP, VERSION, custom_kind
from nmcore.schema import is_open, manifest_key

__all__ = ["crd_for", "openapi_schema", "render_crds", "stale_crds", "write_crds"]

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
    plural = custom_kind(kind).plural
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app": "notification-manager"}},
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "categories": ["notification-manager"]},
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "additionalPrinterColumns": [
                    {"name": "Type", "type": "string", "jsonPath": ".metadata.labels.type"},
                    {"name": "User", "type": "string", "jsonPath": ".metadata.labels.user"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                ],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": description,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": openapi_schema(spec_schema),
                        "status": {"type": "object", **_KEEP},
                    },
                }},
            }],
        },
    }


def render_crds(channels: Mapping[str, RegisteredChannel]) -> dict[str, str]:
    """File name → YAML text, for every Config and Receiver kind of `channels`."""
    files: dict[str, str] = {}
    for name, registered in sorted(channels.items()):
        spec = registered.spec
        for role, kind, schema in (("config", spec.config_kind, spec.config_schema),
                                   ("receiver", spec.receiver_kind, spec.receiver_schema)):
            what = f"The {role} of the {name} channel" + (f" ({spec.description})" if spec.description else "") + "."
            crd = crd_for(kind, schema, what)
            header = (f"# Generated by `nm crds` from {schema.__module__}.{schema.__qualname__} "
                      f"({registered.plugin.distribution}); change the schema class, not this file.\n")
            body = yaml.safe_dump(crd, sort_keys=False, width=120, allow_unicode=True)
            files[f"{crd['metadata']['name']}.yaml"] = header + body
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
