"""Who gets which alert: global receivers get every alert; a tenant receiver gets an alert only when its
user can access the alert's namespace. Routing looks receivers up by tenant and never scans them all.

`explain` answers the other question, "why did my alert not arrive", for every receiver in the snapshot.
"""

import logging
from collections.abc import Callable, Sequence

import anyio
import attrs

from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.errors import TenantLookupError
from nmcore.plugins import PluginHost
from nmcore.snapshot import Snapshot, Target
from nmcore.tenancy import TenantResolver

log = logging.getLogger(__name__)

YIELD_EVERY = 1000
"""Routing a large group lets the event loop run every this many alerts."""


@attrs.frozen
class Routed:
    target: Target
    notification: Notification


Where = tuple[str, str]
"""(cluster, namespace) of an alert: the same namespace in two clusters is two places, with their own users."""


def where(alert: Alert) -> Where:
    return alert.labels.get("cluster", ""), alert.namespace


@attrs.frozen
class Access:
    """The users that can access each (cluster, namespace) of a group, and those that could not be resolved."""

    users: dict[Where, frozenset[str]]
    failures: dict[Where, str]


async def resolve_access(alerts: Sequence[Alert], resolver: TenantResolver, snapshot: Snapshot) -> Access:
    users: dict[Where, frozenset[str]] = {}
    failures: dict[Where, str] = {}
    for place in {where(a) for a in alerts if a.namespace}:
        cluster, namespace = place
        try:
            users[place] = await resolver.users(namespace, snapshot, cluster=cluster)
        except TenantLookupError as exc:
            users[place] = frozenset()
            failures[place] = str(exc)
            log.warning("tenants of namespace %s%s unknown, only global receivers get its alerts: %s", namespace,
                        f" of cluster {cluster}" if cluster else "", exc)
    return Access(users, failures)


class Router:
    def __init__(self, host: PluginHost, resolver: TenantResolver,
                 on_lookup_failure: Callable[[str, str], None] = lambda namespace, error: None):
        self._host = host
        self._resolver = resolver
        self._on_lookup_failure = on_lookup_failure

    async def route(self, group: AlertGroup, snapshot: Snapshot) -> list[Routed]:
        """One notification per receiver for this group, holding only the alerts that receiver may see."""
        access = await resolve_access(group.alerts, self._resolver, snapshot)
        for (_, namespace), error in access.failures.items():
            self._on_lookup_failure(namespace, error)
        filtering = self._host.has_route_filters
        chosen: dict[str, tuple[Target, list[Alert]]] = {}
        for index, alert in enumerate(group.alerts):
            if index and not index % YIELD_EVERY:
                await anyio.sleep(0)  # a group of 100,000 alerts must not stall the event loop
            for target in self.entitled(alert, access, snapshot):
                if filtering and self._host.route_filter(alert, target.receiver, target.tenant):
                    continue
                chosen.setdefault(target.receiver.ref, (target, []))[1].append(alert)
        return [
            Routed(target, Notification(
                receiver=ref, channel=target.channel, tenant=target.tenant, alerts=tuple(alerts),
                group_labels=group.group_labels, external_url=group.external_url, group_key=group.group_key,
            ))
            for ref, (target, alerts) in chosen.items()
        ]

    @staticmethod
    def entitled(alert: Alert, access: Access, snapshot: Snapshot) -> list[Target]:
        targets = list(snapshot.global_targets)
        if alert.namespace:
            for user in sorted(access.users.get(where(alert), ())):
                targets += snapshot.targets_for_user(user)
        return targets

    async def explain(self, alert: Alert, snapshot: Snapshot) -> dict:
        """For one alert: the receivers it goes to (with the config used) and, for every other, why not."""
        access = await resolve_access([alert], self._resolver, snapshot)
        chosen = {t.receiver.ref for t in self.entitled(alert, access, snapshot)}
        users = access.users.get(where(alert), frozenset())
        delivered, withheld = [], []
        for receiver in sorted(snapshot.receivers, key=lambda r: r.ref):
            target = snapshot.targets.get(receiver.ref)
            entry = {"receiver": receiver.ref, "channel": target.channel if target else "", "tenant": receiver.user}
            if receiver.ref in snapshot.skipped:
                withheld.append({**entry, "reason": f"receiver cannot send: {snapshot.skipped[receiver.ref]}"})
            elif receiver.ref not in chosen:
                withheld.append({**entry, "reason": self._not_entitled(alert, receiver.user, users, access)})
            elif target and (veto := self._host.route_filter(alert, receiver, target.tenant)):
                withheld.append({**entry, "reason": f"filtered by a plugin: {veto}"})
            else:
                assert target is not None
                delivered.append({**entry, "config": target.config.ref if target.config else None})
        return {
            "alert": {"labels": dict(alert.labels), "status": alert.status},
            "namespace": alert.namespace or None,
            "namespace_users": sorted(users),
            "cluster": where(alert)[0] or None,
            "tenant_lookup_error": access.failures.get(where(alert)),
            "receivers": delivered,
            "not_receiving": withheld,
        }

    def _not_entitled(self, alert: Alert, user: str, users: frozenset[str], access: Access) -> str:
        if not alert.namespace:
            return "the alert has no namespace label; only global receivers get it"
        if where(alert) in access.failures:
            return f"the users of namespace {alert.namespace} could not be resolved: {access.failures[where(alert)]}"
        who = ", ".join(sorted(users)) or "nobody"
        return (f"user {user!r} cannot access namespace {alert.namespace!r} "
                f"({self._resolver.name} resolver: it is accessible to {who})")
