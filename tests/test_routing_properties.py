"""Tenant isolation, proved over random worlds: users, namespaces, RoleBindings and ClusterRoleBindings, receivers,
configs and alerts, in
v1alpha1, in v2beta2 (with or without a NotificationManager naming another tenantKey), and both mixed.

- a tenant receiver never gets an alert from a namespace its user cannot access;
- global receivers get every alert, including alerts without a namespace;
- every entitled receiver gets each alert exactly once, in one notification per group;
- a receiver never sends with another tenant's config, whatever its selector says.
"""

from collections import Counter

import anyio
import nm_email
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
HOST = plugin_host([nm_email])
GV = "notification.kubesphere.io/v1alpha1"
V2 = "notification.kubesphere.io/v2beta2"


def rolebinding(namespace: str, users: list[str], index: int) -> Document:
    subjects = [{"kind": "User", "name": u} for u in users] + [{"kind": "Group", "name": "system:authenticated"}]
    return Document(f"rb{index}", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": f"rb{index}", "namespace": namespace},
        "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": subjects,
    })


def clusterrolebinding(users: list[str]) -> Document:
    return Document("crb", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "User", "name": u} for u in users] + [{"kind": "ServiceAccount", "name": "sa"}],
    })


def can_access(access: dict[str, frozenset[str]], user: str, namespace: str) -> bool:
    """The model: a RoleBinding in the namespace, or a ClusterRoleBinding (under the key "*"), names the user."""
    return bool(namespace) and (user in access.get(namespace, ()) or user in access.get("*", ()))


def receiver(index: int, owner: str | None, selector: dict | None, v2: bool = False, other: str = "user0",
             tenant_key: str = "user") -> Document:
    """A tenant's (or a global) receiver; in v2beta2 it also carries a label naming `other`, which is the owner only
    when the NotificationManager's tenantKey is that label."""
    labels = {"type": "global"} if owner is None else {"type": "tenant", "user": owner}
    if not v2:
        spec: dict = {"webhookConfigSelector": selector} if selector else {}
        return Document(f"r{index}", {"apiVersion": GV, "kind": "WebhookReceiver",
                                      "metadata": {"name": f"r{index}", "labels": labels}, "spec": spec})
    if owner is not None:
        labels = {"type": "tenant", "user": owner, "owner": other} if tenant_key == "user" else {
            "type": "tenant", "owner": owner, "user": other}
    email: dict = {"to": [f"r{index}@example.com"]} | ({"emailConfigSelector": selector} if selector else {})
    blocks = {"email": email, "webhook": {"url": f"http://sink/r{index}"}} if index % 2 else {"email": email}
    return Document(f"v2r{index}", {"apiVersion": V2, "kind": "Receiver",
                                    "metadata": {"name": f"r{index}", "labels": labels}, "spec": blocks})


def config(index: int, labels: dict, v2: bool = False) -> Document:
    if v2:
        return Document(f"v2c{index}", {"apiVersion": V2, "kind": "Config",
                                        "metadata": {"name": f"c{index}", "labels": labels},
                                        "spec": {"email": {"from": f"c{index}@example.com",
                                                           "smartHost": {"host": "127.0.0.1", "port": 25}}}})
    return Document(f"c{index}", {"apiVersion": GV, "kind": "WebhookConfig",
                                  "metadata": {"name": f"c{index}", "labels": labels},
                                  "spec": {"url": f"http://sink/c{index}"}})


def notification_manager(tenant_key: str) -> Document:
    return Document("nm", {"apiVersion": V2, "kind": "NotificationManager", "metadata": {"name": "nm"},
                           "spec": {"receivers": {"tenantKey": tenant_key,
                                                  "globalReceiverSelector": {"matchLabels": {"type": "global"}},
                                                  "tenantReceiverSelector": {"matchLabels": {"type": "tenant"}}}}})


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


VERSIONS = st.sampled_from(["v1alpha1", "v2beta2", "mixed"])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Snapshot, dict[str, frozenset[str]], AlertGroup]:
    version = draw(VERSIONS)
    tenant_key = draw(st.sampled_from(["user", "owner"])) if version != "v1alpha1" else "user"

    def v2() -> bool:
        return version == "v2beta2" or (version == "mixed" and draw(st.booleans()))

    access = {ns: frozenset(draw(st.sets(st.sampled_from(USERS)))) for ns in NAMESPACES}
    documents = [rolebinding(ns, sorted(users), i) for i, (ns, users) in enumerate(access.items())]
    if draw(st.booleans()):  # sometimes also a second binding in a namespace: access is the union
        ns, extra = draw(st.sampled_from(NAMESPACES)), draw(st.sampled_from(USERS))
        documents.append(rolebinding(ns, [extra], 99))
        access[ns] = access[ns] | {extra}
    if everywhere := draw(st.sets(st.sampled_from(USERS), max_size=2)):  # cluster-wide access for some
        documents.append(clusterrolebinding(sorted(everywhere)))
        access["*"] = frozenset(everywhere)
    if tenant_key != "user" or (version != "v1alpha1" and draw(st.booleans())):
        documents.append(notification_manager(tenant_key))
    for i, labels in enumerate(draw(st.lists(config_labels, max_size=6))):
        in_v2 = v2()
        if in_v2 and tenant_key == "owner" and labels.get("type") == "tenant":
            labels = {**labels, "owner": labels["user"], "user": draw(st.sampled_from(USERS))}
        documents.append(config(i, labels, in_v2))
    documents += [receiver(i, owner, sel, v2(), draw(st.sampled_from(USERS)), tenant_key) for i, (owner, sel) in
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
    tenant_key = snapshot.settings.tenant_key
    for ref, alerts in route(snapshot, group).items():
        target = snapshot.targets[ref]
        labels = target.receiver.labels
        if labels.get("type") == "tenant":
            user = labels["user"] if not target.receiver.block else labels[tenant_key]  # from the labels themselves
            assert target.receiver.user == user
            assert all(can_access(access, user, a.namespace) for a in alerts), (ref, alerts)
        else:
            assert target.receiver.scope == "global"


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_every_entitled_receiver_gets_each_alert_exactly_once(world: tuple) -> None:
    snapshot, access, group = world
    delivered = route(snapshot, group)
    for ref, target in snapshot.targets.items():
        counts = Counter(a.fingerprint for a in delivered.get(ref, []))
        for alert in group.alerts:
            entitled = target.receiver.scope == "global" or can_access(access, target.receiver.user, alert.namespace)
            assert counts[alert.fingerprint] == (1 if entitled else 0), (ref, alert.labels)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_no_receiver_sends_with_another_tenants_config(world: tuple) -> None:
    snapshot, _, _ = world
    key = snapshot.settings.tenant_key

    def owner(resource: object) -> str:  # from the labels themselves: v1alpha1 `user`, v2beta2 the tenantKey
        labels = resource.labels  # type: ignore[attr-defined]
        return labels.get("user" if not resource.block else key, "")  # type: ignore[attr-defined]

    for target in snapshot.targets.values():
        if target.config is None:
            continue
        assert bool(target.config.block) == bool(target.receiver.block), "a version's receivers, its configs"
        if target.receiver.scope == "tenant":
            assert target.config.scope == "default" or (
                target.config.scope == "tenant" and owner(target.config) == owner(target.receiver))
        else:
            assert target.config.scope != "tenant"


class FailingResolver:
    name = "failing"

    async def users(self, namespace: str, snapshot: Snapshot, cluster: str = "") -> frozenset[str]:
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
