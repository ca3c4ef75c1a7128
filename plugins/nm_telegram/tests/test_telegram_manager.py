"""End to end through nmcore's Manager: alerts in, Telegram messages out, tenants kept apart, flood control
waited out by the core's retry without duplicates."""

import re
import subprocess
import sys

import nm_telegram
import pytest

from nmcore import AlertGroup, Manager, ManagerSettings, PluginHost, RetryPolicy
from nmcore.testing import alert, rolebinding_yaml

pytestmark = pytest.mark.anyio

TENANT = "TelegramReceiver/kubesphere-monitoring-system/test-user-telegram"
GLOBAL = "TelegramReceiver/kubesphere-monitoring-system/global-telegram"
ROLEBINDING = rolebinding_yaml("test-user", "demo")


def pods(telegram, chat) -> list[str]:
    return re.findall(r"pod = (pod-[\w-]+)", "\n".join(telegram.in_chat(chat)))


async def test_tenants_get_their_namespaces_and_the_global_chat_everything(telegram, seed):
    alerts = (alert(namespace="demo", pod="pod-demo"), alert(namespace="private", pod="pod-private"),
              alert(alertname="NodeDown", pod="pod-cluster"))
    async with Manager.from_yaml(seed(telegram.url) + ROLEBINDING, plugins=[nm_telegram]) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=10)
    assert {(o.receiver, o.ok) for o in manager.outcomes} == {(TENANT, True), (GLOBAL, True)}
    assert pods(telegram, "@alert_room") == ["pod-demo"]
    assert sorted(pods(telegram, "@global_room")) == ["pod-cluster", "pod-demo", "pod-private"]


async def test_flood_control_is_waited_out_by_the_core_and_nothing_is_sent_twice(telegram, seed):
    telegram.group_per_minute, telegram.minute = 3, 0.5
    alerts = tuple(alert(namespace="demo", pod=f"pod-{i:03d}") for i in range(200))
    retry = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.0)
    async with Manager.from_yaml(seed(telegram.url) + ROLEBINDING, plugins=[nm_telegram], settings=ManagerSettings(retry=retry)) as manager:
        await manager.submit(AlertGroup(alerts=alerts))
        await manager.drain(timeout=30)
    [outcome] = [o for o in manager.outcomes if o.receiver == TENANT]
    assert outcome.ok and outcome.attempts > 1
    assert pods(telegram, "@alert_room") == [f"pod-{i:03d}" for i in range(200)]


def test_the_installed_plugin_is_found_and_nm_plugins_lists_its_limits(monkeypatch):
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    registered = PluginHost().channels["telegram"]
    assert registered.plugin.distribution == "nm-telegram"
    assert registered.spec.limits.max_message_chars == 4096
    listing = subprocess.run([sys.executable, "-m", "nmcore", "plugins"], capture_output=True, text=True, timeout=60)
    lines = listing.stdout.splitlines()
    [listed] = [i for i, text in enumerate(lines) if text.startswith("telegram ")]
    assert "nm-telegram" in lines[listed] and "up to 4,096 characters per message" in lines[listed + 1]
