"""End to end through nmcore's Manager: alerts in, Adaptive Cards out, tenants kept apart, throttling waited
out by the core's retry without duplicates."""

import re
import subprocess
import sys

import nm_teams
import pytest

from nmcore import AlertGroup, Manager, ManagerSettings, PluginHost, RetryPolicy
from nmcore.testing import alert, rolebinding_yaml

pytestmark = pytest.mark.anyio

TENANT = "TeamsReceiver/kubesphere-monitoring-system/test-user-teams"
GLOBAL = "TeamsReceiver/kubesphere-monitoring-system/global-teams"
OTHER = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ROLEBINDING = rolebinding_yaml("test-user", "demo")


async def test_tenants_get_their_namespaces_and_the_global_workflow_everything(teams, seed):
    teams.workflows[OTHER] = "other-sig"
    alerts = (alert(namespace="demo", pod="pod-demo"), alert(namespace="private", pod="pod-private"),
              alert(alertname="NodeDown", pod="pod-cluster"))
    yaml_text = seed(teams.webhook_url(), global_webhook_url=teams.webhook_url(OTHER)) + ROLEBINDING
    async with Manager.from_yaml(yaml_text, plugins=[nm_teams]) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=10)
    assert {(o.receiver, o.ok) for o in manager.outcomes} == {(TENANT, True), (GLOBAL, True)}
    pods = sorted(sorted(re.findall(r"pod: (pod-\w+)", "\n".join(c.texts))) for c in teams.posted)
    assert pods == [["pod-cluster", "pod-demo", "pod-private"], ["pod-demo"]]


async def test_throttling_is_waited_out_by_the_core_and_nothing_is_posted_twice(teams, seed):
    teams.throttle, teams.throttle_after = 1, 1
    alerts = tuple(alert(namespace="demo", pod=f"pod-{i:03d}", note="n" * 200) for i in range(150))
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.0)
    async with Manager.from_yaml(seed(teams.webhook_url()) + ROLEBINDING, plugins=[nm_teams], settings=ManagerSettings(retry=retry)) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=30)
    assert all(o.ok for o in manager.outcomes) and sorted(o.attempts for o in manager.outcomes) == [1, 2]
    tenant_pods = re.findall(r"pod: (pod-\d+)", "\n".join(t for c in teams.posted for t in c.texts))
    assert sorted(tenant_pods) == sorted([f"pod-{i:03d}" for i in range(150)] * 2)  # both receivers, each once


def test_the_installed_plugin_is_found_and_nm_plugins_lists_its_limits(monkeypatch):
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    registered = PluginHost().channels["teams"]
    assert registered.plugin.distribution == "nm-teams"
    assert registered.spec.limits.max_message_bytes == 28_000
    listing = subprocess.run([sys.executable, "-m", "nmcore", "plugins"], capture_output=True, text=True, timeout=60)
    lines = listing.stdout.splitlines()
    [listed] = [i for i, text in enumerate(lines) if text.startswith("teams ")]
    assert "nm-teams" in lines[listed] and "up to 28,000 bytes per message" in lines[listed + 1]
