"""Tenant isolation, proved over random worlds: users, namespaces, RoleBindings, receivers, configs and alerts.

- a tenant receiver never gets an alert from a namespace its user cannot access;
- global receivers get every alert, including alerts without a namespace;
- every entitled receiver gets each alert exactly once, in one notification per group;
- a receiver never sends with another tenant's config, whatever its selector says.
"""

from collections import Counter

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from nmcore.alerts import Alert, AlertGroup, fingerprint_of
from nmcore.builtins.tenants import NamespaceResolver, RbacResolver
from nmcore.errors import TenantLookupError
from nmcore.routing import Router
from nmcore.snapshot import Document, Snapshot, build_snapshot
from nmcore.testing import plugin_host

USERS = [f"user{i}" for i in range(4)] + ["ns1", "ns2"]  # some users named like namespaces
NAMESPACES = [f"ns{i}" for i in range(5)]
HOST = plugin_host()
GV = "notification.kubesphere.io/v1alpha1"


def rolebinding(namespace: str, users: list[str], index: int) -> Document:
    subjects = [{"kind": "User", "name": u} for u in users] + [{"kind": "Group", "name": "system:authenticated"}]
    return Document(f"rb{index}", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": f"rb{index}", "namespace": namespace},
        "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": subjects,
    })


def receiver(index: int, owner: str | None, selector: dict | None) -> Document:
    labels = {"type": "global"} if owner is None else {"type": "tenant", "user": owner}
    spec: dict = {"webhookConfigSelector": selector} if selector else {}
    return Document(f"r{index}", {"apiVersion": GV, "kind": "WebhookReceiver",
                                  "metadata": {"name": f"r{index}", "labels": labels}, "spec": spec})


def config(index: int, labels: dict) -> Document:
    return Document(f"c{index}", {"apiVersion": GV, "kind": "WebhookConfig",
                                  "metadata": {"name": f"c{index}", "labels": labels},
                                  "spec": {"url": f"http://sink/c{index}"}})


owners = st.one_of(st.none(), st.sampled_from(USERS))
config_labels = st.one_of(
    st.just({"type": "default"}),
    st.builds(lambda u, team: {"type": "tenant", "user": u, "team": team}, st.sampled_from(USERS), st.sampled_from("ab")),
    st.builds(lambda team: {"team": team}, st.sampled_from("ab")),
    st.just({"type": "global"}),
)
selectors = st.one_of(
    st.none(),
    st.builds(lambda team: {"matchLabels": {"team": team}}, st.sampled_from("ab")),
    st.builds(lambda u: {"matchLabels": {"type": "tenant", "user": u}}, st.sampled_from(USERS)),
    st.just({"matchExpressions": [{"key": "type", "operator": "Exists"}]}),
    st.just({"matchExpressions": [{"key": "user", "operator": "NotIn", "values": ["user0"]}]}),
)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Snapshot, dict[str, frozenset[str]], AlertGroup]:
    access = {ns: frozenset(draw(st.sets(st.sampled_from(USERS)))) for ns in NAMESPACES}
    documents = [rolebinding(ns, sorted(users), i) for i, (ns, users) in enumerate(access.items())]
    if draw(st.booleans()):  # sometimes also a second binding in a namespace: access is the union
        ns, extra = draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(USERS))
        documents.append(rolebinding(ns, [extra], 99))
        access[ns] = access[ns] | {extra}
    documents += [config(i, labels) for i, labels in enumerate(draw(st.lists(config_labels, max_size=6)))]
    documents += [receiver(i, owner, sel) for i, (owner, sel) in
                  enumerate(draw(st.lists(st.tuples(owners, selectors), min_size=1, max_size=12)))]
    alerts = []
    for i, (namespace, status) in enumerate(draw(st.lists(
            st.tuples(st.one_of(st.none(), st.sampled_from([*NAMESPACES, "nobody-ns"])),
                      st.sampled_from(["firing", "resolved"])), min_size=1, max_size=15))):
        labels = {"alertname": f"A{i}"} | ({"namespace": namespace} if namespace else {})
        alerts.append(Alert(status=status, labels=labels, fingerprint=fingerprint_of(labels)))  # type: ignore[arg-type]
    snapshot = build_snapshot(documents, HOST.channels)
    return snapshot, access, AlertGroup(alerts=tuple(alerts))


def route(snapshot: Snapshot, group: AlertGroup, resolver: object = RbacResolver()) -> dict[str, list[Alert]]:
    routed = anyio.run(Router(HOST, resolver).route, group, snapshot)  # type: ignore[arg-type]
    refs = [r.notification.receiver for r in routed]
    assert len(refs) == len(set(refs)), "one notification per receiver per group"
    assert all(r.notification.alerts for r in routed), "no empty notifications"
    return {r.notification.receiver: list(r.notification.alerts) for r in routed}


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_tenant_receivers_only_get_alerts_their_user_can_access(world: tuple) -> None:
    snapshot, access, group = world
    for ref, alerts in route(snapshot, group).items():
        target = snapshot.targets[ref]
        if target.receiver.scope == "tenant":
            user = target.receiver.user
            assert all(a.namespace and user in access.get(a.namespace, ()) for a in alerts), (ref, alerts)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_every_entitled_receiver_gets_each_alert_exactly_once(world: tuple) -> None:
    snapshot, access, group = world
    delivered = route(snapshot, group)
    for ref, target in snapshot.targets.items():
        counts = Counter(a.fingerprint for a in delivered.get(ref, []))
        for alert in group.alerts:
            entitled = target.receiver.scope == "global" or (
                alert.namespace != "" and target.receiver.user in access.get(alert.namespace, ()))
            assert counts[alert.fingerprint] == (1 if entitled else 0), (ref, alert.labels)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_no_receiver_sends_with_another_tenants_config(world: tuple) -> None:
    snapshot, _, _ = world
    for target in snapshot.targets.values():
        if target.config is None:
            continue
        if target.receiver.scope == "tenant":
            assert target.config.scope == "default" or (
                target.config.scope == "tenant" and target.config.user == target.receiver.user)
        else:
            assert target.config.scope != "tenant"


class FailingResolver:
    name = "failing"

    async def users(self, namespace: str, snapshot: Snapshot) -> frozenset[str]:
        raise TenantLookupError("tenant API unreachable")


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_when_tenants_cannot_be_resolved_only_global_receivers_get_alerts(world: tuple) -> None:
    snapshot, _, group = world
    for ref, alerts in route(snapshot, group, FailingResolver()).items():
        assert snapshot.targets[ref].receiver.scope == "global"
        assert len(alerts) == len(group.alerts)


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_namespace_resolver_treats_the_namespace_as_the_tenant(world: tuple) -> None:
    snapshot, _, group = world
    delivered = route(snapshot, group, NamespaceResolver())
    for ref, target in snapshot.targets.items():
        if target.receiver.scope == "tenant":
            expected = [a.fingerprint for a in group.alerts if a.namespace == target.receiver.user]
            assert [a.fingerprint for a in delivered.get(ref, [])] == expected
