"""Manifests → an immutable, indexed configuration snapshot, and every problem found on the way.

A config source (files, Kubernetes) hands over documents; `build_snapshot` decodes each one on its own (a
bad manifest is reported and skipped, never stops the others), resolves each receiver's config once, and
indexes receivers by tenant so routing is a lookup. A reload builds a new snapshot and swaps it whole.

Credentials stay with their owner: a tenant's objects (a v1alpha1 `type: tenant, user: alice`, a v2beta2 object
the NotificationManager gives to alice) may use only alice's Secrets, global and default objects only the
administrator's, and a namespaced object only Secrets of its own namespace. A Secret labelled `user: alice` is
alice's. One without a `user` label (as the KubeSphere document writes them) is the administrator's if a global or
default object names it, else the one tenant's whose objects alone name it; named by several tenants' objects, it
is nobody's until labelled. A receiver that names a Secret it may not use, a missing one or an invalid one (itself
or through its config) cannot send.
"""

import contextlib
import difflib
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import attrs

from nmcore import v2beta2, v2objects
from nmcore.apikinds import CORE_KINDS, RBAC_GROUP, RBAC_KINDS, RBAC_VERSIONS, near_group, suggestion
from nmcore.channel import RegisteredChannel
from nmcore.errors import PermanentError
from nmcore.gcpause import gc_paused
from nmcore.redaction import Scrubber, forms, spec_secrets
from nmcore.resources import (
    GROUP_VERSION,
    ClusterRoleBinding,
    ConfigMap,
    ObjectMeta,
    Resource,
    RoleBinding,
    Secret,
    SecretKeySelector,
)
from nmcore.rules import NO_RULES, Rules, compile_rules
from nmcore.schema import SchemaError, manifest_key, structure

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "kubesphere-monitoring-system"
NOTIFICATION_GROUP = GROUP_VERSION.split("/")[0]
PRIORITY_LABEL = "priority"


@attrs.frozen
class Document:
    """One manifest as parsed, and where it came from (`file.yaml`, `file.yaml#2`, `k8s:Kind/ns/name`)."""

    origin: str
    body: Any


@attrs.frozen
class Problem:
    origin: str
    object: str
    message: str
    notice: bool = False
    """Worth saying, not wrong: nothing fails because of it (e.g. a field that does not apply to nmcore)."""

    def __str__(self) -> str:
        text = f"note: {self.message}" if self.notice else self.message
        return f"{self.origin}: {self.object}: {text}" if self.object else f"{self.origin}: {text}"


@attrs.frozen
class Target:
    """A receiver that can send: its channel and the config it will use (None when it needs none)."""

    receiver: Resource
    config: Resource | None
    channel: str
    credentials: Mapping["SecretRef", Resource] = attrs.field(factory=dict, repr=False)
    """Each Secret reference of the receiver and its config → the object naming it, whose namespace and owner
    it is resolved with. A send may read no other Secret."""

    @property
    def tenant(self) -> str:
        return self.receiver.user if self.receiver.scope == "tenant" else ""


@attrs.frozen(kw_only=True)
class Snapshot:
    channels: Mapping[str, RegisteredChannel]
    receivers: tuple[Resource, ...]
    configs: tuple[Resource, ...]
    global_targets: tuple[Target, ...]
    tenant_targets: Mapping[str, tuple[Target, ...]]
    targets: Mapping[str, Target]
    skipped: Mapping[str, str]
    """Receiver ref → why it cannot send (no usable config, bad labels)."""
    problems: tuple[Problem, ...]
    secrets: "SecretIndex" = attrs.field(repr=False)
    namespace_users: Mapping[str, frozenset[str]]
    configmaps: Mapping[tuple[str, str], ConfigMap] = attrs.field(factory=dict, repr=False)
    """(namespace, name) → ConfigMap: templates and language packs."""
    configmap_origins: Mapping[tuple[str, str], str] = attrs.field(factory=dict, repr=False)
    """(namespace, name) → the document a ConfigMap came from, so a broken template is reported where it lives."""
    settings: v2objects.Settings = attrs.field(factory=v2objects.Settings)
    """The NotificationManager's settings (or the defaults): v2beta2 ownership, secrets namespace, cluster."""
    routers: tuple[Resource, ...] = ()
    silences: tuple[Resource, ...] = ()
    notification_manager: Resource | None = None
    history_target: Target | None = None
    """The NotificationManager's `spec.history.webhook`, as a webhook receiver: where batches of history entries
    are POSTed, with its httpConfig (credentials, TLS) read as a global receiver's are."""
    cluster_users: frozenset[str] = frozenset()
    """Users a ClusterRoleBinding names: they can access every namespace."""
    access_warnings: tuple[Problem, ...] = ()
    """Tenant receivers whose user no RoleBinding or ClusterRoleBinding names (for the rbac resolver)."""
    documents: Mapping[tuple[str, str, str], Document] = attrs.field(factory=dict, repr=False)
    """The document of every object in force, by (kind, namespace, name)."""
    scrubber: Scrubber = attrs.field(factory=Scrubber, repr=False)
    """Hides every credential this configuration holds, in every form (see nmcore.redaction)."""
    rules: Rules = attrs.field(default=NO_RULES, repr=False)
    """The Routers, Silences and routePolicy, compiled into indexes (nmcore.rules)."""

    def rolebinding_users(self, namespace: str) -> frozenset[str]:
        users = self.namespace_users.get(namespace, frozenset())
        return users | self.cluster_users if self.cluster_users else users

    def targets_for_user(self, user: str) -> tuple[Target, ...]:
        return self.tenant_targets.get(user, ())

    def secret(self, holder: Resource, ref: "SecretRef") -> str:
        """The value `ref` names for `holder`, the object naming it (see `SecretIndex.value`)."""
        return self.secrets.value(holder, ref)

    @property
    def secret_namespace(self) -> str:
        """Where a Secret reference of a cluster-scoped (v2beta2) object without a namespace is looked up."""
        return self.settings.secret_namespace


SecretRef = SecretKeySelector | v2beta2.SecretKeyRef

ORIGINAL_BATCH_MAX_WAIT = "1m"
"""The Go original's CRD default for batchMaxWait: an object written under its CRD holds it unless set otherwise."""


@attrs.frozen
class SecretIndex:
    """The Secrets of a snapshot, and where the ones that did not decode came from (a reference to one of those
    is told it is invalid, not that it is missing)."""

    found: Mapping[tuple[str, str], Secret] = attrs.field(factory=dict, repr=False)
    invalid: Mapping[tuple[str, str], str] = attrs.field(factory=dict)
    """(namespace, name) → the origin of the manifest that failed to decode."""
    default_namespace: str = DEFAULT_NAMESPACE
    """Where a cluster-scoped (v2beta2) object's reference without a namespace looks (`defaultSecretNamespace`)."""
    claims: Mapping[tuple[str, str], frozenset[str]] = attrs.field(factory=dict)
    """(namespace, name) → the owners of the objects naming it ("" for global and default objects)."""

    def where(self, holder: Resource, ref: SecretRef) -> tuple[str, str]:
        """The (namespace, name) `ref` names for `holder`: its own namespace, else the one `ref` gives, else the
        default."""
        return holder.metadata.namespace or getattr(ref, "namespace", "") or self.default_namespace, ref.name

    def owner_of(self, key: tuple[str, str], secret: Secret) -> str | None:
        """The tenant whose objects may use `secret` ("" for the administrator's), None while it is contested:
        its `user` label; without one, the administrator's if a global or default object names it (or nobody
        does), else the one tenant's whose objects alone name it."""
        claimants = self.claims.get(key, frozenset())
        if secret.owner or "" in claimants or not claimants:
            return secret.owner
        return next(iter(claimants)) if len(claimants) == 1 else None

    def plain(self, holder: Resource, ref: SecretRef) -> str | None:
        """The text `ref` names where `holder` would look, whoever may use it, or None: what to scrub, never
        what to send."""
        found = self.found.get(self.where(holder, ref))
        try:
            return found.value(ref.key) if found is not None and ref.key in found.key_names() else None
        except ValueError:
            return None

    def value(self, holder: Resource, ref: SecretRef) -> str:
        """The value for `holder`, the object naming `ref`, or PermanentError saying what is wrong: a namespaced
        object reads its own namespace only, a cluster-scoped one the namespace `ref` names (else the default);
        the Secret must be owned by `holder.owner` (see `Secret.owner`)."""
        own, named = holder.metadata.namespace, getattr(ref, "namespace", "")
        if own and named and named != own:
            raise PermanentError(f"{ref} names namespace {named!r}, but {holder.kind} {holder.name!r} is in "
                                 f"{own!r} and may read Secrets of its own namespace only")
        namespace = own or named or self.default_namespace
        invalid = self.invalid.get((namespace, ref.name))
        if invalid is not None:
            raise PermanentError(f"Secret {ref.name!r} is invalid (see {invalid})")
        found = self.found.get((namespace, ref.name))
        if found is None:
            # Near names among the holder's own Secrets and the unclaimed ones: never another tenant's.
            near = [n for (ns, n), s in self.found.items() if ns == namespace
                    and (self.owner_of((ns, n), s) == holder.owner or not (s.owner or self.claims.get((ns, n))))]
            raise PermanentError(f"Secret {ref.name!r} not found in namespace {namespace!r}" + _suggest(ref.name, near))
        owner = self.owner_of((namespace, ref.name), found)
        if owner is None:
            raise PermanentError(_contested(ref.name, self.claims[namespace, ref.name]))
        if owner != holder.owner:
            raise PermanentError(_not_owned(ref.name, owner, holder.owner))
        names = found.key_names()
        if ref.key not in names:
            raise PermanentError(f"Secret {ref.name!r} has no key {ref.key!r}" + _suggest(ref.key, sorted(names)))
        try:
            return found.value(ref.key)
        except ValueError as exc:
            raise PermanentError(f"Secret {ref.name!r}: {exc}") from None


def _not_owned(name: str, secret_owner: str, owner: str) -> str:
    if not owner:
        return (f"Secret {name!r} belongs to tenant {secret_owner}, and a global or default object may use only "
                "Secrets of no tenant")
    rule = (f"{owner}'s objects may use only Secrets labelled user: {owner}, or unlabelled ones that only {owner}'s "
            "objects name")
    whose = f"tenant {secret_owner}" if secret_owner else "no tenant (a global or default object names it)"
    return f"Secret {name!r} belongs to {whose}: {rule}"


def _contested(name: str, claimants: frozenset[str]) -> str:
    return (f"Secret {name!r} has no user label and objects of tenants {', '.join(sorted(claimants))} name it: it is "
            "nobody's until labelled user: <its tenant>")


def secret_claims(resources: Iterable[Resource], default_namespace: str) -> dict[tuple[str, str], frozenset[str]]:
    """Who names each Secret: (namespace, name) → the owners of the objects whose references point at it."""
    index = SecretIndex(default_namespace=default_namespace)
    claims: dict[tuple[str, str], set[str]] = defaultdict(set)
    for resource in resources:
        for _, ref in secret_refs(resource.spec):
            claims[index.where(resource, ref)].add(resource.owner)
    return {key: frozenset(owners) for key, owners in claims.items()}


def empty_snapshot(channels: Mapping[str, RegisteredChannel]) -> Snapshot:
    return build_snapshot((), channels)


def _suggest(name: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _ref_of(body: Any, default_namespace: str) -> str:
    """`Kind/namespace/name` of a manifest that may not have decoded, as far as it can be read."""
    if not isinstance(body, Mapping):
        return ""
    meta: Mapping[str, Any] = body["metadata"] if isinstance(body.get("metadata"), Mapping) else {}
    return f"{body.get('kind', '?')}/{meta.get('namespace') or default_namespace}/{meta.get('name', '?')}"


def _missing_kind_hint(kind: str, known: list[str]) -> str:
    """Point at the plugin that provides a channel kind (EmailConfig → nm-email), else at a near kind name."""
    for suffix in ("Config", "Receiver"):
        if kind.endswith(suffix) and kind != suffix:
            channel = kind.removesuffix(suffix).lower()
            return f"; the {channel} channel comes from a plugin: pip install nm-{channel}"
    return _suggest(kind, known)


def _affected(snapshot: Snapshot, identity: tuple[str, str, str]) -> str:
    """` (receivers affected: …)`: who sends with the object, as the log must say when it is kept."""
    kind, namespace, name = identity

    def same(resource: Resource | None) -> bool:  # a cluster-scoped object (v2beta2) has no namespace
        return resource is not None and (resource.kind, resource.name) == (kind, name) and (
            resource.metadata.namespace in (namespace, ""))

    def uses(target: Target) -> bool:
        if kind == "Secret":
            specs = [target.receiver] + ([target.config] if target.config else [])
            return any(ref.name == name for s in specs if s.metadata.namespace in (namespace, "")
                       for _, ref in secret_refs(s.spec))
        return same(target.receiver) or same(target.config)

    receivers = sorted(r for r, target in snapshot.targets.items() if uses(target))
    return f" (receivers affected: {', '.join(receivers)})" if receivers else ""


CREDENTIAL_SOURCE = ".valueFrom.secretKeyRef"
"""Where a credential keeps its Secret reference: a problem is located at the credential's field itself
(`$.spec.authPassword`), as for a plain Secret key selector (`$.spec.wechatApiSecret`)."""


def secret_refs(value: Any, path: str = "$.spec") -> Iterator[tuple[str, SecretRef]]:
    """Every Secret reference inside a structured spec, wherever the schema put it, with its manifest path
    (`$.spec.wechatApiSecret`, `$.spec.httpConfig.bearerToken.valueFrom.secretKeyRef`)."""
    if isinstance(value, SecretKeySelector | v2beta2.SecretKeyRef):
        yield path, value
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from secret_refs(getattr(value, field.name), f"{path}.{manifest_key(type(value), field)}")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            yield from secret_refs(item, f"{path}[{index}]")


def credential_problems(resource: Resource, secrets: SecretIndex) -> list[str]:
    """Each Secret reference `resource` may not use (missing, invalid, another owner's), located."""
    found = []
    for path, ref in secret_refs(resource.spec):
        try:
            secrets.value(resource, ref)
        except PermanentError as exc:
            found.append(f"{exc} @ {path.removesuffix(CREDENTIAL_SOURCE)}")
    return found


UnloadedPlugin = Callable[[str], str]
"""Kind → why an installed plugin that may provide it is not loaded (installed after start, excluded, broken),
or "" (PluginHost.unloaded_plugin)."""


class _Builder:
    def __init__(self, channels: Mapping[str, RegisteredChannel], default_namespace: str,
                 unloaded_plugin: UnloadedPlugin, previous: "Snapshot | None"):
        self.channels = channels
        self.default_namespace = default_namespace
        self.unloaded_plugin = unloaded_plugin
        self.previous = previous
        self.good: dict[tuple[str, str, str], Document] = {}
        """Every object decoded, by (kind, namespace, name): what the next build falls back on."""
        self.kinds = {}
        self.blocks: dict[str, RegisteredChannel] = {}
        for name, registered in channels.items():
            self.kinds[registered.spec.config_kind] = (name, "config", registered.spec.config_schema)
            self.kinds[registered.spec.receiver_kind] = (name, "receiver", registered.spec.receiver_schema)
            if registered.spec.v2beta2 is not None:
                self.blocks[registered.spec.v2beta2.name] = registered
        self.v2: list[v2objects.Decoded] = []
        self.settings = v2objects.Settings(secret_namespace=default_namespace)
        self.notification_manager: Resource | None = None
        self.history_webhook: Resource | None = None
        self.routers: list[Resource] = []
        self.silences: list[Resource] = []
        self.problems: list[Problem] = []
        self.seen: dict[tuple[str, str, str], str] = {}
        self.configs: list[Resource] = []
        self.receivers: list[Resource] = []
        self.secrets: dict[tuple[str, str], Secret] = {}
        self.invalid_secrets: dict[tuple[str, str], str] = {}
        self.configmaps: dict[tuple[str, str], ConfigMap] = {}
        self.configmap_origins: dict[tuple[str, str], str] = {}
        self.origins: dict[str, str] = {}
        self.namespace_users: dict[str, set[str]] = defaultdict(set)
        self.cluster_users: set[str] = set()

    def ref_of(self, body: Any) -> str:
        return _ref_of(body, self.default_namespace)

    def problem(self, origin: str, obj: str, message: str) -> None:
        self.problems.append(Problem(origin, obj, message))

    def add(self, doc: Document) -> None:
        """Decode one document. One that stops validating while an earlier snapshot had a good version of the
        same object keeps that version in force (a half-finished edit must not take a receiver away), and its
        problems say so, naming the receivers affected."""
        before = len(self.problems)
        self.add_one(doc)
        identity = self.identity_of(doc.body)
        last_good = self.previous.documents.get(identity) if identity and self.previous else None
        if identity is None or identity in self.good or last_good is None or len(self.problems) == before:
            return
        fresh = self.problems[before:]
        del self.problems[before:]
        self.add_one(last_good)
        assert self.previous is not None
        note = f"; its last good version stays in force{_affected(self.previous, identity)}"
        self.problems += [attrs.evolve(p, message=p.message + note) for p in fresh]

    def identity_of(self, body: Any) -> tuple[str, str, str] | None:
        if not isinstance(body, Mapping) or not isinstance(body.get("metadata"), Mapping):
            return None
        kind, meta = body.get("kind"), body["metadata"]
        if not isinstance(kind, str) or not isinstance(meta.get("name"), str):
            return None
        return kind, str(meta.get("namespace") or self.default_namespace), meta["name"]

    def add_one(self, doc: Document) -> None:
        body = doc.body
        if body is None:
            return
        if not isinstance(body, Mapping):
            self.problem(doc.origin, "", "a manifest must be a YAML mapping with apiVersion, kind and metadata")
            return
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if not isinstance(kind, str) or not isinstance(api_version, str):
            self.problem(doc.origin, "", "missing apiVersion or kind @ $")
            return
        group, _, version = api_version.rpartition("/")
        try:
            if api_version == GROUP_VERSION:
                self.add_resource(doc, body, kind)
            elif api_version == v2beta2.GROUP_VERSION:
                self.add_v2(doc, body, kind)
            elif api_version == "v1":
                self.add_core(doc, body, kind)
            elif group == RBAC_GROUP:
                self.add_rbac(doc, body, kind, version)
            elif group == NOTIFICATION_GROUP:
                self.problem(doc.origin, self.ref_of(body), f"apiVersion {api_version} is not supported; use "
                                                            f"{v2beta2.GROUP_VERSION} or {GROUP_VERSION}")
            elif not group:
                self.problem(doc.origin, self.ref_of(body), f"unknown apiVersion {api_version!r}"
                             f"{suggestion(api_version, ['v1'])} @ $.apiVersion")
            elif near := near_group(group, (RBAC_GROUP, NOTIFICATION_GROUP)):
                self.problem(doc.origin, self.ref_of(body),
                             f"unknown API group {group!r} (did you mean {near!r}?) @ $.apiVersion")
            else:
                log.debug("%s: %s %s is not nmcore configuration, ignored", doc.origin, api_version, kind)
        except SchemaError as exc:
            for line in exc.problems:
                self.problem(doc.origin, self.ref_of(body), line)

    def add_core(self, doc: Document, body: Mapping[str, Any], kind: str) -> None:
        if kind == "Secret":
            self.add_secret(doc, body)
        elif kind == "ConfigMap":
            self.add_configmap(doc, structure(body, ConfigMap))
        elif kind == "List":  # what `kubectl get ... -o yaml > file` writes
            items = body.get("items")
            if not isinstance(items, list):
                self.problem(doc.origin, "", "a List needs an items array @ $.items")
                return
            for index, item in enumerate(items):
                self.add(Document(f"{doc.origin}:items[{index}]", item))
        elif kind not in CORE_KINDS:
            self.problem(doc.origin, self.ref_of(body),
                         f"unknown kind {kind!r} in apiVersion v1{suggestion(kind, CORE_KINDS)} @ $.kind")

    def add_rbac(self, doc: Document, body: Mapping[str, Any], kind: str, version: str) -> None:
        if version not in RBAC_VERSIONS:
            self.problem(doc.origin, self.ref_of(body),
                         f"apiVersion {RBAC_GROUP}/{version} is not served (Kubernetes 1.22 removed it), so this "
                         f"{kind} grants nothing; use {RBAC_GROUP}/v1 @ $.apiVersion")
        elif kind == "RoleBinding":
            self.add_rolebinding(doc, structure(body, RoleBinding))
        elif kind == "ClusterRoleBinding":
            binding = structure(body, ClusterRoleBinding)
            if self.claim(doc, kind, binding.metadata, cluster_scoped=True):
                self.cluster_users.update(binding.users())
        elif kind not in RBAC_KINDS:
            self.problem(doc.origin, self.ref_of(body),
                         f"unknown kind {kind!r} in {RBAC_GROUP}{suggestion(kind, RBAC_KINDS)} @ $.kind")

    def claim(self, doc: Document, kind: str, meta: ObjectMeta, *, cluster_scoped: bool = False) -> bool:
        """Record an object's identity; a second object with the same kind, namespace and name is an error."""
        identity = (kind, "" if cluster_scoped else meta.namespace or self.default_namespace, meta.name)
        if identity in self.seen:
            self.problem(doc.origin, "/".join(p for p in identity if p),
                         f"duplicate of the object in {self.seen[identity]}; ignored")
            return False
        self.seen[identity] = doc.origin
        if (written := self.identity_of(doc.body)) is not None:
            self.good[written] = doc
        return True

    def unclaim(self, doc: Document, kind: str, meta: ObjectMeta) -> None:
        """An object claimed, then found invalid after all."""
        self.seen.pop((kind, meta.namespace or self.default_namespace, meta.name), None)
        if (written := self.identity_of(doc.body)) is not None:
            self.good.pop(written, None)

    def namespace_of(self, meta: ObjectMeta) -> str:
        return meta.namespace or self.default_namespace

    def add_secret(self, doc: Document, body: Mapping[str, Any]) -> None:
        try:
            secret: Secret = structure(body, Secret)
            secret.check()
        except SchemaError as exc:
            self.invalid_secret(doc, body, exc.problems)
            return
        except ValueError as exc:
            self.invalid_secret(doc, body, [f"{exc} @ $.data"])
            return
        if self.claim(doc, "Secret", secret.metadata):
            self.secrets[(self.namespace_of(secret.metadata), secret.metadata.name)] = secret

    def invalid_secret(self, doc: Document, body: Mapping[str, Any], problems: list[str]) -> None:
        """Report a Secret that does not decode, and remember it, so that what names it hears it is invalid."""
        ref = self.ref_of(body)
        for line in problems:
            self.problem(doc.origin, ref, line)
        _, namespace, name = ref.split("/", 2)
        self.invalid_secrets.setdefault((namespace, name), doc.origin)

    def add_configmap(self, doc: Document, configmap: ConfigMap) -> None:
        if self.claim(doc, "ConfigMap", configmap.metadata):
            key = (self.namespace_of(configmap.metadata), configmap.metadata.name)
            self.configmaps[key] = configmap
            self.configmap_origins[key] = doc.origin

    def add_rolebinding(self, doc: Document, binding: RoleBinding) -> None:
        if self.claim(doc, "RoleBinding", binding.metadata):
            self.namespace_users[self.namespace_of(binding.metadata)].update(binding.users())

    def add_resource(self, doc: Document, body: Mapping[str, Any], kind: str) -> None:
        if kind not in self.kinds:
            known = ", ".join(sorted(self.kinds)) or "none"
            not_loaded = self.unloaded_plugin(kind)
            self.problem(doc.origin, self.ref_of(body), f"unknown kind {kind}: {not_loaded}" if not_loaded else
                         f"unknown kind {kind}: no installed channel plugin provides it (installed kinds: {known})"
                         + _missing_kind_hint(kind, list(self.kinds)))
            return
        _, role, schema = self.kinds[kind]
        extra = sorted(set(body) - {"apiVersion", "kind", "metadata", "spec", "status"})
        problems = [f"unknown field {k!r} @ $" for k in extra]
        meta = spec = alert_selector = None
        written = body.get("spec") or {}
        if role == "receiver" and isinstance(written, Mapping) and "alertSelector" in written:
            written = dict(written)
            try:  # the core's field on every receiver kind, as v2beta2's blocks have it
                alert_selector = structure(written.pop("alertSelector"), v2beta2.LabelSelector,
                                           "$.spec.alertSelector")
            except SchemaError as exc:
                problems += exc.problems
        try:
            meta = structure(body.get("metadata"), ObjectMeta, "$.metadata")
        except SchemaError as exc:
            problems += exc.problems
        try:
            spec = structure(written, schema, "$.spec")
        except SchemaError as exc:
            problems += exc.problems
        if problems or meta is None:
            for line in problems:
                self.problem(doc.origin, self.ref_of(body), line)
            return
        meta = attrs.evolve(meta, namespace=self.namespace_of(meta))
        if not self.claim(doc, kind, meta):
            return
        resource = Resource(kind=kind, metadata=meta, spec=spec, origin=doc.origin, alert_selector=alert_selector)
        self.origins[resource.ref] = doc.origin
        (self.configs if role == "config" else self.receivers).append(resource)

    def add_v2(self, doc: Document, body: Mapping[str, Any], kind: str) -> None:
        ref = f"{kind}/{meta.get('name', '?')}" if isinstance(meta := body.get("metadata"), Mapping) else kind
        if kind not in v2objects.KINDS:
            self.problem(doc.origin, ref, f"unknown kind {kind} in {v2beta2.GROUP_VERSION} (its kinds: "
                                          f"{', '.join(v2objects.KINDS)})" + _suggest(kind, list(v2objects.KINDS)))
            return
        found, problems = v2objects.decode(body, doc.origin, self.channels)
        for line in problems:
            self.problem(doc.origin, ref, line)
        if found and self.claim(doc, kind, found[0].metadata, cluster_scoped=True):
            self.v2 += found

    def finish_v2(self) -> None:
        """Now that every document is read: the NotificationManager in force decides who owns each object."""
        nm, extra = v2objects.notification_manager([d for d in self.v2 if d.kind == "NotificationManager"])
        for ignored, why in extra:
            self.problem(ignored.origin, f"NotificationManager/{ignored.metadata.name}", why)
        if nm is not None:
            self.notification_manager = v2objects.resource_of(nm, self.settings)
            self.settings = v2objects.Settings.of(self.notification_manager, self.default_namespace)
            self.check_notification_manager(self.notification_manager)
        for decoded in self.v2:
            resource = v2objects.resource_of(decoded, self.settings)
            self.origins[resource.ref] = resource.origin
            {"Config": self.configs, "Receiver": self.receivers, "Router": self.routers,
             "Silence": self.silences}.get(decoded.kind, []).append(resource)

    def check_notification_manager(self, nm: Resource) -> None:
        spec: v2beta2.NotificationManagerSpec = nm.spec
        ignored = v2objects.ignored_fields(spec)
        if ignored:
            self.problems.append(Problem(nm.origin, nm.ref, f"{', '.join('spec.' + f for f in ignored)}: do not apply "
                                         "to nmcore (they shape the Go operator's Deployment; nmcore is deployed by "
                                         "its own manifests)", notice=True))
        if spec.batch_max_wait == ORIGINAL_BATCH_MAX_WAIT:
            self.problems.append(Problem(nm.origin, nm.ref, f"spec.batchMaxWait {spec.batch_max_wait}: every alert "
                                         "waits up to a minute for its batch, as the Go original's CRD default (which "
                                         "its API server writes into the object) has it; set 0s to send each alert as "
                                         "it arrives", notice=True))
        webhook = self.blocks.get("webhook")
        if spec.history is not None and webhook is not None and webhook.spec.v2beta2 is not None:
            try:
                block = structure(spec.history.webhook, webhook.spec.v2beta2.receiver_schema, "$.spec.history.webhook")
            except SchemaError as exc:
                for line in exc.problems:
                    self.problem(nm.origin, nm.ref, line)
            else:
                self.settings = attrs.evolve(self.settings, history_url=getattr(block, "target_url", ""))
                self.history_webhook = Resource(kind=nm.kind, metadata=nm.metadata, spec=block, origin=nm.origin,
                                                block="history", scope="global")

    def check_default_fallback(self, targets: Mapping[str, Target]) -> None:
        """`spec.fallback.receiver` must name one global receiver that can send: then it is the default fallback."""
        nm = self.notification_manager
        name = nm.spec.fallback.receiver if nm is not None and nm.spec.fallback else ""
        if nm is None or not name:
            return
        where = "@ $.spec.fallback.receiver"
        found = [r for r in self.receivers if name in (r.ref, r.name, r.ref.split(":")[0], f"{r.kind}/{r.name}")]
        if not found:
            self.problem(nm.origin, nm.ref, f"names no receiver {name!r} {where}")
        elif len(found) > 1:
            self.problem(nm.origin, nm.ref, f"{name!r} names {len(found)} receivers: "
                                            f"{', '.join(sorted(r.ref for r in found))}; give one of them {where}")
        elif found[0].scope != "global":
            self.problem(nm.origin, nm.ref, f"{found[0].ref} is not a global receiver: a default fallback gets every "
                                            f"tenant's alerts, so it must be global {where}")
        elif found[0].ref not in targets:
            self.problem(nm.origin, nm.ref, f"{found[0].ref} cannot send, so nothing falls back to it {where}")
        else:
            self.settings = attrs.evolve(self.settings, default_fallback=found[0].ref)

    def check_credentials(self, resource: Resource, secrets: SecretIndex) -> str:
        """Report every Secret reference `resource` may not use, located; return the first problem, or ""."""
        found = credential_problems(resource, secrets)
        for located in found:
            self.problem(resource.origin, resource.ref, located)
        return found[0] if found else ""

    def channel_of(self, resource: Resource) -> str:
        if resource.block:
            return self.blocks[resource.block].spec.name
        return self.kinds[resource.kind][0]


def _priority(config: Resource) -> tuple[int, str]:
    """Lower `priority` label wins, as in the Go original; then the name, so the choice is stable."""
    try:
        return int(config.labels.get(PRIORITY_LABEL, "")), config.name
    except ValueError:
        return 1 << 30, config.name


@attrs.frozen
class ConfigIndex:
    """One channel's configs by owner, so choosing a receiver's config never scans every config."""

    by_user: Mapping[str, list[Resource]]
    untenanted: list[Resource]
    defaults: list[Resource]

    @classmethod
    def of(cls, configs: Iterable[Resource]) -> "ConfigIndex":
        by_user: dict[str, list[Resource]] = defaultdict(list)
        untenanted: list[Resource] = []
        for config in configs:
            if config.scope == "tenant":
                by_user[config.user].append(config)
            else:
                untenanted.append(config)
        defaults = sorted((c for c in untenanted if c.scope == "default"), key=_priority)
        return cls(by_user, untenanted, defaults)


def choose_config(receiver: Resource, index: ConfigIndex, channel: RegisteredChannel) -> tuple[Resource | None, str]:
    """The config a receiver sends with, or None and why.

    Candidates are the receiver's own tenant's configs (for a tenant receiver) or the configs no tenant owns
    (for a global one), plus the `type: default` configs. The selector picks among them; with no selector or
    no match, the default config is used. Another tenant's config is never a candidate.
    """
    if not channel.spec.config_required(receiver.spec):
        # It sends on its own (a webhook receiver with its own url): it must never carry a config's credentials
        # to a destination the config's owner did not choose.
        return None, ""
    own = index.by_user.get(receiver.user, []) if receiver.scope == "tenant" else index.untenanted
    selector = getattr(receiver.spec, "config_selector", None)
    note = ""
    if selector is not None:
        matched = sorted({c.ref: c for c in own + index.defaults if selector.matches(c.labels)}.values(),
                         key=_priority)
        if matched:
            return matched[0], ""
        note = f"its selector ({selector}) matches no eligible {channel.spec.config_kind}; "
    if index.defaults:
        return index.defaults[0], note
    return None, f"{note}no {channel.spec.config_kind} labelled type: default to fall back on"


def _scrubber(resources: Iterable[Resource], secrets: SecretIndex) -> Scrubber:
    """Every Secret value (each key that is text) and every credential the specs hold, in all their forms."""
    values: list[str] = []
    for secret in secrets.found.values():
        for key in secret.key_names():
            with contextlib.suppress(ValueError):  # binary (a keystore) is never sent as text, nor in a message
                values += forms(secret.value(key))
    for resource in resources:
        values += spec_secrets(resource.spec, lambda ref, r=resource: secrets.plain(r, ref))  # type: ignore[misc]
    return Scrubber(values)


def _scrubbed(problem: Problem, scrubber: Scrubber) -> Problem:
    message = scrubber.scrub(problem.message)
    return problem if message == problem.message else attrs.evolve(problem, message=message)


@gc_paused()
def build_snapshot(
    documents: Iterable[Document],
    channels: Mapping[str, RegisteredChannel],
    *,
    default_namespace: str = DEFAULT_NAMESPACE,
    problems: Iterable[Problem] = (),
    cluster: str = "",
    unloaded_plugin: UnloadedPlugin = lambda kind: "",
    previous: Snapshot | None = None,
) -> Snapshot:
    """Decode and index `documents`; `problems` found before decoding (YAML syntax) are kept in the result.
    `cluster` (nm's `--cluster`) names this cluster, before the NotificationManager's `options.global.cluster`.
    With `previous` (the snapshot in force), an object that no longer validates keeps its version there."""
    builder = _Builder(channels, default_namespace, unloaded_plugin, previous)
    builder.problems.extend(problems)
    for doc in documents:
        builder.add(doc)
    builder.finish_v2()
    if cluster:
        builder.settings = attrs.evolve(builder.settings, cluster=cluster)
    history = [builder.history_webhook] if builder.history_webhook is not None else []
    claims = secret_claims(builder.configs + builder.receivers + history, builder.settings.secret_namespace)
    secrets = SecretIndex(builder.secrets, builder.invalid_secrets, builder.settings.secret_namespace, claims)
    refused: dict[str, str] = {}
    for resource in builder.configs + builder.receivers:
        if problem := builder.check_credentials(resource, secrets):
            refused[resource.ref] = problem

    configs_by_channel: dict[str, list[Resource]] = defaultdict(list)
    v2_configs: dict[str, list[Resource]] = defaultdict(list)
    for each in builder.configs:
        (v2_configs if each.block else configs_by_channel)[builder.channel_of(each)].append(each)
        if not each.block and each.scope == "tenant" and not each.user:
            builder.problem(each.origin, each.ref, "labelled type: tenant but has no user label")

    indexes = {name: ConfigIndex.of(configs_by_channel[name]) for name in channels}
    targets: dict[str, Target] = {}
    skipped: dict[str, str] = {}
    global_targets: list[Target] = []
    tenant_targets: dict[str, list[Target]] = defaultdict(list)
    for receiver in sorted(builder.receivers, key=lambda r: r.ref):
        channel = builder.channel_of(receiver)
        config: Resource | None = None
        if receiver.block:
            config, reason = _v2_config(receiver, v2_configs[channel], channels[channel], builder.settings)
            if reason == DISABLED:
                skipped[receiver.ref] = reason
                continue
        elif receiver.scope == "tenant" and not receiver.user:
            reason = "labelled type: tenant but has no user label, so it belongs to nobody"
        elif receiver.scope not in ("tenant", "global"):
            reason = "has neither type: tenant (with a user label) nor type: global, so it gets nothing"
        else:
            config, reason = choose_config(receiver, indexes[channel], channels[channel])
        sendable = receiver.scope in ("tenant", "global") and (config is not None or not reason)
        if sendable and (refusal := _credential_refusal(receiver, config, refused)):
            sendable, reason = False, refusal
        if sendable:
            if reason:
                using = config.ref if config else "no config"
                builder.problem(receiver.origin, receiver.ref, f"{reason}using {using}")
            target = targets[receiver.ref] = Target(receiver, config, channel, credentials_of(receiver, config))
            (global_targets.append(target) if receiver.scope == "global"
             else tenant_targets[receiver.user].append(target))
            continue
        skipped[receiver.ref] = reason
        builder.problem(receiver.origin, receiver.ref, f"will not send: {reason}")

    builder.check_default_fallback(targets)
    accessible = set(builder.cluster_users).union(*builder.namespace_users.values())
    access_warnings = tuple(
        Problem(target.receiver.origin, ref, f"user {target.tenant!r} can access no namespace: no RoleBinding or "
                                             "ClusterRoleBinding names them as a User, so this receiver gets nothing")
        for ref, target in sorted(targets.items()) if target.tenant and target.tenant not in accessible)

    scrubber = _scrubber(builder.configs + builder.receivers + history, secrets)
    policy = builder.notification_manager.spec.route_policy if builder.notification_manager else "All"
    compiled = compile_rules(builder.routers, builder.silences, targets, policy)
    _check_rules(builder, compiled)

    return Snapshot(
        channels=channels,
        receivers=tuple(builder.receivers),
        configs=tuple(builder.configs),
        global_targets=tuple(global_targets),
        tenant_targets={user: tuple(ts) for user, ts in tenant_targets.items()},
        targets=targets,
        skipped={ref: scrubber.scrub(why) for ref, why in skipped.items()},
        problems=tuple(_scrubbed(p, scrubber) for p in builder.problems),
        secrets=secrets,
        scrubber=scrubber,
        namespace_users={ns: frozenset(users) for ns, users in builder.namespace_users.items()},
        configmaps=builder.configmaps,
        configmap_origins=builder.configmap_origins,
        settings=builder.settings,
        routers=tuple(builder.routers),
        silences=tuple(builder.silences),
        notification_manager=builder.notification_manager,
        history_target=Target(history[0], None, "webhook", credentials_of(history[0], None)) if history else None,
        cluster_users=frozenset(builder.cluster_users),
        access_warnings=access_warnings,
        documents=builder.good,
        rules=compiled,
    )


def _check_rules(builder: _Builder, compiled: Rules) -> None:
    """Routers that reach no receiver and Silences that belong to nobody are valid, and surely not meant."""
    for router in compiled.router_list:
        if not router.receivers:
            builder.problems.append(Problem(router.router.origin, router.router.ref, "names no receiver that can "
                                            "send, so it adds nothing", notice=True))
    for silence in builder.silences:
        if silence.scope not in ("global", "tenant"):
            builder.problem(silence.origin, silence.ref, "mutes nothing: its labels make it neither global nor a "
                            f"tenant's ({builder.settings.describe_owner_rules()})")


DISABLED = "disabled (enabled: false)"


def _credential_refusal(receiver: Resource, config: Resource | None, refused: Mapping[str, str]) -> str:
    """Why a receiver cannot send because of a Secret it or its config names ("" if it can)."""
    if receiver.ref in refused:
        return refused[receiver.ref]
    if config is not None and config.ref in refused:
        return f"its config {config.ref} cannot be used: {refused[config.ref]}"
    return ""


def credentials_of(receiver: Resource, config: Resource | None) -> Mapping[SecretRef, Resource]:
    """Each Secret reference of the receiver and its config → the object that names it (the receiver first)."""
    return {ref: holder for holder in (config, receiver) if holder is not None for _, ref in secret_refs(holder.spec)}


def _v2_config(receiver: Resource, configs: list[Resource], channel: RegisteredChannel,
               settings: v2objects.Settings) -> tuple[Resource | None, str]:
    """A v2beta2 receiver block's config, or None and why it cannot send ("" when it needs none)."""
    if not receiver.spec.enabled:
        return None, DISABLED
    if receiver.scope not in ("tenant", "global"):
        return None, f"its labels make it neither global nor a tenant's ({settings.describe_owner_rules()}), " \
                     "so it gets nothing"
    if not channel.spec.config_required(receiver.spec):
        return None, ""
    config = v2objects.choose_config(receiver, configs)
    if config is not None:
        return config, ""
    selector = getattr(receiver.spec, "config_selector", None)
    which = f"matching its selector ({selector}) " if selector is not None and receiver.scope == "global" else ""
    own = "" if receiver.scope == "global" else f"of tenant {receiver.user!r} or "
    return None, f"no {receiver.block} Config {which}{own}labelled as a default config " \
                 f"({settings.default_config_selector})"
