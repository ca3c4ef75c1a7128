"""Receivers that hang never delay the others: each destination has its own connections, over real sockets.

70 receivers of one tenant point at a server that accepts every request and never answers; with four sends in
flight each they want 280 connections. Healthy receivers of another tenant must get all their notifications
while every one of those hanging sends is still waiting: no healthy send may queue behind them for a connection.
"""

from collections.abc import AsyncIterator

import anyio
import pytest
from aiohttp import web

from nmcore.alerts import Alert, AlertGroup, fingerprint_of
from nmcore.manager import Manager
from nmcore.testing import serving
from tests.conftest import WebhookSink

pytestmark = pytest.mark.anyio
HANGING, HEALTHY, NOTIFICATIONS = 70, 20, 4


class Hanging:
    """Accepts every request and holds it until released."""

    def __init__(self) -> None:
        self.started = 0
        self.release = anyio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        self.started += 1
        await self.release.wait()
        return web.Response(text="late")


@pytest.fixture
async def hanging() -> AsyncIterator[tuple[Hanging, str]]:
    server = Hanging()
    app = web.Application()
    app.router.add_post("/{tail:.*}", server.handle)
    async with serving(app) as base:
        yield server, base
        server.release.set()


def tenant(user: str, namespace: str, receivers: list[tuple[str, str]]) -> str:
    text = f"""---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {user}, namespace: {namespace}}}
roleRef: {{kind: ClusterRole, name: view}}
subjects: [{{kind: User, name: {user}}}]
"""
    for name, url in receivers:
        text += f"""---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: {name}, labels: {{type: tenant, user: {user}}}}}
spec: {{url: "{url}"}}
"""
    return text


def group(namespace: str, index: int) -> AlertGroup:
    labels = {"alertname": f"A{index}", "namespace": namespace}
    return AlertGroup(alerts=(Alert(labels=labels, fingerprint=fingerprint_of(labels)),))


def transient_attempts(manager: Manager) -> float:
    value = manager.metrics.registry.get_sample_value(
        "nmcore_send_seconds_count", {"channel": "webhook", "result": "transient"})
    return value or 0.0


LONG_SENDS = """
apiVersion: notification.kubesphere.io/v2beta2
kind: NotificationManager
metadata: {name: notification-manager}
spec: {receivers: {options: {webhook: {notificationTimeout: 60}}}}
"""
"""The hanging sends must outlast the healthy ones, however slow the machine: a webhook send may take 60 s."""


async def test_hanging_receivers_do_not_delay_healthy_ones(hanging: tuple[Hanging, str], sink: WebhookSink,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    server, base = hanging
    manifests = LONG_SENDS + tenant("mallory", "hang", [(f"hang-{i}", f"{base}/hang-{i}") for i in range(HANGING)])
    manifests += tenant("alice", "ok", [(f"ok-{i}", sink.url(f"ok-{i}")) for i in range(HEALTHY)])
    async with Manager.from_yaml(manifests) as manager:
        for index in range(NOTIFICATIONS):  # distinct alerts, so each receiver has four sends in flight
            await manager.submit(group("hang", index))
        with anyio.fail_after(30):
            while server.started < HANGING * NOTIFICATIONS:
                await anyio.sleep(0.02)

        for index in range(NOTIFICATIONS):
            await manager.submit(group("ok", index))
        with anyio.fail_after(30):
            while len(sink.received) < HEALTHY * NOTIFICATIONS:
                await anyio.sleep(0.02)

        failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
        assert transient_attempts(manager) == 0, f"a send failed before the healthy ones were all through: {failures}"
        assert server.started == HANGING * NOTIFICATIONS and not server.release.is_set()
        assert manager.pending == HANGING * NOTIFICATIONS, "every hanging send is still pending"
        server.release.set()
        await manager.drain(30)
