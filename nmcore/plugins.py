"""The plugin host: a typed façade over one pluggy manager, loading plugins from the `nmcore` entry points.

A plugin that fails to import, or whose registration raises, is logged with its name and version and
skipped; the others load. `NMCORE_PLUGINS=a,b` allows only those entry points (empty: none),
`NMCORE_DISABLE_PLUGINS=a,b` blocks them. Built-ins register through the same hooks as any plugin.
"""

import importlib.metadata
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import pluggy

from nmcore import hookspecs
from nmcore.alerts import Alert
from nmcore.channel import ChannelSpec, PluginInfo, RegisteredChannel
from nmcore.errors import PluginError
from nmcore.resources import Resource
from nmcore.tenancy import TenantOptions, TenantResolver

log = logging.getLogger(__name__)

ALLOW_ENV = "NMCORE_PLUGINS"
BLOCK_ENV = "NMCORE_DISABLE_PLUGINS"

DEFAULT_PLUGINS = ("nmcore.builtins.webhook", "nmcore.builtins.tenants")
"""Modules registered as plugins by name (as llm does), so the core never imports the built-ins it hosts."""


def _core_version() -> str:
    """nmcore's installed version; a checkout run without installing has none."""
    try:
        return importlib.metadata.version("nmcore")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _split_env(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _named_for(ep: importlib.metadata.EntryPoint, channel: str) -> bool:
    """Whether an entry point looks like channel `teams`'s: named `teams`, or from a distribution `nm-teams`."""
    dist = (ep.dist.name if ep.dist else "").lower().replace("_", "-").removeprefix("nm-")
    return channel in (ep.name.lower(), dist)


class PluginHost:
    def __init__(self, *, load_entrypoints: bool = True, plugins: Iterable[object] = ()):
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._info: dict[str, PluginInfo] = {}
        self._channels: dict[str, RegisteredChannel] | None = None
        self.failures: list[PluginInfo] = []
        self._excluded: set[str] = set()
        self._seen: set[str] | None = None
        """The entry points there were when this host loaded them (None: it loaded none)."""
        if load_entrypoints:
            self._load_entrypoints()
        for plugin in plugins:
            self.register(plugin)
        self._register_defaults()
        self._pm.check_pending()

    def register(self, plugin: object, name: str | None = None) -> None:
        registered = self._pm.register(plugin, name=name) or self._pm.get_name(plugin) or repr(plugin)
        self._info.setdefault(registered, PluginInfo(registered, "(in process)", ""))
        self._channels = None

    def _register_defaults(self) -> None:
        """The built-ins: modules with hook implementations, registered the way any plugin is."""
        for name in DEFAULT_PLUGINS:
            self._pm.register(importlib.import_module(name), name=name)
            self._info[name] = PluginInfo(name, "nmcore", _core_version())

    def _load_entrypoints(self) -> None:
        allowed, blocked = _split_env(ALLOW_ENV), _split_env(BLOCK_ENV) or set()
        self._seen = set()
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
            self._seen.add(ep.name)
            if (allowed is not None and ep.name not in allowed) or ep.name in blocked:
                log.info("plugin %s not loaded: excluded by %s/%s", ep.name, ALLOW_ENV, BLOCK_ENV)
                self._excluded.add(ep.name)
                continue
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            try:
                plugin = ep.load()
                self._pm.register(plugin, name=ep.name)
            except Exception as exc:  # one broken plugin must not stop the others
                info = PluginInfo(ep.name, dist, version, f"{type(exc).__name__}: {exc}")
                self.failures.append(info)
                log.error("plugin %s (%s %s) failed to load, skipped: %s", ep.name, dist, version, info.error)
                continue
            self._info[ep.name] = PluginInfo(ep.name, dist, version)

    @property
    def channels(self) -> Mapping[str, RegisteredChannel]:
        """Channel name → spec, collected from every plugin; a name claimed twice keeps the first and logs."""
        if self._channels is None:
            self._channels = self._collect_channels()
        return self._channels

    def _collect_channels(self) -> dict[str, RegisteredChannel]:
        channels: dict[str, RegisteredChannel] = {}
        kinds: dict[str, str] = {}
        for impl in reversed(self._pm.hook.nmcore_register_channels.get_hookimpls()):
            info = self._info.get(impl.plugin_name, PluginInfo(impl.plugin_name, "?", "?"))

            def register(spec: ChannelSpec, info: PluginInfo = info) -> None:
                if not isinstance(spec, ChannelSpec):
                    raise PluginError(f"register() takes a ChannelSpec, got {type(spec).__name__}")
                for kind in (spec.config_kind, spec.receiver_kind):
                    if kind in kinds:
                        raise PluginError(f"kind {kind} is already registered by channel {kinds[kind]!r}")
                if spec.name in channels:
                    first = channels[spec.name].plugin
                    raise PluginError(
                        f"channel {spec.name!r} is already registered by {first.name} ({first.distribution})")
                channels[spec.name] = RegisteredChannel(spec, info)
                kinds.update({spec.config_kind: spec.name, spec.receiver_kind: spec.name})

            try:
                impl.function(register=register)
            except Exception as exc:  # isolate a plugin whose registration fails
                failure = attrs.evolve(info, error=f"{type(exc).__name__}: {exc}")
                self.failures.append(failure)
                log.error("plugin %s (%s %s) failed to register its channels, skipped: %s",
                          info.name, info.distribution, info.version, failure.error)
        return channels

    def unloaded_plugin(self, kind: str) -> str:
        """Why `kind` may be missing although a plugin for it is installed: installed after this host loaded its
        plugins (the answer is a restart, not `pip install`), excluded, or broken. "" when nothing says so."""
        if self._seen is None:
            return ""
        channel = kind.removesuffix("Config").removesuffix("Receiver").lower()
        importlib.invalidate_caches()  # see distributions installed since
        for ep in importlib.metadata.entry_points(group=hookspecs.PROJECT):
            if not _named_for(ep, channel):
                continue
            where = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "?"
            if ep.name not in self._seen:
                return (f"plugin {ep.name!r} ({where}) was installed after nm started and is not loaded yet: "
                        "restart nm to load it")
            if ep.name in self._excluded:
                return f"plugin {ep.name!r} ({where}) is installed but excluded by {ALLOW_ENV}/{BLOCK_ENV}"
        for failed in self.failures:
            if failed.name.lower() == channel:
                return f"plugin {failed.name!r} ({failed.distribution} {failed.version}) failed to load: {failed.error}"
        return ""

    def tenant_resolver(self, name: str, options: TenantOptions | None = None) -> TenantResolver:
        resolver = self._pm.hook.nmcore_tenant_resolver(name=name, options=options or TenantOptions())
        if resolver is None:
            raise PluginError(f"no tenant resolver called {name!r} (built in: rbac, kubesphere, namespace)")
        return resolver

    @property
    def has_route_filters(self) -> bool:
        return bool(self._pm.hook.nmcore_route_filter.get_hookimpls())

    def route_filter(self, alert: Alert, receiver: Resource, tenant: str) -> str | None:
        """The first reason any plugin gives to withhold the alert, or None."""
        reasons: list[Any] = self._pm.hook.nmcore_route_filter(alert=alert, receiver=receiver, tenant=tenant)
        return next((r for r in reasons if r), None)

    def plugins(self) -> list[PluginInfo]:
        return sorted(self._info.values(), key=lambda p: p.name) + self.failures
