"""End to end with the real Prometheus Alertmanager: a Silence with a schedule mutes only inside its window.

nm serves its real HTTP intake in this process with a clock the test sets (no sleeping until 22:00); the real
Alertmanager posts its groups there; the webhook receivers send to the real sink.
"""

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from nmcore.manager import Manager
from nmcore.sources import StaticSource
from nmcore.testing import plugin_host
from tests.test_alertmanager_e2e import ALERTMANAGER, Process, alert, alertmanager_posting_to, until

pytestmark = pytest.mark.alertmanager

if not Path(ALERTMANAGER).exists():
    pytest.skip(f"{ALERTMANAGER} not found: apt-get install prometheus-alertmanager", allow_module_level=True)

MANIFESTS = """
apiVersion: notification.kubesphere.io/v2beta2
kind: Receiver
metadata: {name: ops, labels: {type: global}}
spec: {webhook: {url: "SINK/ops"}}
---
apiVersion: notification.kubesphere.io/v2beta2
kind: Silence
metadata: {name: nightly-maintenance, labels: {type: global}}
spec:
  matcher: {matchLabels: {namespace: ns-a}}
  schedule: "0 22 * * *"
  duration: 8h
  timeZone: UTC
"""


def moment(text: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(text).timestamp()


def test_a_scheduled_silence_mutes_only_inside_its_window(sink: Any, tmp_path: Path) -> None:
    clock = [moment("2026-03-01T12:00:00+00:00")]
    manager = Manager(StaticSource.from_yaml(MANIFESTS.replace("SINK", sink.url("").rstrip("/"))),
                      host=plugin_host(), clock=lambda: clock[0])

    def keys() -> list[str]:
        return sorted(a["labels"]["key"] for a in sink.alerts_by_path().get("/ops", []))

    async def until_received(wanted: set[str], am: Process) -> None:
        await until(lambda: wanted <= set(keys()), am)

    async def scenario() -> None:
        async with (alertmanager_posting_to(manager, tmp_path) as am,
                    httpx.AsyncClient(base_url=am.url, timeout=5) as client):
            async def push(*alerts: dict) -> None:
                assert (await client.post("/api/v2/alerts", json=list(alerts))).status_code == 200

            await push(alert("noon", "Noon", "ns-a"))  # 12:00 UTC: outside the window
            await until_received({"noon"}, am)
            clock[0] = moment("2026-03-01T23:00:00+00:00")  # inside 22:00 + 8h
            # one Alertmanager group (same alertname), so one POST: the ns-b alert's arrival proves the
            # ns-a one was there and muted
            await push(alert("night-a", "Night", "ns-a"), alert("night-b", "Night", "ns-b"))
            await until_received({"night-b"}, am)
            clock[0] = moment("2026-03-02T06:00:00+00:00")  # the window closed at 06:00
            await push(alert("morning", "Morning", "ns-a"))
            await until_received({"morning"}, am)
            await manager.drain(10)

    anyio.run(scenario)
    assert keys() == ["morning", "night-b", "noon"]
