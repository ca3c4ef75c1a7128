"""The HTTP intake over a real socket: status codes a sender can act on, health, metrics, status."""

import datetime
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import orjson
import pytest

from nmcore import hookimpl
from nmcore.manager import Manager
from nmcore.server import create_app
from tests.support import free_port, serving_app

pytestmark = pytest.mark.anyio
SAMPLES = Path(__file__).resolve().parent / "samples"
NS = "kubesphere-monitoring-system"


def config(sink_url: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: everyone, labels: {{type: global}}}}
spec: {{url: "{sink_url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: orphan, labels: {{type: tenant, user: alice}}}}
spec: {{}}
"""


@pytest.fixture
async def intake(sink) -> AsyncIterator[tuple[Manager, str]]:  # type: ignore[no-untyped-def]
    manager = Manager.from_yaml(config(sink.url("all")))
    async with manager, serving_app(create_app(manager, max_body_bytes=64 * 1024)) as url:
        yield manager, url


async def post(url: str, body: bytes | str, content_type: str = "application/json") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(url + "/api/v2/alerts", content=body, headers={"Content-Type": content_type})


async def test_alertmanager_body_is_accepted_and_delivered(intake, sink) -> None:  # type: ignore[no-untyped-def]
    manager, url = intake
    reply = await post(url, (SAMPLES / "alertmanager-webhook.json").read_bytes())
    assert reply.status_code == 200
    assert reply.json() == {"status": 200, "alerts": 2, "notifications": 1, "duplicates": 0, "rejected": []}
    await manager.drain(5)
    [body] = sink.bodies("all")
    assert body["receiver"] == f"WebhookReceiver/{NS}/everyone" and body["tenant"] == ""
    assert [a["labels"]["pod"] for a in body["alerts"]] == ["web-1", "web-2"]
    assert body["alerts"][0]["fingerprint"] == "928cbc346f11ada9"


async def test_a_bare_array_of_alerts_is_accepted(intake, sink) -> None:  # type: ignore[no-untyped-def]
    manager, url = intake
    reply = await post(url, json.dumps([{"labels": {"alertname": "Disk", "namespace": "x"}}]))
    assert reply.status_code == 200 and reply.json()["alerts"] == 1
    await manager.drain(5)
    assert sink.bodies("all")[0]["alerts"][0]["status"] == "firing"


async def test_one_bad_alert_is_rejected_with_its_location_and_the_rest_accepted(intake, sink) -> None:  # type: ignore[no-untyped-def]
    manager, url = intake
    body = {"alerts": [{"labels": {"alertname": "Good"}}, {"labels": ["not", "a", "map"]}, {"labels": {}}]}
    reply = await post(url, json.dumps(body))
    assert reply.status_code == 200
    assert reply.json()["alerts"] == 1
    assert reply.json()["rejected"] == ["expected an object, got a list @ $.alerts[1].labels",
                                        "an alert needs at least one label @ $.alerts[2].labels"]
    await manager.drain(5)
    assert [a["labels"]["alertname"] for a in sink.bodies("all")[0]["alerts"]] == ["Good"]


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    (b"{not json", "application/json", 400, "malformed JSON: unexpected character, expected a string key: line 1 column 2"),
    (b'{"foo": 1}', "application/json", 400, "missing the alerts array @ $.alerts"),
    (b'{"alerts": {}}', "application/json", 400, "alerts must be an array @ $.alerts"),
    (b'"text"', "application/json", 400, "expected an Alertmanager webhook object or a JSON array of alerts @ $"),
    (b"alerts=1", "application/x-www-form-urlencoded", 415,
     "expected Content-Type application/json, got application/x-www-form-urlencoded"),
    (b"[" + b'{"labels": {"a": "b"}},' * 5000 + b"{}]", "application/json", 413,
     "body larger than 65536 bytes; lower max_alerts in Alertmanager"),
])
async def test_unusable_requests_get_a_status_and_a_message(intake, body, content_type, status, message) -> None:  # type: ignore[no-untyped-def]
    _, url = intake
    reply = await post(url, body, content_type)
    assert reply.status_code == status
    assert reply.json()["error"].startswith(message)


async def test_health_readiness_metrics_and_status(intake) -> None:  # type: ignore[no-untyped-def]
    manager, url = intake
    await post(url, (SAMPLES / "alertmanager-webhook.json").read_bytes())
    await manager.drain(5)
    async with httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).text == "ok"
        assert (await client.get("/readyz")).status_code == 200
        metrics = (await client.get("/metrics")).text
        status = (await client.get("/api/v2/status")).json()
    assert "nmcore_alerts_received_total 2.0" in metrics
    assert 'nmcore_deliveries_total{channel="webhook",outcome="delivered"} 1.0' in metrics
    assert status["receivers"] == [{"receiver": f"WebhookReceiver/{NS}/everyone", "channel": "webhook",
                                    "tenant": "", "config": None, "template_problems": []}]
    assert status["cannot_send"] == [{"receiver": f"WebhookReceiver/{NS}/orphan",
                                      "reason": "no WebhookConfig labelled type: default to fall back on"}]




def test_nm_run_reloads_changed_manifests_and_stops_cleanly_on_sigterm(tmp_path: Path, sink) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "receivers.yaml").write_text(config(sink.url("first")))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "nmcore", "run", "--config-dir", str(tmp_path / "config"),
                                "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state")],
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "nm run did not become ready"
            time.sleep(0.05)
        (tmp_path / "config" / "receivers.yaml").write_text(config(sink.url("second")))
        alert = [{"labels": {"alertname": "Reloaded"}}]
        deadline = time.monotonic() + 10
        while not sink.bodies("second"):
            assert time.monotonic() < deadline, "the changed manifest was not picked up"
            httpx.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=alert)
            alert[0]["labels"]["n"] = str(time.monotonic())  # a new alert each time, not a duplicate
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        stderr = process.communicate()[1]
    assert "SIGTERM received" in stderr


async def test_pending_jobs_gauge_is_zero_once_everything_is_delivered(intake, sink) -> None:  # type: ignore[no-untyped-def]
    manager, url = intake
    assert (await post(url, (SAMPLES / "alertmanager-webhook.json").read_bytes())).status_code == 200
    await manager.drain(5)
    assert sink.bodies("all")
    async with httpx.AsyncClient(base_url=url) as client:
        metrics = (await client.get("/metrics")).text
    assert "\nnmcore_pending_jobs 0.0\n" in metrics


async def test_timestamps_must_be_rfc3339_and_a_missing_start_is_the_receive_time(intake, sink) -> None:  # type: ignore[no-untyped-def]
    manager, url = intake
    before = datetime.datetime.now(datetime.UTC)
    body = {"alerts": [{"labels": {"alertname": "Yesterday"}, "startsAt": "yesterday"},
                       {"labels": {"alertname": "Month13"}, "endsAt": "2026-13-01T00:00:00Z"},
                       {"labels": {"alertname": "NoTimes"}},
                       {"labels": {"alertname": "Nanos"}, "startsAt": "2026-11-24T05:53:21.974712798Z"}]}
    reply = await post(url, json.dumps(body))
    assert reply.status_code == 200
    assert reply.json()["rejected"] == [
        "startsAt must be an RFC 3339 time such as 2026-11-24T05:53:21Z, got 'yesterday' @ $.alerts[0].startsAt",
        "endsAt must be an RFC 3339 time: '2026-13-01T00:00:00Z' is out of range (month must be in 1..12) "
        "@ $.alerts[1].endsAt"]
    await manager.drain(5)
    [sent] = sink.bodies("all")
    no_times, nanos = sent["alerts"]
    assert (no_times["labels"]["alertname"], nanos["labels"]["alertname"]) == ("NoTimes", "Nanos")
    started = datetime.datetime.fromisoformat(no_times["startsAt"])
    assert no_times["startsAt"].endswith("Z") and before <= started <= datetime.datetime.now(datetime.UTC)
    assert no_times["endsAt"] == nanos["endsAt"] == "0001-01-01T00:00:00Z", "Alertmanager's 'no end yet'"
    assert nanos["startsAt"] == "2026-11-24T05:53:21.974712798Z"


async def test_a_status_outside_its_choices_names_them(intake) -> None:  # type: ignore[no-untyped-def]
    _, url = intake
    reply = await post(url, json.dumps([{"labels": {"alertname": "X"}, "status": "burning"}]))
    assert reply.json()["rejected"] == [
        "status must be 'firing' or 'resolved', got 'burning' (did you mean 'firing'?) @ $[0].status"]


def send_raw(url: str, request: bytes) -> bytes:
    """Send a whole request as a plain socket client does (all of it, then read), and return the reply."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply


async def test_a_body_over_the_limit_is_answered_413_after_the_client_finished_sending_it(intake) -> None:  # type: ignore[no-untyped-def]
    _, url = intake
    body = b"[" + b'{"labels": {"alertname": "Big"}},' * 250_000 + b"{}]"  # 8 MB against a limit of 64 KiB
    head = (f"POST /api/v2/alerts HTTP/1.1\r\nHost: nm\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    reply = await anyio.to_thread.run_sync(send_raw, url, head + body)  # a reset while writing raises here
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert b"body larger than 65536 bytes" in reply


async def test_a_chunked_body_over_the_limit_is_answered_413_too(intake) -> None:  # type: ignore[no-untyped-def]
    _, url = intake
    chunk = b'{"labels": {"alertname": "Big"}},' * 1000
    body = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    head = (b"POST /api/v2/alerts HTTP/1.1\r\nHost: nm\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    reply = await anyio.to_thread.run_sync(send_raw, url, head + body * 250 + b"0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]



class RoutingStarted:
    """A route filter that withholds nothing and notes when routing has begun."""

    def __init__(self) -> None:
        self.started = threading.Event()

    @hookimpl
    def nmcore_route_filter(self, alert, receiver, tenant):  # type: ignore[no-untyped-def]
        self.started.set()


async def answered_while_busy(url: str, body: bytes, busy: threading.Event) -> list[str]:
    """POST `body`; once `busy` is set, GET /healthz; return the order in which the two were answered."""
    order: list[str] = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client, anyio.create_task_group() as tasks:
        async def post_it() -> None:
            reply = await client.post("/api/v2/alerts", content=body, headers={"Content-Type": "application/json"})
            order.append(f"POST {reply.status_code}")

        tasks.start_soon(post_it)
        while not busy.is_set():
            await anyio.sleep(0.005)
        order.append(f"healthz {(await client.get('/healthz')).status_code}")
    return order


def huge_body(alerts: int) -> bytes:
    return orjson.dumps({"alerts": [{"labels": {"alertname": "Flood", "pod": f"web-{i}"}} for i in range(alerts)]})


UNREACHABLE = "http://127.0.0.1:9/"
"""Where the flood tests' receiver points: its delivery (not what they test) fails at once."""


async def test_healthz_answers_while_a_huge_post_is_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    decoding = threading.Event()
    loads = orjson.loads

    def noting_loads(data):  # type: ignore[no-untyped-def]
        if len(data) > 1_000_000:
            decoding.set()
        return loads(data)

    monkeypatch.setattr(orjson, "loads", noting_loads)
    manager = Manager.from_yaml(config(UNREACHABLE))
    async with manager, serving_app(create_app(manager, max_body_bytes=16 * 1024 * 1024)) as url:
        order = await answered_while_busy(url, huge_body(50_000), decoding)
    assert order == ["healthz 200", "POST 200"]


async def test_healthz_answers_while_a_huge_post_is_routed() -> None:
    routing = RoutingStarted()
    manager = Manager.from_yaml(config(UNREACHABLE), plugins=[routing])
    async with manager, serving_app(create_app(manager, max_body_bytes=16 * 1024 * 1024)) as url:
        order = await answered_while_busy(url, huge_body(50_000), routing.started)
    assert order == ["healthz 200", "POST 200"]
