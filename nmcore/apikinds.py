"""The Kubernetes kinds a manifest folder may hold, so a typo (`kind: Rolebinding`, `kind: secret`, an old
apiVersion) is told apart from an object nmcore has no business with (a Deployment, a PrometheusRule).

Only the API groups nmcore reads from are checked: there every kind and version is known, and anything else is
a mistake that would otherwise cut a tenant off without a word. Other groups are ignored.
"""

import difflib

CORE_KINDS = frozenset({
    "Binding", "ComponentStatus", "ConfigMap", "Endpoints", "Event", "LimitRange", "List", "Namespace", "Node",
    "PersistentVolume", "PersistentVolumeClaim", "Pod", "PodTemplate", "ReplicationController", "ResourceQuota",
    "Secret", "Service", "ServiceAccount",
})
"""Every kind of the core `v1` API."""

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_KINDS = frozenset({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"})
RBAC_VERSIONS = ("v1",)
"""v1beta1 and v1alpha1 were removed in Kubernetes 1.22: the API server no longer serves them."""


def suggestion(name: str, candidates: object) -> str:
    """` (did you mean 'X'?)` for the nearest candidate, a different case counting as nearest, or ""."""
    names = sorted(candidates)  # type: ignore[call-overload]
    same_case = [c for c in names if c.lower() == name.lower()]
    near = same_case or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def near_group(group: str, groups: object) -> str:
    """The group nmcore reads that `group` is a typo of, or ""."""
    near = difflib.get_close_matches(group, sorted(groups), n=1, cutoff=0.8)  # type: ignore[call-overload]
    return near[0] if near and near[0] != group else ""
