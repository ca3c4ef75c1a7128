"""End to end through nmcore's Manager: alerts in, Discord messages out, tenants kept apart, a webhook's rate
limit waited out by the core's retry without duplicates."""

import re
import subprocess
import sys

import nm_discord
import pytest

from nmcore import AlertGroup, Manager, ManagerSettings, PluginHost, RetryPolicy
from nmcore.testing import alert, rolebinding_yaml

pytestmark = pytest.mark.anyio

TENANT = "DiscordReceiver/kubesphere-monitoring-system/test-user-discord"
GLOBAL = "DiscordReceiver/kubesphere-monitoring-system/global-discord"
ROLEBINDING = rolebinding_yaml("test-user", "demo")
OTHER = "1045315993465099999"


def pods(posted) -> list[str]:
    return re.findall(r"pod: `(pod-[\w-]+)`", "\n".join(p.text for p in posted))


async def test_tenants_get_their_namespaces_and_the_global_webhook_everything(discord, seed):
    alerts = (alert(namespace="demo", pod="pod-demo"), alert(namespace="private", pod="pod-private"),
              alert(alertname="NodeDown", pod="pod-cluster"))
    yaml_text = seed(discord.webhook_url(), global_webhook_url=discord.webhook_url(OTHER)) + ROLEBINDING
    async with Manager.from_yaml(yaml_text, plugins=[nm_discord]) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=10)
    assert {(o.receiver, o.ok) for o in manager.outcomes} == {(TENANT, True), (GLOBAL, True)}
    tenant = [p for p in discord.posted if "embeds" not in p.body]
    assert pods(tenant) == ["pod-demo"]
    assert sorted(pods([p for p in discord.posted if "embeds" in p.body])) == ["pod-cluster", "pod-demo", "pod-private"]


async def test_the_webhook_rate_limit_is_waited_out_by_the_core_and_nothing_is_posted_twice(discord, seed):
    discord.per_window, discord.window = 3, 0.3
    alerts = tuple(alert(namespace="demo", pod=f"pod-{i:03d}") for i in range(100))
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.0)
    async with Manager.from_yaml(seed(discord.webhook_url()) + ROLEBINDING, plugins=[nm_discord],
                                 settings=ManagerSettings(retry=retry)) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=30)
    [outcome] = [o for o in manager.outcomes if o.receiver == TENANT]
    assert outcome.ok and outcome.attempts > 1
    assert pods([p for p in discord.posted if "embeds" not in p.body]) == [f"pod-{i:03d}" for i in range(100)]


def test_the_installed_plugin_is_found_and_nm_plugins_lists_its_limits(monkeypatch):
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    registered = PluginHost().channels["discord"]
    assert registered.plugin.distribution == "nm-discord"
    assert registered.spec.limits.max_message_chars == 2000
    listing = subprocess.run([sys.executable, "-m", "nmcore", "plugins"], capture_output=True, text=True, timeout=60)
    lines = listing.stdout.splitlines()
    [listed] = [i for i, text in enumerate(lines) if text.startswith("discord ")]
    assert "nm-discord" in lines[listed] and "up to 2,000 characters per message" in lines[listed + 1]
