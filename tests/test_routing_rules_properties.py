"""Selectors, Routers and Silences over random worlds (the tenancy worlds of test_routing_properties):

- label selectors mean what the Kubernetes definition says (a reference written from it, not from the code),
  and the index that finds selectors by label value finds exactly those a scan would;
- Routers are the only way an alert reaches a tenant receiver whose user cannot access its namespace;
- tenant Silences never widen what is delivered, and mute only their own tenant's receivers.
"""

import re
from collections.abc import Mapping

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from nmcore.alerts import AlertGroup
from nmcore.builtins.tenants import RbacResolver
from nmcore.resources import LabelSelectorRequirement
from nmcore.routing import Router
from nmcore.rules import SelectorIndex
from nmcore.schema import structure
from nmcore.snapshot import Document, Snapshot, build_snapshot
from nmcore.v2beta2 import LabelSelector
from nmcore.v2beta2 import LabelSelectorRequirement as MatchRequirement
from tests.test_routing_properties import HOST, NAMESPACES, USERS, V2, can_access, worlds

KEYS = ["a", "b", "c"]
VALUES = ["", "x", "y", "z", "xx", "Xy"]
REGEXES = ["x", "x|y", ".*", "", "[xy]+", "(x)\\1", "(?i)x.*", "(?P<a>y)", "z?"]
"""The original's Match: some match the empty value (a missing label), one has a back-reference, one a flag."""
label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
requirements = st.one_of(
    st.builds(lambda k, op, vs: LabelSelectorRequirement(key=k, operator=op, values=tuple(vs)),
              st.sampled_from(KEYS), st.sampled_from(["In", "NotIn"]),
              st.lists(st.sampled_from(VALUES), min_size=1, max_size=3)),
    st.builds(lambda k, op: LabelSelectorRequirement(key=k, operator=op), st.sampled_from(KEYS),
              st.sampled_from(["Exists", "DoesNotExist"])),
    st.builds(lambda k, regex: MatchRequirement(key=k, operator="Match", regex_value=regex), st.sampled_from(KEYS),
              st.sampled_from(REGEXES)),
)
label_selectors = st.builds(lambda labels, expressions: LabelSelector(match_labels=labels,
                                                                      match_expressions=tuple(expressions)),
                            label_sets, st.lists(requirements, max_size=3))


def reference(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes' definition (apimachinery labels.Selector), plus the original's Match, anchored: matchLabels `k: v` is `k In (v)`; the requirements
    are ANDed; In: the label exists and its value is one of the values; NotIn: the label does not exist or its
    value is none of them; Exists / DoesNotExist: the key is / is not a label; an empty selector matches all."""
    terms = [(k, "In", (v,), "") for k, v in selector.match_labels.items()] + [
        (e.key, e.operator, e.values, getattr(e, "regex_value", "")) for e in selector.match_expressions]
    for key, operator, values, regex in terms:
        has = key in labels
        ok = {"In": has and labels.get(key) in values, "NotIn": not has or labels.get(key) not in values,
              "Exists": has, "DoesNotExist": not has,
              # nmcore's Match: the whole value (a missing label is ""), as Alertmanager's =~
              "Match": re.fullmatch(regex, labels.get(key, "")) is not None}[operator]
        if not ok:
            return False
    return True


@settings(max_examples=500, deadline=None)
@given(label_selectors, label_sets)
def test_selectors_follow_the_kubernetes_definition(selector: LabelSelector, labels: dict[str, str]) -> None:
    assert selector.matches(labels) == reference(selector, labels)
    assert (selector.why_not(labels) == "") == reference(selector, labels)


@settings(max_examples=300, deadline=None)
@given(st.lists(label_selectors, max_size=12), label_sets)
def test_the_selector_index_finds_what_a_scan_finds(selectors: list[LabelSelector], labels: dict[str, str]) -> None:
    index = SelectorIndex((s, i) for i, s in enumerate(selectors))
    assert sorted(index.matching(labels)) == [i for i, s in enumerate(selectors) if reference(s, labels)]


def router(index: int, alert_selector: dict, receivers: dict) -> Document:
    return Document(f"router{index}", {"apiVersion": V2, "kind": "Router", "metadata": {"name": f"router{index}"},
                                       "spec": {"alertSelector": alert_selector, "receivers": receivers}})


def silence(index: int, owner: str | None, matcher: dict) -> Document:
    labels = {"type": "global"} if owner is None else {"type": "tenant", "user": owner}
    return Document(f"silence{index}", {"apiVersion": V2, "kind": "Silence",
                                        "metadata": {"name": f"silence{index}", "labels": labels},
                                        "spec": {"matcher": matcher}})


alert_selectors = st.one_of(
    st.just({}),
    st.builds(lambda ns: {"matchLabels": {"namespace": ns}}, st.sampled_from(NAMESPACES)),
    st.builds(lambda ns: {"matchExpressions": [{"key": "namespace", "operator": "NotIn", "values": [ns]}]},
              st.sampled_from(NAMESPACES)),
    st.builds(lambda i: {"matchExpressions": [{"key": "alertname", "operator": "Match", "regexValue": f"A{i}.*"}]},
              st.integers(0, 9)),
)
named = st.one_of(
    st.builds(lambda i: {"name": [f"r{i}"]}, st.integers(0, 11)),
    st.builds(lambda i: {"regexName": f"r{i}"}, st.integers(0, 11)),
    st.builds(lambda u: {"channels": [{"tenant": u}]}, st.sampled_from(USERS)),
    st.builds(lambda u: {"channels": [{"tenant": u, "type": ["EMAIL"]}]}, st.sampled_from(USERS)),
)


def with_extra(snapshot: Snapshot, extra: list[Document]) -> Snapshot:
    return build_snapshot([*snapshot.documents.values(), *extra], HOST.channels)


def delivered(snapshot: Snapshot, group: AlertGroup) -> set[tuple[str, str]]:
    routed = anyio.run(Router(HOST, RbacResolver()).route, group, snapshot)
    return {(r.notification.receiver, a.fingerprint) for r in routed for a in r.notification.alerts}


def selects(written: dict, labels: Mapping[str, str]) -> bool:
    return structure(written, LabelSelector).matches(labels)


def names(spec: dict, receiver: object, tenant: str) -> bool:
    """The model of what a Router's receivers field names (written from the documentation)."""
    name, channel = receiver.name, receiver.block or "webhook"  # type: ignore[attr-defined]
    if "name" in spec or "regexName" in spec:
        return name in spec.get("name", []) or name == spec.get("regexName")
    return any(c["tenant"] == tenant and (not c.get("type") or channel in [t.lower() for t in c["type"]])
               for c in spec["channels"])


@settings(max_examples=200, deadline=None)
@given(worlds(), st.lists(st.tuples(alert_selectors, named), max_size=4),
       st.sampled_from(["All", "RouterFirst", "RouterOnly"]))
def test_routers_are_the_only_way_an_alert_crosses_tenants(world: tuple, routers: list, policy: str) -> None:
    snapshot, access, group = world
    documents = [router(i, sel, rcv) for i, (sel, rcv) in enumerate(routers)]
    if policy != "All":
        documents.append(Document("nm-policy", {"apiVersion": V2, "kind": "NotificationManager",
                                                "metadata": {"name": "a-policy"}, "spec": {"routePolicy": policy}}))
    snapshot = with_extra(snapshot, documents)
    alerts = {a.fingerprint: a for a in group.alerts}
    for ref, fingerprint in delivered(snapshot, group):
        target, alert = snapshot.targets[ref], alerts[fingerprint]
        by_router = any(names(rcv, target.receiver, target.tenant) and selects(sel, alert.labels)
                        for sel, rcv in routers)
        if target.tenant and not can_access(access, target.tenant, alert.namespace):
            assert by_router, (ref, alert.labels, routers)
        if policy == "RouterOnly":
            assert by_router, (ref, alert.labels, routers)


@settings(max_examples=200, deadline=None)
@given(worlds(), st.lists(st.tuples(st.sampled_from(USERS), alert_selectors), min_size=1, max_size=4))
def test_tenant_silences_never_widen_nor_cross_tenants(world: tuple, silences: list) -> None:
    snapshot, _, group = world
    before = delivered(snapshot, group)
    after = delivered(with_extra(snapshot, [silence(i, user, m) for i, (user, m) in enumerate(silences)]), group)
    assert after <= before
    alerts = {a.fingerprint: a for a in group.alerts}
    for ref, fingerprint in before - after:
        target = snapshot.targets[ref]
        assert target.tenant, f"a tenant silence muted global receiver {ref}"
        assert any(user == target.tenant and selects(m, alerts[fingerprint].labels) for user, m in silences), \
            f"{ref} of tenant {target.tenant!r} muted by no silence of its own tenant"


@settings(max_examples=200, deadline=None)
@given(worlds(), st.lists(st.tuples(st.sampled_from([None, *USERS]), alert_selectors), min_size=1, max_size=4))
def test_a_batch_going_meets_the_silences_as_its_alerts_would_have_on_arrival(world: tuple, silences: list) -> None:
    """A Silence that began while a batch waited mutes in it (`Router.silenced_now`, as it goes) exactly what it
    would have held back had it been there when the alerts arrived: so a tenant's still never crosses tenants."""
    snapshot, _, group = world
    router = Router(HOST, RbacResolver())
    waiting = anyio.run(router.route, group, snapshot)
    silenced = with_extra(snapshot, [silence(i, user, m) for i, (user, m) in enumerate(silences)])
    after = delivered(silenced, group)
    for routed in waiting:
        muted = router.silenced_now(routed.notification, silenced)
        for alert in routed.notification.alerts:
            assert (alert.fingerprint in muted) == ((routed.notification.receiver, alert.fingerprint) not in after), \
                (routed.notification.receiver, alert.labels, silences)
