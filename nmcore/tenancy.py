"""Which users can access a namespace: the question tenant isolation rests on, asked of a `TenantResolver`.

The built-in resolvers (`rbac`, `namespace`, `kubesphere`) live in `nmcore.builtins.tenants`; a plugin can
add its own through the `nmcore_tenant_resolver` hook. A resolver that cannot answer raises
`TenantLookupError`.
"""

from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from nmcore.snapshot import Snapshot


@attrs.frozen(kw_only=True)
class TenantOptions:
    kubesphere_url: str = "http://127.0.0.1:19094"
    timeout: float = 2.0
    cache_ttl: float = 30.0


class TenantResolver(Protocol):
    name: str

    async def users(self, namespace: str, snapshot: "Snapshot", cluster: str = "") -> frozenset[str]:
        """The users that can access `namespace` (of `cluster`, the alert's `cluster` label, when several clusters
        send to one manager); raise TenantLookupError when that cannot be known."""
        ...
