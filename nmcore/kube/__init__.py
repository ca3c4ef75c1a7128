"""nmcore on Kubernetes: configuration watched live from the API server, and the CRDs for its kinds.

`KubernetesSource` (needs the `nmcore[kubernetes]` extra) lists and watches the custom resources, Secrets
and RoleBindings; `ObjectStoreSource` takes the same objects from another controller's informers instead:

    source = ObjectStoreSource(["WebhookConfig", "WebhookReceiver", "Secret", "RoleBinding"])
    async with Manager(source, host=host) as manager:
        ...  # from the informers' callbacks, with objects as `kubectl get -o json` shows them:
        source.upsert(obj)                       # added or changed
        source.delete("WebhookReceiver", ns, name)
        source.mark_synced("WebhookReceiver")    # once per kind, after its initial list: then it is ready

`crds` generates the CustomResourceDefinitions of the installed channels (`nm crds`).
"""

from typing import Any

from nmcore.kube.kinds import WatchedKind, kinds_for
from nmcore.kube.objectstore import ObjectStoreSource

__all__ = ["Backoff", "KubernetesSource", "ObjectStoreSource", "WatchedKind", "kinds_for"]


def __getattr__(name: str) -> Any:
    """Import the kubernetes_asyncio-based source only when asked for, so the rest works without the extra."""
    if name in ("KubernetesSource", "Backoff"):
        from nmcore.kube import source

        return getattr(source, name)
    raise AttributeError(name)
