"""`nm convert`: a folder of v1alpha1 manifests into the equivalent v2beta2 ones, and back where possible.

v1alpha1 → v2beta2: each EmailConfig, SlackConfig, … becomes a block of a Config; configs of the same name and
labels (the seed's three `test-user-config`s) become one Config with several blocks, the way KubeSphere's console
keeps them; receivers likewise. A Secret reference gains the namespace v1alpha1 implied (the object's own).
v2beta2 → v1alpha1: each block becomes the channel's own kind in nm's namespace. What the target version cannot say
(a field it lacks, an inline credential where it takes only a Secret, a Secret in another namespace, a Router) is
left out and named, one line each. Secrets, RoleBindings and objects already in the target version pass unchanged.
A plugin may adjust a block's translation with `from_v1alpha1(block, config)` / `to_v1alpha1(block)` classmethods
on its v2beta2 block schema (a renamed field, a field that moved between Config and Receiver).
"""

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from nmcore import v2beta2
from nmcore.channel import RegisteredChannel
from nmcore.resources import GROUP_VERSION, Credential, Resource, SecretKeySelector
from nmcore.schema import manifest_key
from nmcore.snapshot import Document, Snapshot, build_snapshot

VERSIONS = ("v1alpha1", "v2beta2")
_ROLE_LABELS = ("type", "user")


class Unconvertible(ValueError):
    """This value cannot be said in the target version."""


@attrs.frozen
class Converted:
    manifests: list[dict[str, Any]]
    notes: list[str]
    """What could not be converted, one line each (`ref: field: why`)."""


def convert(documents: Iterable[Document], channels: Mapping[str, RegisteredChannel], to: str,
            default_namespace: str) -> Converted:
    documents = list(documents)
    snapshot = build_snapshot(documents, channels, default_namespace=default_namespace)
    other = GROUP_VERSION if to == "v2beta2" else v2beta2.GROUP_VERSION
    passed = [dict(d.body) for d in documents if isinstance(d.body, Mapping) and d.body.get("apiVersion") != other]
    converter = _ToV2(snapshot, channels) if to == "v2beta2" else _ToV1(snapshot, channels, default_namespace)
    return Converted(passed + converter.manifests(), converter.notes)


def _attrs_class(tp: Any) -> type | None:
    if isinstance(tp, type) and attrs.has(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(tp) if isinstance(a, type) and attrs.has(a)), None)
    return None


def _item_type(tp: Any) -> Any:
    for candidate in (tp, *typing.get_args(tp)):
        args = typing.get_args(candidate)
        if typing.get_origin(candidate) in (tuple, list) and args:
            return args[0]
        if isinstance(candidate, typing.NewType):  # type: ignore[arg-type]
            return _item_type(candidate.__supertype__)
    return Any


def _default(field: attrs.Attribute) -> Any:
    factory = getattr(field.default, "factory", None)
    return factory() if factory is not None and not getattr(field.default, "takes_self", False) else field.default


def _fields(cls: type | None) -> dict[str, attrs.Attribute]:
    if cls is None:
        return {}
    attrs.resolve_types(cls)
    return {manifest_key(cls, f): f for f in attrs.fields(cls)}


class _Translator:
    """Walks a structured spec into the manifest dict of another schema, credentials translated on the way."""

    def __init__(self, snapshot: Snapshot, channels: Mapping[str, RegisteredChannel]):
        self.snapshot = snapshot
        self.channels = channels
        self.notes: list[str] = []

    def credential(self, value: Any, target: Any, namespace: str) -> Any:
        raise NotImplementedError

    def translate(self, value: Any, target: Any, namespace: str) -> Any:
        if isinstance(value, Credential | v2beta2.Credential | SecretKeySelector | v2beta2.SecretKeyRef):
            return self.credential(value, target, namespace)
        if attrs.has(type(value)):
            fields = _fields(_attrs_class(target))
            out = {}
            for field in attrs.fields(type(value)):
                item = getattr(value, field.name)
                if field.default is not attrs.NOTHING and item == _default(field):
                    continue
                key = manifest_key(type(value), field)
                out[key] = self.translate(item, fields[key].type if key in fields else Any, namespace)
            return out
        if isinstance(value, tuple | list):
            return [self.translate(item, _item_type(target), namespace) for item in value]
        if isinstance(value, Mapping):
            return dict(value)
        return value

    def prune(self, body: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
        """`body` without the keys `cls` does not know (each named in the notes), recursively."""
        fields = _fields(cls)
        out = {}
        for key, value in body.items():
            if key not in fields:
                self.notes.append(f"{where}.{key}: the target version has no such field; left out")
                continue
            inner = _attrs_class(fields[key].type)
            if inner is not None and isinstance(value, dict):
                value = self.prune(value, inner, f"{where}.{key}")
            elif inner is None and isinstance(value, list) and (item := _attrs_class(_item_type(fields[key].type))):
                value = [self.prune(v, item, f"{where}.{key}[{i}]") if isinstance(v, dict) else v
                         for i, v in enumerate(value)]
            out[key] = value
        return out

    def block(self, value: Any, cls: type, namespace: str, where: str) -> dict[str, Any] | None:
        try:
            return self.translate(value, cls, namespace)  # type: ignore[no-any-return]
        except Unconvertible as exc:
            self.notes.append(f"{where}: {exc}; not converted")
            return None


class _ToV2(_Translator):
    def credential(self, value: Any, target: Any, namespace: str) -> Any:
        if isinstance(value, SecretKeySelector):
            return {"valueFrom": {"secretKeyRef": {"namespace": namespace, "name": value.name, "key": value.key}}}
        if value.value_from is None:
            return {"value": value.value}
        ref = value.value_from.secret_key_ref
        return {"valueFrom": {"secretKeyRef": {"namespace": namespace, "name": ref.name, "key": ref.key}}}

    def manifests(self) -> list[dict[str, Any]]:
        objects: dict[tuple[str, str], dict[str, Any]] = {}
        configs = {t.receiver.ref: t.config for t in self.snapshot.targets.values()}
        for resource in sorted(self.snapshot.configs + self.snapshot.receivers, key=lambda r: r.ref):
            if resource.block:
                continue
            channel = self._channel(resource)
            role = "Config" if resource.kind == channel.spec.config_kind else "Receiver"
            block_spec = channel.spec.v2beta2
            if block_spec is None:
                self.notes.append(f"{resource.ref}: the {channel.spec.name} channel has no v2beta2 block; not "
                                  "converted")
                continue
            cls = block_spec.config_schema if role == "Config" else block_spec.receiver_schema
            body = self.block(resource.spec, cls, resource.metadata.namespace, resource.ref)
            if body is None:
                continue
            adjust = getattr(cls, "from_v1alpha1", None)
            if adjust is not None:
                config = configs.get(resource.ref)
                config_body = self.translate(config.spec, Any, config.metadata.namespace) if config else None
                body = adjust(body, config_body)
            body = self.prune(body, cls, f"{resource.ref}: spec")
            self._place(objects, role, resource, block_spec.name, body)
        return list(objects.values())

    def _channel(self, resource: Resource) -> RegisteredChannel:
        return next(c for c in self.channels.values() if resource.kind in (c.spec.config_kind, c.spec.receiver_kind))

    def _place(self, objects: dict[tuple[str, str], dict[str, Any]], kind: str, resource: Resource, block: str,
               body: dict[str, Any]) -> None:
        """Into the object of the same name and labels when it has no such block yet, else one of its own."""
        labels = dict(resource.labels)
        for name in (resource.name, f"{resource.name}-{block}", f"{resource.name}-{resource.metadata.namespace}"):
            found = objects.get((kind, name))
            if found is None:
                objects[(kind, name)] = {"apiVersion": v2beta2.GROUP_VERSION, "kind": kind,
                                         "metadata": {"name": name, "labels": labels}, "spec": {block: body}}
                return
            if found["metadata"]["labels"] == labels and block not in found["spec"]:
                found["spec"][block] = body
                return
        self.notes.append(f"{resource.ref}: no free name for it as a {kind}; not converted")


class _ToV1(_Translator):
    def __init__(self, snapshot: Snapshot, channels: Mapping[str, RegisteredChannel], namespace: str):
        super().__init__(snapshot, channels)
        self.namespace = namespace

    def credential(self, value: Any, target: Any, namespace: str) -> Any:
        wants_ref = _attrs_class(target) is SecretKeySelector
        ref = value if isinstance(value, v2beta2.SecretKeyRef) else getattr(value, "secret_key_ref", None)
        if ref is None:
            if wants_ref:
                raise Unconvertible("v1alpha1 reads this credential from a Secret only, not an inline value")
            return {"value": value.value}
        where = ref.namespace or self.snapshot.secret_namespace
        if where != self.namespace:
            raise Unconvertible(f"{ref} is in namespace {where!r}; v1alpha1 reads Secrets only in the object's "
                                f"namespace {self.namespace!r}")
        selector = {"name": ref.name, "key": ref.key}
        return selector if wants_ref else {"valueFrom": {"secretKeyRef": selector}}

    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for extra in (*self.snapshot.routers, *self.snapshot.silences,
                      *([self.snapshot.notification_manager] if self.snapshot.notification_manager else [])):
            self.notes.append(f"{extra.ref}: v1alpha1 has no {extra.kind}; not converted")
        for resource in sorted(self.snapshot.configs + self.snapshot.receivers, key=lambda r: r.ref):
            if not resource.block:
                continue
            channel = next(c for c in self.channels.values()
                           if c.spec.v2beta2 is not None and c.spec.v2beta2.name == resource.block)
            is_config = resource.kind == "Config"
            if not is_config and not resource.spec.enabled:
                self.notes.append(f"{resource.ref}: disabled (enabled: false), and v1alpha1 cannot say so; "
                                  "not converted")
                continue
            cls = channel.spec.config_schema if is_config else channel.spec.receiver_schema
            body = self.block(resource.spec, cls, self.namespace, resource.ref)
            if body is None:
                continue
            body.pop("enabled", None)
            block_cls = type(resource.spec)
            adjust = getattr(block_cls, "to_v1alpha1", None)
            body = self.prune(adjust(body) if adjust else body, cls, f"{resource.ref}: spec")
            kind = channel.spec.config_kind if is_config else channel.spec.receiver_kind
            out.append({"apiVersion": GROUP_VERSION, "kind": kind,
                        "metadata": {"name": resource.name, "namespace": self.namespace,
                                     "labels": self._labels(resource)},
                        "spec": body})
        return out

    def _labels(self, resource: Resource) -> dict[str, str]:
        """The NotificationManager's notion of the owner, as the v1alpha1 `type` and `user` labels."""
        labels = {k: v for k, v in resource.labels.items() if k not in _ROLE_LABELS}
        if resource.scope:
            labels["type"] = resource.scope
        if resource.scope == "tenant":
            labels.pop(self.snapshot.settings.tenant_key, None)
            labels["user"] = resource.user
        return labels
