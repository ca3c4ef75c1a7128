"""A CRD's OpenAPI v3 schema as JSON Schema (for the `jsonschema` package), and the structural-schema rules.

Kubernetes prunes or rejects unknown fields (kubectl's default field validation is Strict); plain JSON Schema
says that with `additionalProperties: false`, so objects with `properties` get it here. `nullable: true`
adds "null" to the allowed types.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema


def to_json_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: to_json_schema(child) for name, child in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = to_json_schema(value)
        elif key == "anyOf":
            out[key] = [to_json_schema(child) for child in value]
        elif key != "nullable":
            out[key] = value
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif "anyOf" in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    return out


def validator_for(openapi: Mapping[str, Any]):
    """A validator for the fake API server: messages like kube-apiserver's, `field.path: problem`."""
    checker = jsonschema.Draft202012Validator(to_json_schema(openapi))

    def validate(obj: Mapping[str, Any]) -> list[str]:
        return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in sorted(checker.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))]

    return validate


def structural_violations(node: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """What keeps a schema from being structural (the rules apiextensions.k8s.io/v1 enforces that apply here)."""
    keep = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if "type" not in node and not keep:
        yield f"{path or '<root>'}: no type"
    if "properties" in node and "additionalProperties" in node:
        yield f"{path}: properties and additionalProperties together"
    if node.get("x-kubernetes-int-or-string"):
        if node.get("anyOf") not in (None, [{"type": "integer"}, {"type": "string"}]):
            yield f"{path}: int-or-string with an anyOf other than integer|string"
    elif "anyOf" in node:
        yield f"{path}: anyOf outside the int-or-string pattern would need types inside it"
    for name, child in (node.get("properties") or {}).items():
        yield from structural_violations(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), Mapping):
            yield from structural_violations(node[key], f"{path}[{key}]")
