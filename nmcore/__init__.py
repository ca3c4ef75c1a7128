"""nmcore: a multi-tenant notification manager for Kubernetes, usable as a library with channel plugins.

The public modules are three: this one (the library: a `Manager`, its config sources and stores, its
settings, the alert types it takes, the error base class and the plugin hook marker), `nmcore.sdk` (everything
a channel plugin needs) and `nmcore.testing` (the test kit for plugins). Every other module is internal and
may change without notice.

    from nmcore import Manager, FolderSource, ManagerSettings
    async with Manager(FolderSource("manifests/"), settings=ManagerSettings(dedup_window=0)) as manager:
        await manager.submit_payload(alertmanager_body)

`KubernetesSource` and `ObjectStoreSource` are imported on first use, so `import nmcore` does not need the
`nmcore[kubernetes]` extra; `PostgresStore` likewise for `nmcore[postgresql]`.
"""

from typing import TYPE_CHECKING, Any

from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.channel import ChannelSpec
from nmcore.delivery import Outcome, RetryPolicy
from nmcore.errors import NmcoreError
from nmcore.hookspecs import hookimpl
from nmcore.manager import Accepted, Manager
from nmcore.plugins import PluginHost
from nmcore.settings import ManagerSettings
from nmcore.snapshot import Document, Problem, Snapshot
from nmcore.sources import ConfigSource, FolderSource, StaticSource
from nmcore.sqlitestore import SQLiteStore
from nmcore.store import MemoryStore, Store
from nmcore.tenancy import TenantOptions
from nmcore.verify import VerifyResult

if TYPE_CHECKING:
    from nmcore.kube import KubernetesSource, ObjectStoreSource
    from nmcore.pgstore import PostgresStore

__all__ = [
    "Accepted",
    "Alert",
    "AlertGroup",
    "ChannelSpec",
    "ConfigSource",
    "Document",
    "FolderSource",
    "KubernetesSource",
    "Manager",
    "ManagerSettings",
    "MemoryStore",
    "NmcoreError",
    "Notification",
    "ObjectStoreSource",
    "Outcome",
    "PluginHost",
    "PostgresStore",
    "Problem",
    "RetryPolicy",
    "SQLiteStore",
    "Snapshot",
    "StaticSource",
    "Store",
    "TenantOptions",
    "VerifyResult",
    "hookimpl",
]

_KUBERNETES = ("KubernetesSource", "ObjectStoreSource")


def __getattr__(name: str) -> Any:
    """The Kubernetes sources and the PostgreSQL store, imported when first asked for (they need the
    kubernetes-asyncio and psycopg extras)."""
    if name in _KUBERNETES:
        import nmcore.kube

        return getattr(nmcore.kube, name)
    if name == "PostgresStore":
        from nmcore.pgstore import PostgresStore

        return PostgresStore
    raise AttributeError(f"module 'nmcore' has no attribute {name!r}")
