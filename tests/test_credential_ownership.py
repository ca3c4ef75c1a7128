"""Credentials stay with their owner: a tenant's objects use only that tenant's Secrets, global and default
objects only the administrator's. A Secret labelled `user: X` is X's; an unlabelled one is the administrator's when
a global or default object names it, else the one tenant's whose objects alone name it (the KubeSphere document's
layout), and nobody's when several tenants' objects name it. Anything else is a located problem, never sent.

The property test builds random worlds of Secrets (each labelled for a random tenant, or for none), receivers
and configs whose credentials name random Secrets, sends every receiver that can send through the real webhook
sender to a real HTTP sink, and reads what each request carried.
"""

import base64
import logging
from collections.abc import Iterator

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nmcore.alerts import Notification
from nmcore.builtins.webhook import WebhookSender
from nmcore.channel import ChannelContext
from nmcore.render import DefaultRenderer
from nmcore.requests import build_request
from nmcore.snapshot import Document, Snapshot, build_snapshot
from nmcore.testing import alert, plugin_host, snapshot_from_yaml
from tests.conftest import WebhookSink

NS = "kubesphere-monitoring-system"
GV = "notification.kubesphere.io/v1alpha1"
USERS = ["alice", "bob"]
SECRETS = 5
HOST = plugin_host()
RENDERER = DefaultRenderer()


CONTESTED = "contested"


def owners_by_rule(labelled: dict, claims: dict) -> dict:
    """Each Secret's owner by the rule above, written from its statement: a tenant, None (the administrator's),
    or CONTESTED."""
    owners = {}
    for secret, label in labelled.items():
        claimants = claims.get(secret, set())
        if label or None in claimants or not claimants:
            owners[secret] = label
        else:
            owners[secret] = next(iter(claimants)) if len(claimants) == 1 else CONTESTED
    return owners


def value_of(index: int) -> str:
    return f"value-of-secret-{index}"


@pytest.fixture(scope="module")
def shared_sink() -> Iterator[WebhookSink]:
    with WebhookSink() as server:
        yield server


def credentials(secret: int | None, kind: str) -> dict:
    if secret is None:
        return {}
    ref = {"valueFrom": {"secretKeyRef": {"name": f"s{secret}", "key": "v"}}}
    return {"httpConfig": {"bearerToken": ref} if kind == "bearer" else {"basicAuth": {"username": "u",
                                                                                       "password": ref}}}


owners = st.one_of(st.none(), st.sampled_from(USERS))
secret_choice = st.one_of(st.none(), st.integers(0, SECRETS - 1))
auth_kinds = st.sampled_from(["bearer", "basic"])


@st.composite
def worlds(draw: st.DrawFn, sink_url: str) -> tuple[list[Document], dict[int, str | None]]:
    secret_owner = {i: draw(owners) for i in range(SECRETS)}
    claims: dict[int, set[str | None]] = {}
    documents = []
    for i, owner in secret_owner.items():
        labels = {"app": "notification-manager"} | ({"user": owner} if owner else {})
        documents.append(Document(f"s{i}", {"apiVersion": "v1", "kind": "Secret",
                                            "metadata": {"name": f"s{i}", "labels": labels},
                                            "stringData": {"v": value_of(i)}}))
    for i in range(draw(st.integers(0, 3))):
        owner = draw(owners)
        labels = {"type": "tenant", "user": owner} if owner else {"type": draw(st.sampled_from(["default", "global"]))}
        secret = draw(secret_choice)
        claims.setdefault(secret, set()).add(owner)
        spec = {"url": f"{sink_url}/config-{i}", **credentials(secret, draw(auth_kinds))}
        documents.append(Document(f"c{i}", {"apiVersion": GV, "kind": "WebhookConfig",
                                            "metadata": {"name": f"c{i}", "labels": labels}, "spec": spec}))
    for i in range(draw(st.integers(1, 6))):
        owner = draw(owners)
        labels = {"type": "tenant", "user": owner} if owner else {"type": "global"}
        own_url = draw(st.booleans())
        spec = {"url": f"{sink_url}/receiver-{i}"} if own_url else {}
        secret = draw(secret_choice)
        claims.setdefault(secret, set()).add(owner)
        spec |= credentials(secret, draw(auth_kinds))
        documents.append(Document(f"r{i}", {"apiVersion": GV, "kind": "WebhookReceiver",
                                            "metadata": {"name": f"r{i}", "labels": labels}, "spec": spec}))
    return documents, owners_by_rule(secret_owner, claims)


def carried(headers: dict[str, str]) -> str:
    """The credential a request carried: the bearer token, or the password of its basic auth."""
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme == "Basic":
        return base64.b64decode(value).decode().partition(":")[2]
    return value


UNUSED_HTTPX = httpx.AsyncClient()
"""The webhook sender posts through aiohttp only; building an httpx client per example would cost 80 ms."""


async def send_all(snapshot: Snapshot) -> None:
    sender = WebhookSender(ChannelContext(http=UNUSED_HTTPX, logger=logging.getLogger("test")))  # its own session
    try:
        for ref, target in snapshot.targets.items():
            notification = Notification(receiver=ref, channel="webhook", tenant=target.tenant,
                                        alerts=(alert(namespace="ns"),))
            request, _ = build_request(snapshot, target, notification, RENDERER.render(notification))
            await sender.send(request)
    finally:
        await sender.aclose()


def sent(documents: list[Document], sink: WebhookSink) -> tuple[Snapshot, list[dict]]:
    """The snapshot of `documents`, and the requests the sink got when every receiver that can send did."""
    snapshot = build_snapshot(documents, HOST.channels)
    before = len(sink.received)
    anyio.run(send_all, snapshot)
    requests = sink.received[before:]
    assert len(requests) == len(snapshot.targets)
    return snapshot, requests


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_credential_goes_only_where_its_owner_sends(shared_sink: WebhookSink, data: st.DataObject) -> None:
    documents, secret_owner = data.draw(worlds(shared_sink.url("").rstrip("/")))
    snapshot, requests = sent(documents, shared_sink)

    for request in requests:
        target = snapshot.targets[request["body"]["receiver"]]
        value = carried(request["headers"])
        if not value:
            continue
        secret = next(i for i in range(SECRETS) if value == value_of(i))
        chooser = target.receiver if request["path"].startswith("/receiver-") else target.config
        assert chooser is not None
        chooser_owner = chooser.user if chooser.scope == "tenant" else None
        assert secret_owner[secret] == chooser_owner, (
            f"{target.receiver.ref} sent Secret s{secret} (owner {secret_owner[secret]}) to a URL chosen by "
            f"{chooser.ref} (owner {chooser_owner})")
        if target.receiver.scope == "tenant" and secret_owner[secret] is not None:
            assert secret_owner[secret] == target.receiver.user, "another tenant's Secret"

    for reason in snapshot.skipped.values():
        if "may use only Secrets" in reason or "nobody's until labelled" in reason:
            assert "@ $.spec.httpConfig." in reason, reason


def tenant_receiver_with(ref_name: str, secret_labels: str, also_named_by: str = "") -> str:
    """alice's receiver naming Secret `ref_name`; `also_named_by`: the labels of another receiver naming it."""
    other = f"""---
apiVersion: {GV}
kind: WebhookReceiver
metadata: {{name: other-hook, labels: {also_named_by}}}
spec:
  url: http://other.example/hook
  httpConfig: {{bearerToken: {{valueFrom: {{secretKeyRef: {{name: {ref_name}, key: token}}}}}}}}
""" if also_named_by else ""
    return other + f"""
---
apiVersion: v1
kind: Secret
metadata: {{name: {ref_name}, labels: {secret_labels}}}
stringData: {{token: the-token-value}}
---
apiVersion: {GV}
kind: WebhookReceiver
metadata: {{name: alice-hook, labels: {{type: tenant, user: alice}}}}
spec:
  url: http://alice.example/hook
  httpConfig: {{bearerToken: {{valueFrom: {{secretKeyRef: {{name: {ref_name}, key: token}}}}}}}}
"""


REF = f"WebhookReceiver/{NS}/alice-hook"


@pytest.mark.parametrize(("labels", "also_named_by", "why"), [
    ("{}", "{type: global}", "belongs to no tenant (a global or default object names it)"),
    ("{user: bob}", "", "belongs to tenant bob"),
    ("{}", "{type: tenant, user: bob}", "objects of tenants alice, bob name it: it is nobody's until labelled"),
])
def test_a_tenant_receiver_naming_a_secret_it_does_not_own_cannot_send(labels: str, also_named_by: str,
                                                                       why: str) -> None:
    snapshot = snapshot_from_yaml(tenant_receiver_with("ops-token", labels, also_named_by))
    assert REF not in snapshot.targets
    reason = snapshot.skipped[REF]
    assert why in reason, reason
    assert reason.endswith("@ $.spec.httpConfig.bearerToken"), reason
    assert [p.object for p in snapshot.problems if p.object == REF] == [REF, REF]  # located, and "will not send"


def test_an_unlabelled_secret_only_one_tenants_objects_name_is_that_tenants() -> None:
    """As the KubeSphere document writes it: test-user's config names an unlabelled Secret nobody else names."""
    snapshot = snapshot_from_yaml(tenant_receiver_with("alice-token", "{app: notification-manager}"))
    assert REF in snapshot.targets and snapshot.problems == ()


def test_a_tenant_receiver_uses_its_own_tenants_secret() -> None:
    snapshot = snapshot_from_yaml(tenant_receiver_with("alice-token", "{user: alice}"))
    assert REF in snapshot.targets and snapshot.problems == ()


def test_a_global_config_may_not_use_a_tenants_secret() -> None:
    snapshot = snapshot_from_yaml(f"""
apiVersion: v1
kind: Secret
metadata: {{name: bob-token, labels: {{user: bob}}}}
stringData: {{token: bobs}}
---
apiVersion: {GV}
kind: WebhookConfig
metadata: {{name: ops, labels: {{type: default}}}}
spec:
  url: http://ops.example/hook
  httpConfig: {{bearerToken: {{valueFrom: {{secretKeyRef: {{name: bob-token, key: token}}}}}}}}
---
apiVersion: {GV}
kind: WebhookReceiver
metadata: {{name: everyone, labels: {{type: global}}}}
spec: {{}}
""")
    reason = snapshot.skipped[f"WebhookReceiver/{NS}/everyone"]
    assert f"WebhookConfig/{NS}/ops" in reason and "belongs to tenant bob" in reason
    assert "@ $.spec.httpConfig.bearerToken" in reason


V2 = "notification.kubesphere.io/v2beta2"
NAMESPACES = [NS, "team-a", "team-b"]


@st.composite
def v2_worlds(draw: st.DrawFn, sink_url: str) -> tuple[list[Document], dict[tuple[str, int], str | None]]:
    """v2beta2 Receivers, each with its own URL and a credential naming a random Secret in any namespace (a
    v2beta2 Credential may): the owner label, not the namespace, decides who may use it."""
    secret_owner = {(ns, i): draw(owners) for ns in NAMESPACES for i in range(2)}
    documents = [Document(f"{ns}/s{i}", {"apiVersion": "v1", "kind": "Secret",
                                         "metadata": {"name": f"s{i}", "namespace": ns,
                                                      "labels": {"user": owner} if owner else {}},
                                         "stringData": {"v": f"value-of-{ns}-{i}"}})
                 for (ns, i), owner in secret_owner.items()]
    claims: dict[tuple[str, int], set[str | None]] = {}
    for r in range(draw(st.integers(1, 5))):
        owner = draw(owners)
        ns, i = draw(st.sampled_from(sorted(secret_owner)))
        claims.setdefault((ns, i), set()).add(owner)
        ref = {"valueFrom": {"secretKeyRef": {"namespace": ns, "name": f"s{i}", "key": "v"}}}
        labels = {"type": "tenant", "user": owner} if owner else {"type": "global"}
        documents.append(Document(f"r{r}", {"apiVersion": V2, "kind": "Receiver",
                                            "metadata": {"name": f"r{r}", "labels": labels},
                                            "spec": {"webhook": {"url": f"{sink_url}/receiver-{r}",
                                                                 "httpConfig": {"bearerToken": ref}}}}))
    return documents, owners_by_rule(secret_owner, claims)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_v2beta2_credential_in_any_namespace_goes_only_where_its_owner_sends(shared_sink: WebhookSink,
                                                                                data: st.DataObject) -> None:
    documents, secret_owner = data.draw(v2_worlds(shared_sink.url("").rstrip("/")))
    snapshot, requests = sent(documents, shared_sink)
    owner_of_value = {f"value-of-{ns}-{i}": owner for (ns, i), owner in secret_owner.items()}
    for request in requests:
        receiver = snapshot.targets[request["body"]["receiver"]].receiver
        value = carried(request["headers"])
        assert value in owner_of_value, "every receiver here sends with its credential"
        assert owner_of_value[value] == (receiver.user if receiver.scope == "tenant" else None), (
            f"{receiver.ref} (owner {receiver.user or 'none'}) sent a Secret of {owner_of_value[value] or 'no one'}")
    for ref, reason in snapshot.skipped.items():
        assert ("may use only Secrets" in reason or "nobody's until labelled" in reason) \
            and reason.endswith("@ $.spec.httpConfig.bearerToken"), (ref, reason)
