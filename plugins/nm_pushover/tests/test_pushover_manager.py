"""End to end through nmcore's Manager: alerts in, pushes out, tenants kept apart."""

import re
import subprocess
import sys

import nm_pushover
import pytest

from nmcore import AlertGroup, Manager, PluginHost
from nmcore.testing import alert, rolebinding_yaml

pytestmark = pytest.mark.anyio

TENANT = "PushoverReceiver/kubesphere-monitoring-system/test-user-pushover"
GLOBAL = "PushoverReceiver/kubesphere-monitoring-system/global-pushover"
USER, OTHER_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
ROLEBINDING = rolebinding_yaml("test-user", "demo")


async def test_tenants_get_their_namespaces_and_the_global_profile_everything(pushover, seed):
    alerts = (alert(namespace="demo", pod="pod-demo"), alert(namespace="private", pod="pod-private"),
              alert(alertname="NodeDown", pod="pod-cluster"))
    async with Manager.from_yaml(seed(pushover.url) + ROLEBINDING, plugins=[nm_pushover]) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=10)
    assert {(o.receiver, o.ok) for o in manager.outcomes} == {(TENANT, True), (GLOBAL, True)}

    def pods(user: str) -> list[str]:
        return sorted(re.findall(r"pod = (pod-\w+)", "\n".join(p.message for p in pushover.to(user))))

    assert pods(USER) == ["pod-demo"]
    assert pods(OTHER_USER) == ["pod-cluster", "pod-demo", "pod-private"]


def test_the_installed_plugin_is_found_and_nm_plugins_lists_its_limits(monkeypatch):
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    registered = PluginHost().channels["pushover"]
    assert registered.plugin.distribution == "nm-pushover"
    assert registered.spec.limits.max_message_chars == 1024
    listing = subprocess.run([sys.executable, "-m", "nmcore", "plugins"], capture_output=True, text=True, timeout=60)
    lines = listing.stdout.splitlines()
    [listed] = [i for i, text in enumerate(lines) if text.startswith("pushover ")]
    assert "nm-pushover" in lines[listed] and "up to 1,024 characters per message" in lines[listed + 1]
