"""The generated CRDs: structural, accepting every seed manifest, rejecting broken ones, and up to date in deploy/."""

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NewType

import attrs
import jsonschema
import pytest
import yaml
from crd_schema import structural_violations, to_json_schema
from fake_apiserver import FakeApiServer
from kube_helpers import NS, seed_objects
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiException, CustomObjectsApi

from nmcore.kube.crds import crd_for, openapi_schema, render_crds, stale_crds, write_crds
from nmcore.plugins import PluginHost
from nmcore.testing import plugin_host

ROOT = Path(__file__).parents[2]
DEPLOYED = ROOT / "deploy" / "crds"
INSTALLED = PluginHost().channels  # what `nm crds` sees here: the built-ins and the installed plugins


def crds_by_kind(channels=INSTALLED) -> dict[str, dict[str, Any]]:
    crds = [yaml.safe_load(text) for text in render_crds(channels).values()]
    return {c["spec"]["names"]["kind"]: c for c in crds}


def schema_of(crd: Mapping[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def problems(kind: str, obj: Mapping[str, Any]) -> list[str]:
    checker = jsonschema.Draft202012Validator(to_json_schema(schema_of(crds_by_kind()[kind])))
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in checker.iter_errors(obj)]


def seed_manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every custom resource of the examples (the seed document verbatim, the quickstart), by file."""
    sources = {path.name: list(yaml.safe_load_all(path.read_text()))
               for path in sorted((ROOT / "examples").rglob("*.yaml"))}
    sources["kube_helpers.SEED"] = seed_objects()
    return [(f"{name}:{d['metadata']['name']}", d) for name, docs in sources.items() for d in docs
            if d and d.get("apiVersion", "").startswith("notification.kubesphere.io/")]


V2_KINDS = {"Config", "Receiver", "NotificationManager", "Router", "Silence"}
ORIGINAL = json.loads((ROOT / "tests" / "data" / "original" / "crds.json").read_text())["crds"]


def test_every_kind_of_every_installed_channel_gets_a_structural_crd():
    crds = crds_by_kind()
    assert {k for c in INSTALLED.values() for k in (c.spec.config_kind, c.spec.receiver_kind)} | V2_KINDS == set(crds)
    for kind, crd in crds.items():
        if kind in V2_KINDS:
            assert list(structural_violations(schema_of(crd))) == [], kind
            continue
        assert crd["metadata"]["name"] == f"{kind.lower()}s.notification.kubesphere.io"
        assert crd["spec"]["scope"] == "Namespaced"
        [version] = crd["spec"]["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        assert list(structural_violations(schema_of(crd))) == [], kind


@pytest.mark.parametrize(("where", "manifest"), seed_manifests(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_schemas_accept_every_seed_manifest(where: str, manifest: dict[str, Any]):
    if manifest["kind"] not in crds_by_kind():
        pytest.skip(f"no installed channel provides {manifest['kind']}")
    assert problems(manifest["kind"], manifest) == []


WEBHOOK_RECEIVER = {
    "apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "WebhookReceiver",
    "metadata": {"name": "r", "namespace": NS, "labels": {"type": "tenant", "user": "u"}},
    "spec": {"url": "https://example.com/hook",
             "httpConfig": {"tlsConfig": {"insecureSkipVerify": False}},
             "webhookConfigSelector": {"matchLabels": {"type": "tenant"},
                                       "matchExpressions": [{"key": "user", "operator": "In", "values": ["u"]}]}},
}


@pytest.mark.parametrize(("change", "expected"), [
    ({"urll": "https://example.com"}, "Additional properties are not allowed ('urll' was unexpected)"),
    ({"httpConfig": {"tlsConfig": {"insecureSkipVerify": "yes"}}}, "'yes' is not of type 'boolean'"),
    ({"httpConfig": {"basicAuth": {"password": {"value": "x"}}}}, "'username' is a required property"),
    ({"webhookConfigSelector": {"matchLabels": {"tier": 1}}}, "1 is not of type 'string'"),
    ({"webhookConfigSelector": {"matchExpressions": [{"key": "a", "operator": "Equals"}]}},
     "'Equals' is not one of ['In', 'NotIn', 'Exists', 'DoesNotExist']"),
    ({"webhookConfigSelector": {"matchExpressions": {"key": "a"}}}, "is not of type 'array'"),
    ({"httpConfig": "bearer"}, "'bearer' is not of type 'object', 'null'"),
])
def test_the_schemas_reject_broken_manifests(change: dict[str, Any], expected: str):
    broken = copy.deepcopy(WEBHOOK_RECEIVER)
    broken["spec"].update(change)
    assert problems("WebhookReceiver", WEBHOOK_RECEIVER) == []
    found = problems("WebhookReceiver", broken)
    assert any(expected in p for p in found), found


def property_names(schema: Mapping[str, Any]) -> Any:
    """The tree of property names under a schema (an array: its items'), as tests/data/original/crds.json has it."""
    if schema.get("type") == "array" and "items" in schema:
        return property_names(schema["items"])
    properties = schema.get("properties")
    return {k: property_names(v) for k, v in sorted(properties.items())} if properties else None


@pytest.mark.parametrize("kind", sorted(V2_KINDS))
def test_the_v2beta2_crds_are_compatible_with_the_originals(kind: str):
    """Same name, group, names (plural, short names, categories), scope, served and storage version and status
    subresource as the Go original's CRD (a copy of their metadata is vendored), so nmcore runs where they are."""
    original = ORIGINAL[kind]
    crd = crds_by_kind()[kind]
    [version] = crd["spec"]["versions"]
    assert crd["metadata"]["name"] == original["metadata"]["name"]
    assert (crd["spec"]["group"], crd["spec"]["names"], crd["spec"]["scope"]) == (
        original["group"], original["names"], original["scope"])
    assert [{k: version.get(k) for k in ("name", "served", "storage", "subresources")}] == original["versions"]


NMCORE_FIELDS = {"fallback"}
"""NotificationManager fields nmcore adds to the original's (the default fallback receiver; README, Fallback)."""


@pytest.mark.parametrize("kind", sorted(V2_KINDS))
def test_the_v2beta2_schemas_have_the_originals_fields(kind: str):
    """Field for field as the Go types: every installed block of Config and Receiver, Router and Silence whole, and
    the NotificationManager's fields (its deployment fields' Kubernetes types are kept, not described), plus the
    ones nmcore adds."""
    ours = property_names(schema_of(crds_by_kind()[kind])["properties"]["spec"])
    theirs = original = ORIGINAL[kind]["spec_properties"]
    if kind in ("Config", "Receiver"):
        assert set(ours) == {c.spec.v2beta2.name for c in INSTALLED.values() if c.spec.v2beta2}
        ours = {block: ours[block] for block in ("email", "slack", "webhook", "wechat")}  # issue 13's four
        theirs = {block: original[block] for block in ours}
    elif kind == "NotificationManager":
        assert set(ours) - NMCORE_FIELDS == set(theirs)
        assert set(ours) >= NMCORE_FIELDS
        ours, theirs = ({k: tree[k] for k in ("receivers", "template", "defaultConfigSelector")} for tree in (ours, theirs))
    elif kind == "Silence":  # nmcore's one addition: the zone a schedule is read in (the original has none)
        assert "timeZone" in ours
        ours = {k: v for k, v in ours.items() if k != "timeZone"}
    assert ours == theirs


def test_the_v2beta2_crds_keep_the_blocks_of_channels_not_installed_here():
    for kind in ("Config", "Receiver"):
        spec = schema_of(crds_by_kind()[kind])["properties"]["spec"]
        assert spec["x-kubernetes-preserve-unknown-fields"] is True
        later = {"apiVersion": "notification.kubesphere.io/v2beta2", "kind": kind, "metadata": {"name": "x"},
                 "spec": {"pagerduty": {"routingKey": {"value": "k"}}}}  # a block of a channel written later
        assert "pagerduty" not in {c.spec.v2beta2.name for c in INSTALLED.values() if c.spec.v2beta2}
        assert problems(kind, later) == []


def test_int_fields_take_numbers_or_numeric_strings_as_the_seed_writes_them():
    @attrs.frozen(kw_only=True)
    class Host:
        port: int

    schema = to_json_schema(openapi_schema(Host))
    assert jsonschema.Draft202012Validator(schema).is_valid({"port": "25"})
    assert jsonschema.Draft202012Validator(schema).is_valid({"port": 25})
    assert not jsonschema.Draft202012Validator(schema).is_valid({"port": True})
    assert not jsonschema.Draft202012Validator(schema).is_valid({})


@attrs.frozen
class Loop:
    again: "Loop | None" = None


def test_type_mapping():
    Names = NewType("Names", tuple[str, ...])

    @attrs.frozen(kw_only=True)
    class Spec:
        """Something.

        More detail that stays out of the CRD."""

        name: str
        mode: Literal["a", "b"] = "a"
        tags: Mapping[str, str] = attrs.field(factory=dict)
        items: tuple[int, ...] = ()
        names: Names = Names(())
        either: str | list[str] = ""
        maybe: bool | None = None
        ratio: float = 1.0

    schema = openapi_schema(Spec)
    assert schema["description"] == "Something."
    assert schema["required"] == ["name"]
    props = schema["properties"]
    assert props["mode"] == {"type": "string", "enum": ["a", "b"]}
    assert props["tags"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props["items"]["type"] == "array" and props["items"]["items"]["x-kubernetes-int-or-string"]
    assert props["names"] == props["either"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props["maybe"] == {"type": "boolean", "nullable": True}
    assert props["ratio"] == {"type": "number"}

    with pytest.raises(TypeError, match="contains itself"):
        openapi_schema(Loop)


def test_deploy_crds_are_up_to_date():
    """Fails when a schema class changed without `nm crds` being run (or a channel's CRD was never written)."""
    assert stale_crds(DEPLOYED, INSTALLED) == []


def test_stale_and_missing_files_are_reported(tmp_path: Path):
    channels = plugin_host().channels
    assert len(write_crds(tmp_path, channels)) == 2 + 5, "the webhook channel's two kinds and the v2beta2 kinds"
    assert write_crds(tmp_path, channels) == [] and stale_crds(tmp_path, channels) == []
    receiver = tmp_path / "webhookreceivers.notification.kubesphere.io.yaml"
    receiver.write_text(receiver.read_text().replace("webhookConfigSelector", "oldSelector"))
    (tmp_path / "webhookconfigs.notification.kubesphere.io.yaml").unlink()
    found = stale_crds(tmp_path, channels)
    assert len(found) == 2
    assert any("webhookreceivers" in line and "stale" in line for line in found)
    assert any("webhookconfigs" in line and "missing" in line for line in found)


@pytest.mark.anyio
async def test_an_api_server_with_the_crds_refuses_malformed_objects(tmp_path: Path):
    """What `kubectl apply` gets once deploy/crds is installed: errors before nmcore ever sees the object."""
    async with FakeApiServer() as server:
        for kind in ("WebhookConfig", "WebhookReceiver"):
            spec = plugin_host().channels["webhook"].spec
            server.create(crd_for(kind, spec.config_schema if kind.endswith("Config") else spec.receiver_schema, ""))
        api = await config.new_client_from_config(str(server.kubeconfig(tmp_path / "kc")), persist_config=False)
        async with api:
            custom = CustomObjectsApi(api)
            for obj in seed_objects():
                if obj["apiVersion"].startswith("notification."):
                    await custom.create_namespaced_custom_object("notification.kubesphere.io", "v1alpha1", NS,
                                                                 obj["kind"].lower() + "s", obj)
            broken = copy.deepcopy(WEBHOOK_RECEIVER)
            broken["spec"]["httpConfig"]["tlsConfig"]["insecureSkipVerify"] = "yes"
            with pytest.raises(ApiException) as refused:
                await custom.create_namespaced_custom_object("notification.kubesphere.io", "v1alpha1", NS,
                                                             "webhookreceivers", broken)
        assert refused.value.status == 422
        assert "spec.httpConfig.tlsConfig.insecureSkipVerify" in json.loads(refused.value.body)["message"]
