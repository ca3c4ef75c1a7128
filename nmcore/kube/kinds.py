"""The Kubernetes resources nmcore reads, and how their objects are named as config documents."""

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from nmcore.channel import RegisteredChannel
from nmcore.resources import GROUP_VERSION
from nmcore.v2beta2 import GROUP_VERSION as V2_GROUP_VERSION

GROUP, VERSION = GROUP_VERSION.split("/")
ORIGIN_PREFIX = "k8s:"


@attrs.frozen
class WatchedKind:
    """One resource to list and watch: in the manager's namespace, or in every namespace (`cluster_wide`)."""

    kind: str
    group: str
    version: str
    plural: str
    cluster_wide: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def snake_name(self) -> str:
        """`config_map` for ConfigMap: how the Kubernetes client names its methods (`list_namespaced_config_map`)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.kind).lower()


SECRETS = WatchedKind("Secret", "", "v1", "secrets")
CONFIGMAPS = WatchedKind("ConfigMap", "", "v1", "configmaps")
V2_KINDS = tuple(WatchedKind(kind, GROUP, "v2beta2", plural, cluster_wide=True) for kind, plural in (
    ("Config", "configs"), ("Receiver", "receivers"), ("NotificationManager", "notificationmanagers"),
    ("Router", "routers"), ("Silence", "silences")))
"""The v2beta2 kinds: cluster-scoped, as the Go original's CRDs declare them."""
ROLEBINDINGS = WatchedKind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", cluster_wide=True)
CLUSTERROLEBINDINGS = WatchedKind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                                  cluster_wide=True)


def custom_kind(kind: str) -> WatchedKind:
    """A `notification.kubesphere.io/v1alpha1` kind; its plural is the lowercase kind plus "s", as the CRDs say."""
    return WatchedKind(kind, GROUP, VERSION, kind.lower() + "s")


def channel_kinds(channels: Mapping[str, RegisteredChannel]) -> list[WatchedKind]:
    """The Config and Receiver kinds of every installed channel, in a stable order."""
    names = sorted({k for c in channels.values() for k in (c.spec.config_kind, c.spec.receiver_kind)})
    return [custom_kind(name) for name in names]


def kinds_for(channels: Mapping[str, RegisteredChannel], *, rolebindings: bool = True) -> list[WatchedKind]:
    """Everything a manager needs: the channels' v1alpha1 kinds, the v2beta2 kinds, Secrets, ConfigMaps (templates,
    language packs) and, for the `rbac` tenant resolver, RoleBindings and ClusterRoleBindings."""
    return [*channel_kinds(channels), *V2_KINDS, SECRETS, CONFIGMAPS,
            *([ROLEBINDINGS, CLUSTERROLEBINDINGS] if rolebindings else [])]


def secret_namespaces(objects: Iterable[Mapping[str, Any]], own: str) -> set[str]:
    """The namespaces whose Secrets v2beta2 credentials read: each `secretKeyRef.namespace`, and for references
    without one the NotificationManager's `defaultSecretNamespace` (else nm's own namespace)."""
    v2 = [o for o in objects if o.get("apiVersion") == V2_GROUP_VERSION]
    default = next((str(o["spec"]["defaultSecretNamespace"]) for o in sorted(v2, key=lambda o: object_key(o)[2])
                    if o.get("kind") == "NotificationManager" and isinstance(o.get("spec"), Mapping)
                    and o["spec"].get("defaultSecretNamespace")), own)
    found = {default}
    for obj in v2:
        for ref in secret_key_refs(obj.get("spec")):
            found.add(str(ref.get("namespace") or default))
    return found


def secret_key_refs(value: Any) -> Iterable[Mapping[str, Any]]:
    """Every `secretKeyRef` mapping in a manifest's (unstructured) spec."""
    if isinstance(value, Mapping):
        if isinstance(value.get("secretKeyRef"), Mapping):
            yield value["secretKeyRef"]
        for item in value.values():
            yield from secret_key_refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from secret_key_refs(item)


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object as the API server returns it."""
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace", "") or ""), str(meta.get("name", ""))


def origin_of(kind: str, namespace: str, name: str) -> str:
    """`k8s:Kind/namespace/name`: how documents from the cluster, and so their problems, are named."""
    return f"{ORIGIN_PREFIX}{kind}/{namespace}/{name}"
