"""Reading `notification.kubesphere.io/v2beta2` objects into the snapshot: the original's semantics, stricter
where it leaks.

- A Config or Receiver holds one block per channel; each block is structured by the schema of the plugin that
  provides the channel and becomes its own runtime config or receiver. A block no plugin provides is one located
  problem naming the plugin to install.
- The NotificationManager says who owns what: labels matching `globalReceiverSelector` make a global object,
  labels matching `tenantReceiverSelector` plus a `<tenantKey>` label a tenant's, labels matching
  `defaultConfigSelector` a default config. Defaults (none given, or no NotificationManager at all): `type: global`,
  `type: tenant`, `user`, `type: default`. The original loads nothing until a NotificationManager exists and leaves
  an omitted selector empty (matching nothing); nmcore uses the defaults instead.
- Config choice per block, as the original's `getMatchedConfig`: a tenant receiver takes the lowest `priority`
  of its own tenant's configs its selector matches (no selector: any of them), else the lowest default config;
  a global receiver takes the lowest default config its selector matches, and nothing else.
"""

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from nmcore import v2beta2
from nmcore.channel import RegisteredChannel
from nmcore.resources import LabelSelector as KubeLabelSelector
from nmcore.resources import ObjectMeta, Resource
from nmcore.schema import SchemaError, manifest_key, structure
from nmcore.v2beta2 import parse_duration

KINDS = ("Config", "Receiver", "NotificationManager", "Router", "Silence")
ORIGINAL_BLOCKS = ("dingtalk", "discord", "email", "feishu", "pushover", "slack", "sms", "telegram", "webhook",
                   "wechat")
"""The blocks the Go original knows, whose plugins may simply not be installed here."""

GLOBAL_TENANT = "notification-manager/type/global"
DEFAULT_TENANT = "notification-manager/type/default"
"""The tenant IDs the original gives global objects and default configs (its HTTP API shows them)."""


@attrs.frozen
class Decoded:
    """One v2beta2 object (or one block of it) read without error."""

    kind: str
    metadata: ObjectMeta
    spec: Any
    origin: str
    block: str = ""


def blocks_of(channels: Mapping[str, RegisteredChannel]) -> dict[str, RegisteredChannel]:
    """Block name → the channel that declares it."""
    return {c.spec.v2beta2.name: c for c in channels.values() if c.spec.v2beta2 is not None}


def decode(body: Mapping[str, Any], origin: str,
           channels: Mapping[str, RegisteredChannel]) -> tuple[list[Decoded], list[str]]:
    """The objects in one v2beta2 document (given the installed channels) and the problems found, each
    `message @ $.path`."""
    kind = body["kind"]
    problems = [f"unknown field {k!r} @ $" for k in sorted(set(body) - {"apiVersion", "kind", "metadata", "spec",
                                                                      "status"})]
    try:
        meta = structure(body.get("metadata"), ObjectMeta, "$.metadata")
    except SchemaError as exc:
        return [], problems + exc.problems
    meta = attrs.evolve(meta, namespace="")  # cluster-scoped: the API server ignores a namespace given
    spec = body.get("spec") or {}
    if kind in ("Config", "Receiver"):
        found, trouble = _blocks(kind, meta, spec, origin, channels)
        return found, problems + trouble
    schema = {"NotificationManager": v2beta2.NotificationManagerSpec, "Router": v2beta2.RouterSpec,
              "Silence": v2beta2.SilenceSpec}[kind]
    try:
        return [Decoded(kind, meta, structure(spec, schema, "$.spec"), origin)], problems
    except SchemaError as exc:
        return [], problems + exc.problems


def _blocks(kind: str, meta: ObjectMeta, spec: Any, origin: str,
            channels: Mapping[str, RegisteredChannel]) -> tuple[list[Decoded], list[str]]:
    blocks = blocks_of(channels)
    if not isinstance(spec, Mapping):
        return [], ["expected an object @ $.spec"]
    if not spec:
        return [], [f"a {kind} needs at least one channel block ({', '.join(sorted(blocks))}) @ $.spec"]
    found: list[Decoded] = []
    problems: list[str] = []
    for name, body in spec.items():
        registered = blocks.get(name)
        if registered is None:
            problems.append(_missing_block(str(name), blocks, channels))
            continue
        block = registered.spec.v2beta2
        assert block is not None
        schema = block.config_schema if kind == "Config" else block.receiver_schema
        try:
            found.append(Decoded(kind, meta, structure(body if body is not None else {}, schema, f"$.spec.{name}"),
                                 origin, block=name))
        except SchemaError as exc:
            problems += exc.problems
    return found, problems


def _missing_block(name: str, blocks: Mapping[str, RegisteredChannel],
                   channels: Mapping[str, RegisteredChannel]) -> str:
    if name in channels:
        plugin = channels[name].plugin.distribution
        return (f"the installed {name!r} channel ({plugin}) declares no v2beta2 block (ChannelSpec.v2beta2), so "
                f"nmcore cannot read this one @ $.spec.{name}")
    if name in ORIGINAL_BLOCKS:
        return f"no plugin provides the {name!r} channel: pip install nm-{name} @ $.spec.{name}"
    near = difflib.get_close_matches(name, sorted({*blocks, *ORIGINAL_BLOCKS}), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (installed channels: {', '.join(sorted(blocks))})"
    return f"unknown channel block {name!r}{hint} @ $.spec.{name}"


def _selector(given: KubeLabelSelector | None, default_type: str) -> KubeLabelSelector:
    return given if given is not None else KubeLabelSelector(match_labels={"type": default_type})


@attrs.frozen(kw_only=True)
class Settings:
    """What a NotificationManager (or, without one, the defaults) tells the snapshot."""

    global_selector: KubeLabelSelector = attrs.field(factory=lambda: _selector(None, "global"))
    tenant_selector: KubeLabelSelector = attrs.field(factory=lambda: _selector(None, "tenant"))
    tenant_key: str = "user"
    default_config_selector: KubeLabelSelector = attrs.field(factory=lambda: _selector(None, "default"))
    secret_namespace: str = ""
    """Where a v2beta2 secretKeyRef without a namespace looks: `defaultSecretNamespace`, else nm's namespace."""
    cluster: str = ""
    """`options.global.cluster`: alerts without a `cluster` label get it."""
    notification_timeouts: Mapping[str, float] = attrs.field(factory=dict)
    """Channel name → seconds one send may take (`options.<channel>.notificationTimeout`)."""
    source: str = ""
    """The NotificationManager these came from (empty: the defaults)."""
    history_url: str = ""
    """Where every history entry is POSTed (`spec.history.webhook`'s url or service); set once it is checked."""
    default_fallback: str = ""
    """The ref of the global receiver `spec.fallback.receiver` names; set once it is found to be one."""
    fallback_after: float = 0.0
    """`spec.fallback.after` in seconds: a delivery still failing this long also goes to its fallback; 0: only a
    dead-lettered one does."""
    group_labels: tuple[str, ...] | None = None
    """`groupLabels`: each receiver's alerts regrouped by these labels' values (None: as Alertmanager grouped)."""
    batch_max_size: int = 0
    """`batchMaxSize`: at most this many alerts per notification (0: no limit, as without a NotificationManager)."""
    batch_max_wait: float = 0.0
    """`batchMaxWait` in seconds: how long a receiver's alerts of one group wait for more (nmcore.batching); 0: none."""

    @classmethod
    def of(cls, nm: Resource | None, default_namespace: str) -> "Settings":
        if nm is None:
            return cls(secret_namespace=default_namespace)
        spec: v2beta2.NotificationManagerSpec = nm.spec
        receivers = spec.receivers or v2beta2.ReceiversSpec()
        options = receivers.options or v2beta2.Options()
        timeouts = {name: float(found.notification_timeout) for name in attrs.fields_dict(v2beta2.Options)
                    if (found := options.channel(name)) is not None and found.notification_timeout}
        return cls(
            global_selector=_selector(receivers.global_receiver_selector, "global"),
            tenant_selector=_selector(receivers.tenant_receiver_selector, "tenant"),
            tenant_key=receivers.tenant_key or "user",
            default_config_selector=_selector(spec.default_config_selector, "default"),
            secret_namespace=spec.default_secret_namespace or default_namespace,
            cluster=options.global_.cluster if options.global_ else "",
            notification_timeouts=timeouts,
            source=nm.ref,
            fallback_after=parse_duration(spec.fallback.after) if spec.fallback and spec.fallback.after else 0.0,
            group_labels=spec.group_labels,
            batch_max_size=spec.batch_max_size,
            batch_max_wait=parse_duration(spec.batch_max_wait),
        )

    def owner(self, labels: Mapping[str, str], *, config: bool) -> tuple[str, str]:
        """(scope, tenant) from an object's labels, in the original's order: global, tenant, default config.

        The receiver selectors match when any one of their matchLabels pairs does (the original reads only
        matchLabels there); the default config selector is a whole label selector."""
        if _any_pair(self.global_selector, labels):
            return "global", ""
        if _any_pair(self.tenant_selector, labels) and labels.get(self.tenant_key):
            return "tenant", labels[self.tenant_key]
        if config and self.default_config_selector.matches(labels):
            return "default", ""
        return "", ""

    def describe_owner_rules(self) -> str:
        return (f"labels matching globalReceiverSelector ({self.global_selector}), or tenantReceiverSelector "
                f"({self.tenant_selector}) with a {self.tenant_key!r} label")


def _any_pair(selector: KubeLabelSelector, labels: Mapping[str, str]) -> bool:
    return any(labels.get(k) == v for k, v in selector.match_labels.items())


def resource_of(decoded: Decoded, settings: Settings) -> Resource:
    scope, tenant = settings.owner(decoded.metadata.labels, config=decoded.kind == "Config")
    return Resource(kind=decoded.kind, metadata=decoded.metadata, spec=decoded.spec, origin=decoded.origin,
                    block=decoded.block, scope=scope, user=tenant,
                    alert_selector=getattr(decoded.spec, "alert_selector", None) if decoded.kind == "Receiver"
                    else None)


def notification_manager(found: Sequence[Decoded]) -> tuple[Decoded | None, list[tuple[Decoded, str]]]:
    """The NotificationManager in force (the first by name) and a problem for each other one."""
    ordered = sorted(found, key=lambda d: d.metadata.name)
    if not ordered:
        return None, []
    first = ordered[0]
    return first, [(d, f"only one NotificationManager is used; this one is ignored, "
                       f"NotificationManager/{first.metadata.name} is in force") for d in ordered[1:]]


def ignored_fields(spec: v2beta2.NotificationManagerSpec) -> list[str]:
    """The deployment fields this NotificationManager sets: they shape the Go operator's Deployment, not nmcore."""
    defaults = v2beta2.NotificationManagerSpec()
    by_name = attrs.fields_dict(v2beta2.NotificationManagerSpec)
    return [manifest_key(v2beta2.NotificationManagerSpec, by_name[name]) for name in v2beta2.DEPLOYMENT_FIELDS
            if getattr(spec, name) != getattr(defaults, name)]


def _priority(config: Resource) -> tuple[int, str]:
    """Lower `priority` label wins, as in the original (missing or not a number: last); then the name."""
    try:
        return int(config.labels.get("priority", "")), config.name
    except ValueError:
        return (1 << 31) - 2, config.name


def choose_config(receiver: Resource, configs: Iterable[Resource]) -> Resource | None:
    """The config a v2beta2 receiver block sends with (the configs are those of its channel), or None."""
    selector = getattr(receiver.spec, "config_selector", None)
    candidates = list(configs)

    def best(pool: Iterable[Resource], selector: Any) -> Resource | None:
        matched = [c for c in pool if selector is None or selector.matches(c.labels)]
        return min(matched, key=_priority) if matched else None

    defaults = [c for c in candidates if c.scope == "default"]
    if receiver.scope == "global":
        return best(defaults, selector)
    own = [c for c in candidates if c.scope == "tenant" and c.user == receiver.user]
    return best(own, selector) or best(defaults, None)


def tenant_id(resource: Resource) -> str:
    """The original's tenant ID of an object, as its `/receivers` and `/configs` answers show it."""
    return {"global": GLOBAL_TENANT, "default": DEFAULT_TENANT}.get(resource.scope, resource.user)
