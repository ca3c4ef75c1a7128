"""The plugin host: entry-point discovery, a broken plugin isolated, allow/block lists, the extension hooks."""

import logging
from pathlib import Path

import anyio
import pytest

from nmcore import hookimpl
from nmcore.alerts import Alert, AlertGroup
from nmcore.builtins.webhook import SPEC as WEBHOOK
from nmcore.plugins import PluginError, PluginHost
from nmcore.routing import Router
from nmcore.testing import alert, plugin_host, snapshot_from_yaml

GOOD_PLUGIN = '''
import attrs
from nmcore.sdk import ChannelSpec, LabelSelector, hookimpl

@attrs.frozen(kw_only=True)
class PagerConfig:
    url: str

@attrs.frozen(kw_only=True)
class PagerReceiver:
    config_selector: LabelSelector | None = None

@hookimpl
def nmcore_register_channels(register):
    register(ChannelSpec(name="pager", config_kind="PagerConfig", receiver_kind="PagerReceiver",
                         config_schema=PagerConfig, receiver_schema=PagerReceiver, make_sender=lambda ctx: None))
'''


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two third-party distributions on sys.path: one good, one whose plugin fails to import."""
    for dist, module, source in (("nm_pager", "nm_pager", GOOD_PLUGIN), ("nm_broken", "nm_broken", "import nonexistent_lib\n")):
        info = tmp_path / f"{dist}-1.2.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.replace('_', '-')}\nVersion: 1.2.3\n")
        (info / "entry_points.txt").write_text(f"[nmcore]\n{module.removeprefix('nm_')} = {module}\n")
        (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    return tmp_path


def test_third_party_plugins_load_and_a_broken_one_is_skipped(installed: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        host = PluginHost()
    assert host.channels["pager"].plugin.distribution == "nm-pager"
    assert host.channels["pager"].plugin.version == "1.2.3"
    assert host.channels["webhook"].plugin.distribution == "nmcore"
    [failure] = host.failures
    assert (failure.name, failure.distribution, failure.version) == ("broken", "nm-broken", "1.2.3")
    assert "No module named 'nonexistent_lib'" in failure.error
    assert "plugin broken (nm-broken 1.2.3) failed to load, skipped" in caplog.text


def test_allow_list_and_block_list(installed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NMCORE_PLUGINS", "pager")
    assert "pager" in PluginHost().channels and PluginHost().failures == []
    monkeypatch.setenv("NMCORE_PLUGINS", "")
    assert set(PluginHost().channels) == {"webhook"}
    monkeypatch.delenv("NMCORE_PLUGINS")
    monkeypatch.setenv("NMCORE_DISABLE_PLUGINS", "pager,broken")
    host = PluginHost()
    assert "pager" not in host.channels and host.failures == []


def test_a_second_plugin_claiming_a_channel_is_refused_and_named() -> None:
    class Impostor:
        @hookimpl
        def nmcore_register_channels(self, register) -> None:  # type: ignore[no-untyped-def]
            register(WEBHOOK)

    host = plugin_host([Impostor()])
    assert host.channels["webhook"].plugin.distribution == "nmcore"
    [failure] = host.failures
    assert "kind WebhookConfig is already registered by channel 'webhook'" in failure.error


def test_a_plugin_can_supply_its_own_tenant_resolver() -> None:
    class Directory:
        name = "directory"

        async def users(self, namespace: str, snapshot, cluster: str = "") -> frozenset[str]:  # type: ignore[no-untyped-def]
            return frozenset({"oncall"}) if namespace.startswith("prod-") else frozenset()

    class DirectoryPlugin:
        @hookimpl
        def nmcore_tenant_resolver(self, name, options):  # type: ignore[no-untyped-def]
            return Directory() if name == "directory" else None

    host = plugin_host([DirectoryPlugin()])
    snapshot = snapshot_from_yaml("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: oncall, labels: {type: tenant, user: oncall}}
spec: {url: http://sink}
""")
    router = Router(host, host.tenant_resolver("directory"))
    group = AlertGroup(alerts=(alert(namespace="prod-db"), alert(namespace="dev")))
    [routed] = anyio.run(router.route, group, snapshot)
    assert [a.namespace for a in routed.notification.alerts] == ["prod-db"]
    with pytest.raises(PluginError, match="no tenant resolver called 'ldap'"):
        host.tenant_resolver("ldap")


def test_a_route_filter_can_narrow_routing_and_explain_says_why() -> None:
    class MuteInfo:
        @hookimpl
        def nmcore_route_filter(self, alert: Alert, receiver, tenant: str) -> str | None:  # type: ignore[no-untyped-def]
            return "severity info is muted" if alert.labels.get("severity") == "info" else None

    host = plugin_host([MuteInfo()])
    snapshot = snapshot_from_yaml("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: everyone, labels: {type: global}}
spec: {url: http://sink}
""")
    router = Router(host, host.tenant_resolver("rbac"))
    group = AlertGroup(alerts=(alert(severity="info"), alert(severity="critical")))
    [routed] = anyio.run(router.route, group, snapshot)
    assert [a.labels["severity"] for a in routed.notification.alerts] == ["critical"]
    explained = anyio.run(router.explain, group.alerts[0], snapshot)
    assert explained["not_receiving"][0]["reason"] == "filtered by a plugin: severity info is muted"
