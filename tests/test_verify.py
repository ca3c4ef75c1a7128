"""`nm verify` and POST /api/v2/verify: a test notification to one receiver now, with the channel's verdict."""

import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from aiohttp import web

from nmcore.cli import main
from nmcore.manager import Manager
from nmcore.server import create_app
from nmcore.testing import serving
from nmcore.verify import ALERTNAME, UnknownReceiver
from tests.conftest import WebhookSink
from tests.support import serving_app

pytestmark = pytest.mark.anyio
NS = "kubesphere-monitoring-system"
REPO = Path(__file__).resolve().parents[1]


def receiver(name: str, url: str = "", namespace: str = NS, labels: str = "{type: global}", extra: str = "") -> str:
    spec = f'url: "{url}"' if url else ""
    return f"""---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: {name}, namespace: {namespace}, labels: {labels}}}
spec: {{{spec}{extra}}}
"""


async def test_verify_sends_one_test_notification_to_that_receiver_only(sink: WebhookSink) -> None:
    yaml_text = receiver("alice-hook", sink.url("alice")) + receiver("bob-hook", sink.url("bob"))
    async with Manager.from_yaml(yaml_text) as manager:
        await manager.wait_ready(5)
        result = await manager.verify("alice-hook")
        assert manager.pending == 0, "a test send does not go through the queue"
    assert result.ok and result.error == "" and result.receiver == f"WebhookReceiver/{NS}/alice-hook"
    [body] = sink.bodies("alice")
    assert [a["labels"]["alertname"] for a in body["alerts"]] == [ALERTNAME]
    assert "alice-hook" in body["alerts"][0]["annotations"]["message"]
    assert sink.bodies("bob") == []


async def test_a_failing_receiver_reports_the_channels_verdict_without_the_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    async def reject(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"token {request.headers['Authorization'].split()[-1]} is revoked")

    app = web.Application()
    app.router.add_post("/hook", reject)
    auth = ", httpConfig: {bearerToken: {valueFrom: {secretKeyRef: {name: creds, key: token}}}}"
    secret = f"""---
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: {NS}}}
stringData: {{token: tok-secret-123}}
"""
    caplog.set_level(logging.DEBUG)
    async with serving(app) as base, Manager.from_yaml(secret + receiver("hook", f"{base}/hook", extra=auth)) as m:
        await m.wait_ready(5)
        result = await m.verify("hook")
    assert not result.ok
    assert "HTTP 401" in result.error and "<redacted> is revoked" in result.error
    assert "tok-secret-123" not in result.error + caplog.text + repr(result)


async def test_a_receiver_that_cannot_send_says_why() -> None:
    orphan = receiver("orphan", labels="{type: tenant, user: alice}")
    async with Manager.from_yaml(orphan) as manager:
        await manager.wait_ready(5)
        result = await manager.verify("orphan")
    assert not result.ok and result.channel == "webhook"
    assert result.error.startswith("cannot send: ") and "WebhookConfig" in result.error


async def test_receivers_are_found_by_full_ref_kind_and_name_or_a_unique_bare_name(sink: WebhookSink) -> None:
    yaml_text = (receiver("hook", sink.url("a"), namespace="team-a") + receiver("hook", sink.url("b"), namespace="team-b")
                 + receiver("solo", sink.url("solo")))
    async with Manager.from_yaml(yaml_text) as manager:
        await manager.wait_ready(5)
        for name in ("solo", "WebhookReceiver/solo", f"WebhookReceiver/{NS}/solo", "WebhookReceiver/team-b/hook"):
            assert (await manager.verify(name)).ok, name
        with pytest.raises(UnknownReceiver, match="names 2 receivers: WebhookReceiver/team-a/hook, "
                                                   "WebhookReceiver/team-b/hook"):
            await manager.verify("hook")
        with pytest.raises(UnknownReceiver, match="no receiver 'sol' in the configuration \\(did you mean 'solo'"):
            await manager.verify("sol")
    assert len(sink.bodies("solo")) == 3 and len(sink.bodies("b")) == 1 and sink.bodies("a") == []


@pytest.fixture
async def running(sink: WebhookSink) -> AsyncIterator[str]:
    yaml_text = receiver("good", sink.url("good")) + receiver("bad", sink.url("bad"))
    manager = Manager.from_yaml(yaml_text)
    async with manager, serving_app(create_app(manager)) as url:
        yield url


async def test_the_server_verifies_a_receiver_over_http(running: str, sink: WebhookSink) -> None:
    sink.script("bad", [500])
    async with httpx.AsyncClient(base_url=running) as client:
        good = await client.post("/api/v2/verify", json={"receiver": "good"})
        bad = await client.post("/api/v2/verify", json={"receiver": "bad"})
        unknown = await client.post("/api/v2/verify", json={"receiver": "godo"})
        malformed = await client.post("/api/v2/verify", content=b"good")
    assert good.status_code == 200 and good.json()["ok"] is True
    assert good.json()["receiver"] == f"WebhookReceiver/{NS}/good"
    assert bad.status_code == 200 and bad.json()["ok"] is False and "HTTP 500" in bad.json()["error"]
    assert unknown.status_code == 404 and "did you mean 'good'" in unknown.json()["error"]
    assert malformed.status_code == 400 and '{"receiver"' in malformed.json()["error"]
    assert len(sink.bodies("good")) == 1


async def test_nm_verify_url_asks_a_running_manager_for_every_receiver(
        running: str, sink: WebhookSink, capsys: pytest.CaptureFixture[str]) -> None:
    sink.script("bad", [503])
    httpx_level = logging.getLogger("httpx").level
    code = await anyio.to_thread.run_sync(main, ["verify", "--url", running])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert logging.getLogger("httpx").level == httpx_level, "the quieter httpx log is only for the command"
    assert lines[0].startswith(f"FAIL  WebhookReceiver/{NS}/bad: webhook {sink.url('bad')} answered HTTP 503")
    assert lines[1].startswith(f"ok    WebhookReceiver/{NS}/good  (")
    assert len(lines) == 2


def test_nm_verify_config_dir_gives_a_verdict_per_receiver_and_an_exit_code(tmp_path: Path, sink: WebhookSink) -> None:
    (tmp_path / "receivers.yaml").write_text(receiver("good", sink.url("good")) + receiver("bad", sink.url("bad")))
    sink.script("bad", [404])

    def nm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nmcore", "verify", "--config-dir", str(tmp_path), *args],
                              capture_output=True, text=True, cwd=REPO, timeout=60)

    everyone = nm()
    assert everyone.returncode == 1, everyone.stderr
    assert everyone.stdout.splitlines() == [
        f"FAIL  WebhookReceiver/{NS}/bad: webhook {sink.url('bad')} answered HTTP 404: failure",
        *[line for line in everyone.stdout.splitlines() if line.startswith(f"ok    WebhookReceiver/{NS}/good  (")],
    ] and len(everyone.stdout.splitlines()) == 2
    assert nm("good").returncode == 0
    typo = nm("goood")
    assert typo.returncode == 2 and "no receiver 'goood' in the configuration (did you mean 'good'?)" in typo.stderr
    assert len(sink.bodies("good")) == 2, "nothing is sent when a name is wrong"


def test_nm_verify_url_says_which_manager_it_could_not_reach(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--url", "http://127.0.0.1:1"]) == 2
    assert capsys.readouterr().err.startswith("nm verify: http://127.0.0.1:1: ConnectError: ")
