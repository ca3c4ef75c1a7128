"""The KubeSphere console's HTTP API, with the Go original's paths and bodies.

- `POST /api/v2/verify` `{"receiver": <Receiver>, "config": <Config>?}`: the receiver being edited in the
  console's "send test" dialog (it need not be saved) gets a test notification, each of its blocks with the given
  Config's block of that channel, or the config selection would choose in the cluster. Another tenant's Config is
  refused, as selection would refuse it.
- `POST /api/v2/notifications` `{"receiver", "config"?, "alert": <Alertmanager body>}`: those alerts, now.
- `GET /receivers`, `/configs`, `/receiverWithConfig` (`tenant`, `type`, `name`; `user` and `channel` too): what
  the manager holds, keyed `<type>/<name>` as the original's; never a credential's value.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from nmcore import v2beta2, v2objects
from nmcore.errors import BadRequest
from nmcore.httpfailures import redact_url_secrets
from nmcore.redaction import Scrubber
from nmcore.resources import Credential, Resource
from nmcore.schema import manifest_key
from nmcore.snapshot import Snapshot, Target, credential_problems, credentials_of

REDACTED = "<redacted>"


def targets_from_objects(snapshot: Snapshot, receiver: Any, config: Any = None) -> list[Target]:
    """One target per channel block of a Receiver object given in a request (saved or not)."""
    if not isinstance(receiver, Mapping):
        raise BadRequest("receiver must be a Receiver object or a receiver's name @ $.receiver")
    blocks = v2objects.blocks_of(snapshot.channels)
    receivers = _decode(receiver, "Receiver", "$.receiver", snapshot.channels)
    given = _decode(config, "Config", "$.config", snapshot.channels) if config is not None else []
    given_by_block = {d.block: v2objects.resource_of(d, snapshot.settings) for d in given}
    targets = []
    for decoded in receivers:
        resource = v2objects.resource_of(decoded, snapshot.settings)
        if resource.scope not in ("tenant", "global"):
            raise BadRequest(f"unknown tenant: the receiver's labels make it neither global nor a tenant's "
                             f"({snapshot.settings.describe_owner_rules()}) @ $.receiver.metadata.labels")
        channel = blocks[decoded.block]
        chosen = None
        if channel.spec.config_required(resource.spec):
            chosen = _config_for(resource, given_by_block, snapshot, bool(given))
        _check_credentials(resource, "$.receiver", snapshot)
        if chosen is not None:
            _check_credentials(chosen, "$.config" if given else chosen.ref, snapshot)
        targets.append(Target(resource, chosen, channel.spec.name, credentials_of(resource, chosen)))
    return targets


def _check_credentials(holder: Resource, where: str, snapshot: Snapshot) -> None:
    """The objects of a request use Secrets by the same rule as saved ones (README, Security): never another
    owner's. `where` is the request's field (`$.receiver`) or, for a saved config, its name."""
    found = credential_problems(holder, snapshot.secrets)
    if found:
        located = [p.replace("@ $.spec", f"@ {where}.spec", 1) if where.startswith("$") else f"{where}: {p}"
                   for p in found]
        raise BadRequest("; ".join(located))


def _decode(body: Any, kind: str, where: str, channels: Mapping[str, Any]) -> list[v2objects.Decoded]:
    if not isinstance(body, Mapping):
        raise BadRequest(f"expected a {kind} object @ {where}")
    body = {"apiVersion": v2beta2.GROUP_VERSION, "kind": kind, "metadata": {"name": "console"}, **body}
    if body["kind"] != kind:
        raise BadRequest(f"expected kind {kind}, got {body['kind']!r} @ {where}.kind")
    found, problems = v2objects.decode(body, "request", channels)
    if problems:
        raise BadRequest("; ".join(p.replace("@ $", f"@ {where}", 1) for p in problems))
    return found


def _config_for(receiver: Resource, given: Mapping[str, Resource], snapshot: Snapshot, config_given: bool
                ) -> Resource:
    if config_given:
        config = given.get(receiver.block)
        if config is None:
            raise BadRequest(f"the config given has no {receiver.block} block for the receiver's {receiver.block} "
                             f"block @ $.config.spec")
        if config.scope == "tenant" and config.user != receiver.user:
            raise BadRequest(f"the config given belongs to tenant {config.user!r}; a receiver of "
                             f"{receiver.user or 'no tenant'!r} never sends with it @ $.config.metadata.labels")
        return config
    chosen = v2objects.choose_config(receiver, [c for c in snapshot.configs if c.block == receiver.block])
    if chosen is None:
        raise BadRequest(f"no {receiver.block} Config in the cluster for this receiver (give one as \"config\", "
                         f"or label one as a default config: {snapshot.settings.default_config_selector})")
    return chosen


def _selected(resource: Resource, channel: str, query: Mapping[str, str]) -> bool:
    tenant = query.get("tenant") or query.get("user")
    kind = query.get("type") or query.get("channel")
    aliases = {"global": v2objects.GLOBAL_TENANT, "default": v2objects.DEFAULT_TENANT}
    return ((not tenant or v2objects.tenant_id(resource) in (tenant, aliases.get(tenant)))
            and (not kind or channel == kind)
            and (not query.get("name") or resource.name == query["name"]))


def _key(resource: Resource, channel: str) -> str:
    """`<type>/<name>` as the original keys its cache; a v1alpha1 object keeps its namespace in the key."""
    ns = f"{resource.metadata.namespace}/" if resource.metadata.namespace else ""
    return f"{channel}/{ns}{resource.name}"


def describe(resource: Resource, channel: str, scrubber: Scrubber | None = None) -> dict[str, Any]:
    """The original's fields of a runtime receiver or config, then its channel's fields, with credentials hidden
    (`public`, and then whatever `scrubber`, the snapshot's, knows to be a credential)."""
    version = resource.metadata.resource_version
    common = {"name": resource.name, "resourceVersion": int(version) if version.isdigit() else version, "type": channel,
              "tenantID": v2objects.tenant_id(resource), "labels": dict(resource.labels), "ref": resource.ref}
    fields = public(resource.spec, scrubber)
    if "enabled" in fields:
        common["enable"] = fields.pop("enabled")
    for key in ("alertSelector", "configSelector"):
        if key in fields:
            common[key] = fields.pop(key)
    selector_key = next((k for k in fields if k.endswith("ConfigSelector")), None)
    if selector_key:
        common["configSelector"] = fields.pop(selector_key)
    return common | fields


def list_receivers(snapshot: Snapshot, query: Mapping[str, str]) -> dict[str, Any]:
    return {_key(r, channel_of(snapshot, r)): describe(r, channel_of(snapshot, r), snapshot.scrubber)
            for r in snapshot.receivers if _selected(r, channel_of(snapshot, r), query)}


def list_configs(snapshot: Snapshot, query: Mapping[str, str]) -> dict[str, Any]:
    return {_key(c, channel_of(snapshot, c)): describe(c, channel_of(snapshot, c), snapshot.scrubber)
            for c in snapshot.configs if _selected(c, channel_of(snapshot, c), query)}


def receivers_with_config(snapshot: Snapshot, query: Mapping[str, str]) -> list[dict[str, Any]]:
    found = []
    for receiver in sorted(snapshot.receivers, key=lambda r: r.ref):
        channel = channel_of(snapshot, receiver)
        if not _selected(receiver, channel, query):
            continue
        target = snapshot.targets.get(receiver.ref)
        entry = describe(receiver, channel, snapshot.scrubber)
        entry["config"] = describe(target.config, channel, snapshot.scrubber) if target and target.config else None
        if receiver.ref in snapshot.skipped:
            entry["cannotSend"] = snapshot.skipped[receiver.ref]
        found.append(entry)
    return found


def channel_of(snapshot: Snapshot, resource: Resource) -> str:
    for name, registered in snapshot.channels.items():
        spec = registered.spec
        if (spec.v2beta2 is not None and spec.v2beta2.name == resource.block) or resource.kind in (
                spec.config_kind, spec.receiver_kind):
            return name
    return resource.block or resource.kind


def public(value: Any, scrubber: Scrubber | None = None) -> Any:
    """A structured spec as JSON, written as the manifest writes it, with every credential's value hidden: inline
    credentials, and in a URL its password, every query value and token-like path segment (a webhook's
    `?token=`, a robot's key), as `nmcore.httpfailures.redact_url_secrets` hides them; then anything `scrubber`
    knows to be a credential."""
    if isinstance(value, Credential | v2beta2.Credential):
        if value.value_from is None:
            return {"value": REDACTED}
        return {"valueFrom": public(value.value_from, scrubber)}
    if attrs.has(type(value)):
        out = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if item is None or item == () or item == {}:
                continue
            out[manifest_key(type(value), field)] = public(item, scrubber)
        return out
    if isinstance(value, Mapping):
        return {k: public(v, scrubber) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [public(v, scrubber) for v in value]
    if isinstance(value, str):
        hidden = redact_url_secrets(value) if "://" in value else value
        return scrubber.scrub(hidden) if scrubber is not None else hidden
    return value
