"""Who gets which alert: global receivers get every alert; a tenant receiver gets an alert only when its
user can access the alert's namespace; Routers (admin objects) add receivers, routePolicy may drop tenancy's,
Silences mute, each receiver's alertSelector narrows what it takes. Routing looks receivers up by tenant, and
Routers and Silences up by the alert's labels (nmcore.rules); it never scans them all.

`explain` answers the other question, "why did my alert not arrive", for every receiver in the snapshot.
"""

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import anyio
import attrs

from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.errors import TenantLookupError
from nmcore.plugins import PluginHost
from nmcore.resources import Resource
from nmcore.rules import NOTHING, CompiledRouter, Matched, describe_until, silence_state
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
    """Routes a group over a snapshot: tenancy, then the Routers and routePolicy, then Silences, each receiver's
    alertSelector and the plugins' route filters (nmcore.rules says what Routers and Silences do). `clock` (seconds
    since the epoch) decides which Silences are active: tests inject one."""

    def __init__(self, host: PluginHost, resolver: TenantResolver,
                 on_lookup_failure: Callable[[str, str], None] = lambda namespace, error: None,
                 clock: Callable[[], float] = time.time):
        self._host = host
        self._resolver = resolver
        self._on_lookup_failure = on_lookup_failure
        self.clock = clock

    async def route(self, group: AlertGroup, snapshot: Snapshot,
                    withheld: dict[str, str] | None = None) -> list[Routed]:
        """One notification per receiver for this group, holding only the alerts that receiver may see.

        Given a dict, `withheld` also gets, for each receiver that tenancy or a Router chose and that gets none of
        the group, why (its alertSelector, a Silence, the routePolicy, a plugin, or it cannot send): what the
        history keeps. Another tenant's receivers are not listed; `explain` says why for any receiver."""
        access = await resolve_access(group.alerts, self._resolver, snapshot)
        for (_, namespace), error in access.failures.items():
            self._on_lookup_failure(namespace, error)
        filtering = self._host.has_route_filters
        rules = snapshot.rules
        selective = rules.selective
        in_force = rules.silences.at(self.clock())
        selectors = rules.alert_selectors
        chosen: dict[str, tuple[Target, list[Alert]]] = {}
        for index, alert in enumerate(group.alerts):
            if index and not index % YIELD_EVERY:
                await anyio.sleep(0)  # a group of 100,000 alerts must not stall the event loop
            matched = in_force.match(alert.labels) if selective else NOTHING
            targets = self._with_rules(alert, access, snapshot, matched) if selective else \
                self.entitled(alert, access, snapshot)
            if withheld is not None and selective:
                self._note_dropped_by_rules(alert, access, snapshot, matched, in_force.until, targets, withheld)
            muted = matched.tenants
            for target in targets:
                ref = target.receiver.ref
                selects = selectors.get(ref) if selectors else None
                if selects is not None and not selects(alert.labels):
                    if withheld is not None and ref not in withheld and target.receiver.alert_selector is not None:
                        withheld[ref] = not_selected(target.receiver.alert_selector.why_not(alert.labels))
                    continue
                if muted and target.tenant in muted:
                    if withheld is not None and ref not in withheld:
                        withheld[ref] = muted_for_tenant(muted[target.tenant], target.tenant, in_force.until)
                    continue
                if filtering and (veto := self._host.route_filter(alert, target.receiver, target.tenant)):
                    if withheld is not None and ref not in withheld:
                        withheld[ref] = filtered(veto)
                    continue
                chosen.setdefault(ref, (target, []))[1].append(alert)
        if withheld is not None:
            self._note_cannot_send(access, snapshot, withheld)
            for ref in chosen:
                withheld.pop(ref, None)
        settings = snapshot.settings
        return [
            Routed(target, Notification(
                receiver=ref, channel=target.channel, tenant=target.tenant, alerts=tuple(part),
                group_labels=labels, external_url=group.external_url, group_key=key,
            ))
            for ref, (target, alerts) in chosen.items()
            for labels, key, part in batches(alerts, group, settings.group_labels, settings.batch_max_size)
        ]

    def silenced_now(self, notification: Notification, snapshot: Snapshot) -> dict[str, str]:
        """Fingerprint → why, for the alerts of `notification` that a Silence in force now mutes for its receiver:
        checked again when a batch is released (nmcore.batching), since Alertmanager and the Go original mute when
        they send, after the wait, and a Silence made during a maintenance window must hold back what waits."""
        rules = snapshot.rules
        if not rules.silences.all:
            return {}
        in_force = rules.silences.at(self.clock())
        muted: dict[str, str] = {}
        for alert in notification.alerts:
            matched = in_force.match(alert.labels)
            if matched.everyone:
                muted[alert.fingerprint] = muted_globally(matched.everyone[0], in_force.until)
            elif notification.tenant and notification.tenant in matched.tenants:
                muted[alert.fingerprint] = muted_for_tenant(matched.tenants[notification.tenant], notification.tenant,
                                                            in_force.until)
        return muted

    def _with_rules(self, alert: Alert, access: Access, snapshot: Snapshot, matched: Matched) -> list[Target]:
        """Tenancy's receivers and the Routers', as routePolicy combines them; none when a global Silence mutes
        the alert."""
        if matched.everyone:
            return []
        policy = snapshot.rules.policy
        routed = [snapshot.targets[ref] for router in matched.routers for ref in router.receivers]
        if policy == "RouterOnly" or (routed and policy == "RouterFirst"):
            targets = routed
        else:
            targets = self.entitled(alert, access, snapshot) + routed
        return list({t.receiver.ref: t for t in targets}.values()) if routed else targets

    def _note_dropped_by_rules(self, alert: Alert, access: Access, snapshot: Snapshot, matched: Matched,
                               until: Mapping[str, float | None], targets: list[Target],
                               withheld: dict[str, str]) -> None:
        """Why the receivers tenancy or a Router chose for `alert` are not among `targets`: a global Silence, or
        the routePolicy."""
        routers = [r for r in matched.routers if r.receivers]
        reason = muted_globally(matched.everyone[0], until) if matched.everyone else dropped_by_policy(
            snapshot.rules.policy, routers)
        if reason is None:
            return  # tenancy's receivers and the Routers' all stay
        kept = {t.receiver.ref for t in targets}
        for target in self.entitled(alert, access, snapshot) + [snapshot.targets[ref] for r in routers
                                                               for ref in r.receivers]:
            if target.receiver.ref not in kept:
                withheld.setdefault(target.receiver.ref, reason)

    @staticmethod
    def _note_cannot_send(access: Access, snapshot: Snapshot, withheld: dict[str, str]) -> None:
        """The receivers that cannot send and that would have been chosen: global ones, and those of the users who
        can access a namespace of the group."""
        if not snapshot.skipped:
            return
        users = frozenset().union(*access.users.values())
        for receiver in snapshot.receivers:
            why = snapshot.skipped.get(receiver.ref)
            if why is not None and (receiver.scope == "global" or receiver.user in users):
                withheld.setdefault(receiver.ref, cannot_send(why))

    @staticmethod
    def entitled(alert: Alert, access: Access, snapshot: Snapshot) -> list[Target]:
        targets = list(snapshot.global_targets)
        if alert.namespace:
            for user in sorted(access.users.get(where(alert), ())):
                targets += snapshot.targets_for_user(user)
        return targets

    async def explain(self, alert: Alert, snapshot: Snapshot) -> dict:
        """For one alert: the receivers it goes to (with the config used, and the Routers that added them) and,
        for every other, every reason why not."""
        access = await resolve_access([alert], self._resolver, snapshot)
        rules = snapshot.rules
        in_force = rules.silences.at(self.clock())
        found = in_force.match(alert.labels)
        entitled = {t.receiver.ref for t in self.entitled(alert, access, snapshot)}
        matched = found.routers
        via: dict[str, list[str]] = {}
        for router in matched:
            for ref in router.receivers:
                via.setdefault(ref, []).append(router.name)
        policy = rules.policy
        everyone, tenants = found.everyone, found.tenants
        users = access.users.get(where(alert), frozenset())
        delivered, withheld = [], []
        for receiver in sorted(snapshot.receivers, key=lambda r: r.ref):
            target = snapshot.targets.get(receiver.ref)
            entry: dict[str, Any] = {"receiver": receiver.ref, "channel": target.channel if target else "",
                                     "tenant": receiver.user}
            if receiver.ref in via:
                entry["via_routers"] = via[receiver.ref]
            reasons = []
            if target is None:
                reasons.append(cannot_send(snapshot.skipped.get(receiver.ref, "not loaded")))
            else:
                reasons += self._not_chosen(alert, target, entitled, via, matched, policy, users, access)
                reasons += [muted_globally(s, in_force.until) for s in everyone]
                if target.tenant in tenants:
                    reasons.append(muted_for_tenant(tenants[target.tenant], target.tenant, in_force.until))
                selector = receiver.alert_selector
                if selector is not None and (failed := selector.why_not(alert.labels)):
                    reasons.append(not_selected(failed))
                if veto := self._host.route_filter(alert, receiver, target.tenant):
                    reasons.append(filtered(veto))
            if reasons:
                withheld.append({**entry, "reason": "; ".join(reasons), "reasons": reasons})
            else:
                assert target is not None
                by_tenancy = receiver.ref in entitled and not self._not_chosen(
                    alert, target, entitled, {}, matched, policy, users, access)
                ways = (["tenancy"] if by_tenancy else []) + [f"Router {name}" for name in via.get(receiver.ref, ())]
                delivered.append({**entry, "config": target.config.ref if target.config else None,
                                  "via": " and ".join(ways)})
        return {
            "alert": {"labels": dict(alert.labels), "status": alert.status},
            "namespace": alert.namespace or None,
            "namespace_users": sorted(users),
            "cluster": where(alert)[0] or None,
            "tenant_lookup_error": access.failures.get(where(alert)),
            "route_policy": policy,
            "routers_matched": sorted(r.name for r in matched),
            "batching": batching_note(alert, snapshot),
            "receivers": delivered,
            "not_receiving": withheld,
        }

    def _not_chosen(self, alert: Alert, target: Target, entitled: set[str], via: dict[str, list[str]],
                    matched: list[CompiledRouter], policy: str, users: frozenset[str], access: Access) -> list[str]:
        """Why neither tenancy nor a Router chose this receiver, or why routePolicy dropped it ([] if chosen)."""
        ref = target.receiver.ref
        if ref in via:
            return []
        if dropped := dropped_by_policy(policy, [r for r in matched if r.receivers]):
            return [dropped]
        if ref in entitled:
            return []
        return [self._not_entitled(alert, target.receiver.user, users, access)]

    def _not_entitled(self, alert: Alert, user: str, users: frozenset[str], access: Access) -> str:
        if not alert.namespace:
            return "the alert has no namespace label; only global receivers get it"
        if where(alert) in access.failures:
            return f"the users of namespace {alert.namespace} could not be resolved: {access.failures[where(alert)]}"
        who = ", ".join(sorted(users)) or "nobody"
        return (f"user {user!r} cannot access namespace {alert.namespace!r} "
                f"({self._resolver.name} resolver: it is accessible to {who})")


# Why a receiver does not get an alert, in the same words for `explain` (nm route) and for the history.

def cannot_send(why: str) -> str:
    return f"receiver cannot send: {why}"


def muted_globally(silence: Resource, until: Mapping[str, float | None]) -> str:
    return f"muted by Silence {silence.name} (global) {describe_until(until[silence.ref])}"


def muted_for_tenant(silence: Resource, tenant: str, until: Mapping[str, float | None]) -> str:
    return f"muted by Silence {silence.name} of tenant {tenant!r} {describe_until(until[silence.ref])}"


def not_selected(failed: str) -> str:
    """`failed`: the selector's own account of the term that failed (`LabelSelector.why_not`)."""
    return f"its alertSelector does not match: {failed}"


def filtered(veto: str) -> str:
    return f"filtered by a plugin: {veto}"


def dropped_by_policy(policy: str, routers: Sequence[CompiledRouter]) -> str | None:
    """Why routePolicy drops tenancy's receivers for an alert that `routers` (those naming receivers) matched,
    or None when it keeps them."""
    if policy == "RouterOnly":
        return ("routePolicy RouterOnly: only receivers a Router names get alerts, and no Router matching this "
                "alert names it")
    if policy == "RouterFirst" and routers:
        names = ", ".join(sorted(r.name for r in routers))
        return (f"routePolicy RouterFirst: Router {names} matched this alert, so only the receivers Routers name "
                "get it")
    return None


def batches(alerts: list[Alert], group: AlertGroup, group_labels: Sequence[str] | None,
            max_size: int) -> Iterator[tuple[Mapping[str, str], str, list[Alert]]]:
    """One receiver's alerts of a group as notifications: regrouped by the NotificationManager's `groupLabels`
    (their values, in the order given), each at most `batchMaxSize` alerts; (group labels, group key, alerts)."""
    if group_labels is None:
        parts: dict[tuple[str, ...], list[Alert]] = {(): alerts}
    else:
        parts = {}
        for alert in alerts:
            parts.setdefault(tuple(alert.labels.get(name, "") for name in group_labels), []).append(alert)
    for values, part in parts.items():
        labels = group.group_labels if group_labels is None else {
            name: value for name, value in zip(group_labels, values, strict=True) if value}
        key = group.group_key if group_labels is None else \
            f"{group.group_key}/{{{','.join(f'{k}={v!r}' for k, v in labels.items())}}}"
        size = max_size or len(part)
        for start in range(0, len(part), size):
            yield labels, key, part[start:start + size]


def batching_note(alert: Alert, snapshot: Snapshot) -> str | None:
    """How long each receiver holds this alert for more of its group (batchMaxWait, nmcore.batching), or None."""
    settings = snapshot.settings
    if settings.batch_max_wait <= 0:
        return None
    group = ("alerts with " + ", ".join(f"{name}={alert.labels.get(name, '')!r}" for name in settings.group_labels)
             if settings.group_labels is not None else "alerts of its Alertmanager group")
    size = f", or until {settings.batch_max_size} alerts wait (batchMaxSize)" if settings.batch_max_size else ""
    return (f"each receiver holds it up to {settings.batch_max_wait:g}s for more {group} (batchMaxWait of "
            f"{settings.source}){size}, then sends them as one notification")


def silences_report(snapshot: Snapshot, now: float) -> list[dict]:
    """Every Silence: whether it mutes now (and until when, or when it next starts) and whose receivers."""
    report = []
    active = snapshot.rules.silences.at(now)
    for silence in sorted(snapshot.silences, key=lambda s: s.name):
        state = silence_state(silence.spec, now)
        if silence.scope == "global":
            mutes = "every receiver"
        elif silence.scope == "tenant":
            refs = sorted(t.receiver.ref for t in snapshot.targets_for_user(silence.user))
            mutes = f"the receivers of tenant {silence.user!r}: {', '.join(refs) or 'none yet'}"
        else:
            mutes = "nothing (neither global nor a tenant's)"
        report.append({
            "silence": silence.name, "scope": silence.scope or None, "tenant": silence.user or None,
            "matcher": str(silence.spec.matcher), "active": silence.ref in active.until,
            "when": describe_until(state.until) if state.active else (
                "disabled" if not silence.spec.enabled else
                f"starts {describe_until(state.changes_at).removeprefix('until ')}" if state.changes_at != math.inf
                else "over"),
            "mutes": mutes,
        })
    return report


def routers_report(snapshot: Snapshot) -> list[dict]:
    """Every enabled Router: the alerts it takes and the receivers it adds."""
    return [{"router": r.name, "alert_selector": str(r.router.spec.alert_selector), "receivers": list(r.receivers)}
            for r in snapshot.rules.router_list]
