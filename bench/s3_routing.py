"""S3 routing cost: time per routed alert with few vs many receivers (Router.route on in-memory snapshots).

Each snapshot has N tenants (a RoleBinding and a webhook receiver each) plus a global receiver; groups of 100
alerts spread over the namespaces are routed with the rbac resolver. Routing looks receivers up by tenant, so
the cost per alert should not grow with N. Runs in this process: there is no sink and no network.
"""

import time
from dataclasses import dataclass

import anyio

from bench.report import Count, Outcome, Row, ratio
from bench.workload import webhook_body


@dataclass(frozen=True)
class Size:
    small: int
    large: int
    alerts: int
    repeats: int = 5


SIZES = {"full": Size(100, 10_000, 20_000), "quick": Size(100, 10_000, 5_000, repeats=3),
         "tiny": Size(10, 100, 400, repeats=1)}
GOAL = 2.0
GROUP = 100


def snapshot_of(receivers: int):  # -> nmcore.snapshot.Snapshot
    from nmcore.snapshot import Document, build_snapshot
    from nmcore.testing import plugin_host

    api = "notification.kubesphere.io/v1alpha1"
    meta = {"namespace": "kubesphere-monitoring-system"}
    documents = [Document("global", {"apiVersion": api, "kind": "WebhookReceiver", "metadata": {
        **meta, "name": "global", "labels": {"type": "global"}}, "spec": {"url": "http://127.0.0.1:9/global"}})]
    for i in range(receivers):
        documents += [
            Document(f"rb{i}", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                                "metadata": {"name": f"u{i}-admin", "namespace": f"ns{i}"},
                                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                            "name": "admin"},
                                "subjects": [{"kind": "User", "name": f"u{i}"}]}),
            Document(f"r{i}", {"apiVersion": api, "kind": "WebhookReceiver", "metadata": {
                **meta, "name": f"u{i}", "labels": {"type": "tenant", "user": f"u{i}"}},
                "spec": {"url": f"http://127.0.0.1:9/t/u{i}"}}),
        ]
    snapshot = build_snapshot(documents, plugin_host().channels)
    assert len(snapshot.targets) == receivers + 1, snapshot.problems[:3]
    return snapshot


def groups_for(namespaces: int, alerts: int):  # -> list[AlertGroup]
    from nmcore.ingest import parse_payload

    return [parse_payload(webhook_body(batch, namespaces)).group for batch in _batches(alerts)]


def _batches(alerts: int) -> list[list[int]]:
    return [list(range(start, min(alerts, start + GROUP))) for start in range(0, alerts, GROUP)]


def expected_notifications(receivers: int, alerts: int) -> int:
    """Per group: one for the global receiver and one per distinct namespace (tenant) in it."""
    return sum(1 + len({n % receivers for n in batch}) for batch in _batches(alerts))


async def _route_all(receivers: int, size: Size) -> tuple[float, int]:
    """Best seconds per alert over `repeats` passes, and the notifications one pass made."""
    from nmcore.builtins.tenants import RbacResolver
    from nmcore.routing import Router
    from nmcore.testing import plugin_host

    snapshot = snapshot_of(receivers)
    groups = groups_for(receivers, size.alerts)
    router = Router(plugin_host(), RbacResolver())
    best, notifications = float("inf"), 0
    for _ in range(size.repeats):
        started = time.perf_counter()
        notifications = 0
        for group in groups:
            notifications += len(await router.route(group, snapshot))
        best = min(best, (time.perf_counter() - started) / size.alerts)
    return best, notifications


def run(size_name: str = "full") -> Outcome:
    size = SIZES[size_name]
    outcome = Outcome("S3 routing")
    small, small_made = anyio.run(_route_all, size.small, size)
    large, large_made = anyio.run(_route_all, size.large, size)
    for receivers, made in ((size.small, small_made), (size.large, large_made)):
        outcome.counts.append(Count(f"{receivers:,} receivers (notifications routed)",
                                    expected_notifications(receivers, size.alerts), made))
    outcome.rows.append(Row(
        "S3 routing, µs per alert", f"{large * 1e6:.1f} µs at {size.large:,} receivers",
        f"{small * 1e6:.1f} µs at {size.small:,} receivers (itself)", ratio(large, small),
        f"{size.large:,} ≤ 2x the {size.small:,} case", large <= GOAL * small))
    outcome.notes.append(
        f"{size.alerts:,} alerts in groups of {GROUP} (alert n in namespace n mod N: a group makes one notification "
        f"per namespace in it and one global), best of {size.repeats} passes; Router.route with the rbac resolver "
        "on a snapshot built in memory.")
    return outcome
