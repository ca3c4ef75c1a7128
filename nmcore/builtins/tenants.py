"""The built-in tenant resolvers, a default plugin: `rbac`, `namespace` and `kubesphere`.

`rbac` (the default) reads the `User` subjects of the RoleBindings in the namespace, from the same config
source as the receivers. `kubesphere` asks the KubeSphere tenant sidecar's API, with a timeout and a TTL
cache. `namespace` treats the namespace name as the tenant.
"""

import math
import time
from typing import TYPE_CHECKING

import anyio
import attrs
import httpx

from nmcore.errors import TenantLookupError
from nmcore.hookspecs import hookimpl
from nmcore.httpclient import BoundedReplies
from nmcore.tenancy import TenantOptions, TenantResolver

if TYPE_CHECKING:
    from nmcore.snapshot import Snapshot

TENANT_REPLY_BYTES = 4 * 1024 * 1024
"""The most of a tenant API answer read: a namespace's user names, a list far larger than any real one."""


class RbacResolver:
    """This cluster's RoleBindings: they say nothing about another cluster's namespace of the same name."""

    name = "rbac"

    async def users(self, namespace: str, snapshot: "Snapshot", cluster: str = "") -> frozenset[str]:
        own = snapshot.settings.cluster
        if cluster and own and cluster != own:
            return frozenset()
        return snapshot.rolebinding_users(namespace)


class NamespaceResolver:
    name = "namespace"

    async def users(self, namespace: str, snapshot: "Snapshot", cluster: str = "") -> frozenset[str]:
        return frozenset((namespace,))


@attrs.define
class _CacheEntry:
    expires: float
    users: frozenset[str] | None = None
    ready: anyio.Event = attrs.field(factory=anyio.Event)
    error: str = ""


class KubesphereResolver:
    """`GET {url}/api/v2/tenant?cluster=C&namespace=N` → `["alice", ...]` (the KubeSphere sidecar's API; `cluster`
    only when the alert has one); 404 means nobody. One fetch per cluster and namespace at a time however many
    alerts ask, answers cached for `cache_ttl` seconds (failures for a second)."""

    name = "kubesphere"

    def __init__(self, options: TenantOptions, client: httpx.AsyncClient | None = None):
        self._options = options
        self._client = client or BoundedReplies(timeout=options.timeout, max_reply_bytes=TENANT_REPLY_BYTES)
        self._cache: dict[tuple[str, str], _CacheEntry] = {}

    async def users(self, namespace: str, snapshot: "Snapshot", cluster: str = "") -> frozenset[str]:
        now = time.monotonic()
        entry = self._cache.get((cluster, namespace))
        if entry is None or entry.expires <= now:
            entry = self._cache[(cluster, namespace)] = _CacheEntry(expires=math.inf)
            await self._fetch(cluster, namespace, entry)
        else:
            await entry.ready.wait()
        if entry.users is None:
            raise TenantLookupError(entry.error)
        return entry.users

    async def _fetch(self, cluster: str, namespace: str, entry: _CacheEntry) -> None:
        url = f"{self._options.kubesphere_url.rstrip('/')}/api/v2/tenant"
        try:
            with anyio.fail_after(self._options.timeout):
                where = {"cluster": cluster, "namespace": namespace} if cluster else {"namespace": namespace}
                reply = await self._client.get(url, params=where)
            if reply.status_code == 404:
                entry.users = frozenset()
            elif reply.status_code != 200:
                entry.error = f"tenant API {url} answered HTTP {reply.status_code} for namespace {namespace!r}"
            else:
                names = reply.json()
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    entry.error = f"tenant API {url} did not answer a JSON array of user names"
                else:
                    entry.users = frozenset(names)
        except TimeoutError:
            entry.error = f"tenant API {url} did not answer within {self._options.timeout}s"
        except (httpx.HTTPError, ValueError) as exc:
            entry.error = f"tenant API {url} failed: {exc}"
        finally:
            ttl = self._options.cache_ttl if entry.users is not None else 1.0
            entry.expires = time.monotonic() + ttl
            entry.ready.set()


@hookimpl(trylast=True)
def nmcore_tenant_resolver(name: str, options: TenantOptions) -> TenantResolver | None:
    if name == "rbac":
        return RbacResolver()
    if name == "namespace":
        return NamespaceResolver()
    if name == "kubesphere":
        return KubesphereResolver(options)
    return None
