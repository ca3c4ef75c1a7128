"""The Kubernetes object shapes nmcore reads: metadata, label selectors, Secrets, RoleBindings, custom resources."""

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Generic, Literal, TypeVar

import attrs

from nmcore.schema import KEY, open_schema

GROUP_VERSION = "notification.kubesphere.io/v1alpha1"

LABEL_TYPE = "type"
LABEL_USER = "user"


@open_schema
@attrs.frozen(kw_only=True)
class ObjectMeta:
    """The parts of `metadata` nmcore uses; the API server's other keys are accepted and ignored."""

    name: str
    namespace: str = ""
    labels: Mapping[str, str] = attrs.field(factory=dict)
    annotations: Mapping[str, str] = attrs.field(factory=dict)
    resource_version: str = ""
    uid: str = ""



@attrs.frozen(kw_only=True)
class LabelSelectorRequirement:
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        return f"{self.key} {self.operator} ({','.join(self.values)})" if self.values else f"{self.key} {self.operator}"


@attrs.frozen(kw_only=True)
class LabelSelector:
    """A Kubernetes label selector; an empty one matches everything, as in Kubernetes."""

    match_labels: Mapping[str, str] = attrs.field(factory=dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            e.matches(labels) for e in self.match_expressions
        )

    def why_not(self, labels: Mapping[str, str]) -> str:
        """The first term `labels` fail, and what they hold there (`severity In (critical), but severity is
        'warning'`); "" when they match."""
        for key, value in sorted(self.match_labels.items()):
            if labels.get(key) != value:
                return f"{key}={value}, but {_holds(labels, key)}"
        for expression in self.match_expressions:
            if not expression.matches(labels):
                return f"{expression}, but {_holds(labels, expression.key)}"
        return ""

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        return ", ".join(parts + [str(e) for e in self.match_expressions]) or "<everything>"


def _holds(labels: Mapping[str, str], key: str) -> str:
    return f"{key} is {labels[key]!r}" if key in labels else f"there is no {key} label"


@attrs.frozen(kw_only=True)
class SecretKeySelector:
    """A reference to one key of a Secret in the referring object's namespace."""

    name: str
    key: str

    def __str__(self) -> str:
        return f"Secret {self.name!r} key {self.key!r}"


@attrs.frozen(kw_only=True)
class Secret:
    """A core v1 Secret. Values never appear in repr; `values()` decodes `data` and overlays `stringData`."""

    api_version: Literal["v1"] = attrs.field(default="v1", metadata={KEY: "apiVersion"})
    kind: Literal["Secret"] = "Secret"
    metadata: ObjectMeta
    data: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    string_data: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    type: str = "Opaque"
    immutable: bool = False

    @property
    def owner(self) -> str:
        """The tenant whose objects may use this Secret (its `user` label); "" for global and default objects."""
        return self.metadata.labels.get(LABEL_USER, "")

    def key_names(self) -> set[str]:
        return set(self.data) | set(self.string_data)

    def check(self) -> None:
        """Every `data` value must be base64 (binary content is fine: only referenced keys must be text)."""
        for key, encoded in self.data.items():
            try:
                base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise ValueError(f"data.{key} is not valid base64") from None

    def value(self, key: str) -> str:
        """One key's value as text: `stringData` wins over `data`, as the API server merges them."""
        if key in self.string_data:
            return self.string_data[key]
        try:
            return base64.b64decode(self.data[key], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError(f"data.{key} is not base64 of UTF-8 text") from None


RBAC_GROUP_VERSION = "rbac.authorization.k8s.io/v1"


@attrs.frozen(kw_only=True)
class ConfigMap:
    """A core v1 ConfigMap: where message templates and language packs come from (`binaryData` is not read)."""

    api_version: Literal["v1"] = attrs.field(default="v1", metadata={KEY: "apiVersion"})
    kind: Literal["ConfigMap"] = "ConfigMap"
    metadata: ObjectMeta
    data: Mapping[str, str] = attrs.field(factory=dict)
    binary_data: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    immutable: bool = False


@attrs.frozen(kw_only=True)
class ConfigMapKeySelector:
    """A ConfigMap (in `namespace`, default: the referring object's) and optionally one key of it; with no key
    every key is read, as in the Go original's ConfigmapKeySelector."""

    name: str
    namespace: str = ""
    key: str = ""

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"ConfigMap {where}" + (f" key {self.key}" if self.key else "")


@attrs.frozen(kw_only=True)
class RoleRef:
    api_group: str = "rbac.authorization.k8s.io"
    kind: Literal["Role", "ClusterRole"]
    name: str


@attrs.frozen(kw_only=True)
class Subject:
    """A binding's subject, its kind checked: `kind: user` silently granted nothing before."""

    kind: Literal["User", "Group", "ServiceAccount"]
    name: str
    api_group: str = ""
    namespace: str = ""


@attrs.frozen(kw_only=True)
class _Binding:
    api_version: str = attrs.field(default=RBAC_GROUP_VERSION, metadata={KEY: "apiVersion"})
    metadata: ObjectMeta
    subjects: tuple[Subject, ...] = ()
    role_ref: RoleRef

    def users(self) -> frozenset[str]:
        return frozenset(s.name for s in self.subjects if s.kind == "User")


@attrs.frozen(kw_only=True)
class RoleBinding(_Binding):
    """An rbac.authorization.k8s.io/v1 RoleBinding: its `User` subjects can access its namespace."""

    kind: Literal["RoleBinding"] = "RoleBinding"


@attrs.frozen(kw_only=True)
class ClusterRoleBinding(_Binding):
    """An rbac.authorization.k8s.io/v1 ClusterRoleBinding: its `User` subjects can access every namespace."""

    kind: Literal["ClusterRoleBinding"] = "ClusterRoleBinding"


SpecT = TypeVar("SpecT")


def _label(name: str) -> Any:
    return attrs.Factory(lambda resource: resource.metadata.labels.get(name, ""), takes_self=True)


@attrs.frozen(kw_only=True)
class Resource(Generic[SpecT]):
    """A `notification.kubesphere.io` custom resource, its `spec` structured as its kind's schema says.

    A v2beta2 Config or Receiver becomes one Resource per channel block (`block`), each its own runtime config or
    receiver. `scope` (`tenant`, `global`, `default` or ``) and `user` (the tenant) are read from the `type` and
    `user` labels for v1alpha1; for v2beta2 the NotificationManager's selectors and tenantKey decide them."""

    kind: str
    metadata: ObjectMeta
    spec: SpecT
    origin: str = ""
    block: str = ""
    scope: str = _label(LABEL_TYPE)
    user: str = _label(LABEL_USER)
    alert_selector: LabelSelector | None = None
    """A receiver's `alertSelector`: it gets only the alerts this matches (none given: every alert it may see).
    A v2beta2 block's own field; on a v1alpha1 receiver an optional field the core reads before the plugin's
    schema."""

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def labels(self) -> Mapping[str, str]:
        return self.metadata.labels

    @property
    def ref(self) -> str:
        """How logs, errors and metrics name this object: `Kind/namespace/name`, `Kind/name` when cluster-scoped,
        `Kind/name:block` for one channel block of a v2beta2 object (names never contain `/` or `:`)."""
        ns = f"{self.metadata.namespace}/" if self.metadata.namespace else ""
        block = f":{self.block}" if self.block else ""
        return f"{self.kind}/{ns}{self.metadata.name}{block}"

    @property
    def owner(self) -> str:
        """The tenant this object belongs to ("" for global and default objects): it may use only that
        tenant's Secrets (see `Secret.owner`)."""
        return self.user if self.scope == "tenant" else ""


@attrs.frozen(kw_only=True)
class CredentialSource:
    secret_key_ref: SecretKeySelector


@attrs.frozen(kw_only=True)
class Credential:
    """A value given inline (`value`) or, better, read from a Secret (`valueFrom.secretKeyRef`)."""

    value: str | None = attrs.field(default=None, repr=False)
    value_from: CredentialSource | None = None

    def __attrs_post_init__(self) -> None:
        if (self.value is None) == (self.value_from is None):
            raise ValueError("give exactly one of value and valueFrom.secretKeyRef")
