"""The Kubernetes resources nmcore reads, and how their objects are named as config documents."""

import re
from collections.abc import Mapping
from typing import Any

import attrs

from nmcore.channel import RegisteredChannel
from nmcore.resources import GROUP_VERSION

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
ROLEBINDINGS = WatchedKind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings", cluster_wide=True)


def custom_kind(kind: str) -> WatchedKind:
    """A `notification.kubesphere.io/v1alpha1` kind; its plural is the lowercase kind plus "s", as the CRDs say."""
    return WatchedKind(kind, GROUP, VERSION, kind.lower() + "s")


def channel_kinds(channels: Mapping[str, RegisteredChannel]) -> list[WatchedKind]:
    """The Config and Receiver kinds of every installed channel, in a stable order."""
    names = sorted({k for c in channels.values() for k in (c.spec.config_kind, c.spec.receiver_kind)})
    return [custom_kind(name) for name in names]


def kinds_for(channels: Mapping[str, RegisteredChannel], *, rolebindings: bool = True) -> list[WatchedKind]:
    """Everything a manager needs: the channels' kinds, Secrets, ConfigMaps (templates, language packs) and, for the
    `rbac` tenant resolver, RoleBindings."""
    return [*channel_kinds(channels), SECRETS, CONFIGMAPS, *([ROLEBINDINGS] if rolebindings else [])]


def object_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of an object as the API server returns it."""
    meta = obj.get("metadata") or {}
    return str(obj.get("kind", "")), str(meta.get("namespace", "") or ""), str(meta.get("name", ""))


def origin_of(kind: str, namespace: str, name: str) -> str:
    """`k8s:Kind/namespace/name`: how documents from the cluster, and so their problems, are named."""
    return f"{ORIGIN_PREFIX}{kind}/{namespace}/{name}"
