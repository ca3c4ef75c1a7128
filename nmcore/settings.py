"""The manager's knobs, in one frozen object apart from its collaborators (as kopf's `OperatorSettings`).

`Manager(source, settings=ManagerSettings(dedup_window=0), store=..., host=...)`: the source, store, plugin
host, renderer and HTTP client are things the manager works with; everything here is a number or a name.
"""

import attrs

from nmcore.delivery import RetryPolicy
from nmcore.history import Retention
from nmcore.netpolicy import NetworkPolicy
from nmcore.snapshot import DEFAULT_NAMESPACE
from nmcore.tenancy import TenantOptions


@attrs.frozen(kw_only=True)
class ManagerSettings:
    tenant_resolver: str = "rbac"
    """Who can access a namespace: `rbac` (RoleBindings), `namespace`, `kubesphere`, or a plugin's resolver."""
    tenant_options: TenantOptions = attrs.field(factory=TenantOptions)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    dedup_window: float = 300.0
    """Seconds in which the same notification accepted again (an Alertmanager HA pair) is dropped; 0: off."""
    max_pending: int = 100_000
    """Deliveries pending beyond which `submit` raises Busy (the server answers 503 with Retry-After)."""
    per_receiver: int = 4
    """Sends in flight to one receiver at a time."""
    default_namespace: str = DEFAULT_NAMESPACE
    """The namespace of manifests that name none."""
    ready_wait: float = 5.0
    """Seconds `submit` and `verify` wait for the first configuration before raising NotReady."""
    keep_outcomes: int = 10_000
    """How many recent delivery outcomes `Manager.outcomes` keeps."""
    cluster: str = ""
    """When set, alerts without a `cluster` label get this one (several clusters, one manager)."""
    history: bool = True
    """Keep a history entry for every finished delivery (nmcore.history), written in the background."""
    history_retention: Retention = attrs.field(factory=Retention)
    fallback_after: float = 0.0
    """Seconds a delivery may keep failing before its notification also goes to its fallback receiver (once, while
    it is retried); 0: the NotificationManager's `spec.fallback.after`, and without one only dead letters fall back."""
    network_policy: NetworkPolicy = attrs.field(factory=NetworkPolicy)
    """Where receivers may not send (nmcore.netpolicy): by default the link-local metadata addresses."""
    history_webhook: str = ""
    """When set, every batch of history entries (every outcome, delivered or dead) is POSTed here as
    `{"history": [...]}`; it overrides the NotificationManager's `spec.history.webhook` (the original's field)."""
