"""Who may reach `nm run`, and where its receivers may not send: intake authentication, the admin endpoints on
their own listener or behind a token, the network policy checked on the address dialled, the verify echo.
Each against a real `nm run` process over real sockets."""

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import WebhookSink
from tests.support import REPO, free_port, nm_run, wait_for

GV = "notification.kubesphere.io/v1alpha1"
NS = "kubesphere-monitoring-system"
ALERT = [{"labels": {"alertname": "A", "namespace": "demo"}}]


def receiver(name: str, url: str) -> str:
    return f"""---
apiVersion: {GV}
kind: WebhookReceiver
metadata: {{name: {name}, labels: {{type: global}}}}
spec: {{url: "{url}"}}
"""


def config_dir(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "receivers.yaml").write_text(text)
    return folder


def secret_file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.write_text(content + "\n")
    path.chmod(0o600)
    return path


def test_the_intake_wants_the_token_or_the_basic_auth_it_was_given(tmp_path: Path, sink: WebhookSink) -> None:
    config = config_dir(tmp_path, receiver("everyone", sink.url("all")))
    token = secret_file(tmp_path, "token", "intake-token-123")
    basic = secret_file(tmp_path, "basic", "alertmanager:am-pass-456")
    with nm_run(tmp_path, "--config-dir", str(config), "--no-state", "--intake-token-file", str(token),
                "--intake-basic-auth-file", str(basic)) as nm:
        alerts = f"{nm.url}/api/v2/alerts"
        refused = httpx.post(alerts, json=ALERT)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="nmcore", Basic realm="nmcore"'
        assert httpx.post(alerts, json=ALERT, headers={"Authorization": "Bearer intake-token-12"}).status_code == 401
        assert httpx.post(alerts, json=ALERT, auth=("alertmanager", "wrong")).status_code == 401
        assert httpx.post(alerts, json=ALERT, headers={"Authorization": "Bearer intake-token-123"}).status_code == 200
        other = [{"labels": {"alertname": "B", "namespace": "demo"}}]
        assert httpx.post(alerts, json=other, auth=("alertmanager", "am-pass-456")).status_code == 200
        assert httpx.get(f"{nm.url}/healthz").status_code == 200, "probes need no credentials"
        status = httpx.get(f"{nm.url}/api/v2/status")
        assert status.status_code == 401, "with no admin listener or token, the admin endpoints want the intake's"
        assert httpx.get(f"{nm.url}/api/v2/status", auth=("alertmanager", "am-pass-456")).status_code == 200
    assert len(sink.bodies("all")) == 2
    assert "intake-token-123" not in nm.log_text() and "am-pass-456" not in nm.log_text()


ADMIN_SIDE = [("POST", "/api/v2/notifications"), ("POST", "/api/v2/route"), ("GET", "/api/v2/history"),
              ("GET", "/api/v2/silences"),
              ("GET", "/receivers"), ("GET", "/configs"), ("GET", "/receiverWithConfig"), ("GET", "/ui"),
              ("POST", "/ui/redrive")]


def test_admin_endpoints_on_their_own_listener_and_behind_their_token(tmp_path: Path, sink: WebhookSink) -> None:
    config = config_dir(tmp_path, receiver("everyone", sink.url("all")))
    admin_token = secret_file(tmp_path, "admin-token", "admin-token-789")
    admin = f"127.0.0.1:{free_port()}"
    with nm_run(tmp_path, "--config-dir", str(config), "--no-state", "--admin-listen", admin,
                "--admin-token-file", str(admin_token)) as nm:
        for path in ("/api/v2/status", "/api/v2/verify"):
            assert httpx.request("GET" if path.endswith("status") else "POST", nm.url + path,
                                 json={"receiver": "everyone"}).status_code == 404, f"{path} is not on the intake"
        assert httpx.post(f"{nm.url}/api/v2/alerts", json=ALERT).status_code == 200, "the intake has no token here"
        refused = httpx.get(f"http://{admin}/api/v2/status")
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Bearer realm="nmcore"'
        for method, path in ADMIN_SIDE:  # everything but the intake and the probes is the admin side
            assert httpx.request(method, nm.url + path, json={}).status_code == 404, f"{path} is not on the intake"
            assert httpx.request(method, f"http://{admin}{path}", json={}).status_code == 401, f"{path} needs it"
        for path in ("/healthz", "/readyz", "/metrics"):
            assert httpx.get(nm.url + path).status_code == httpx.get(f"http://{admin}{path}").status_code == 200
        good = {"Authorization": "Bearer admin-token-789"}
        assert httpx.get(f"http://{admin}/api/v2/status", headers=good).json()["receivers"][0]["receiver"] \
            == f"WebhookReceiver/{NS}/everyone"
        verified = subprocess.run([sys.executable, "-m", "nmcore", "verify", "--url", f"http://{admin}",
                                   "--token-file", str(admin_token), "everyone"],
                                  capture_output=True, text=True, cwd=REPO, timeout=60)
        assert verified.returncode == 0 and verified.stdout.startswith(f"ok    WebhookReceiver/{NS}/everyone")
        for url, token, says in ((nm.url, admin_token, "does not serve /api/v2/verify: give the --admin-listen"),
                                 (f"http://{admin}", None, "wants credentials for its admin endpoints")):
            wrong = subprocess.run([sys.executable, "-m", "nmcore", "verify", "--url", url, "everyone",
                                    *(["--token-file", str(token)] if token else [])],
                                   capture_output=True, text=True, cwd=REPO, timeout=60)
            assert wrong.returncode == 2 and says in wrong.stderr, wrong.stderr
        for command, stdin in ((["route", "-"], b'[{"labels": {"alertname": "A"}}]'), (["silences"], b"")):
            asked = [sys.executable, "-m", "nmcore", *command, "--url", f"http://{admin}"]
            refused_cli = subprocess.run(asked, input=stdin, capture_output=True, cwd=REPO, timeout=60)
            assert refused_cli.returncode == 2 and b"wants credentials" in refused_cli.stderr, refused_cli.stderr
            answered = subprocess.run([*asked, "--token-file", str(admin_token)], input=stdin, capture_output=True,
                                      cwd=REPO, timeout=60)
            assert answered.returncode == 0, answered.stderr
            if command[0] == "route":
                assert json.loads(answered.stdout)["receivers"][0]["receiver"] == f"WebhookReceiver/{NS}/everyone"
    assert [b["alerts"][0]["labels"]["alertname"] for b in sink.bodies("all")] == ["A", "NmcoreVerify"]


def verify(nm_url: str, name: str) -> dict:
    reply = httpx.post(f"{nm_url}/api/v2/verify", json={"receiver": name}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_receivers_cannot_reach_metadata_addresses_or_nm_itself(tmp_path: Path, sink: WebhookSink) -> None:
    port = free_port()
    config = config_dir(tmp_path, receiver("metadata", "http://169.254.169.254/latest/meta-data/")
                        + receiver("loop", f"http://localhost:{port}/api/v2/alerts")
                        + receiver("allowed", sink.url("allowed")))
    url = f"http://127.0.0.1:{port}"
    with nm_run(tmp_path, "--config-dir", str(config), "--no-state", "--listen", f"127.0.0.1:{port}",
                ready_url=url) as nm:
        metadata = verify(url, "metadata")
        assert not metadata["ok"]
        assert metadata["error"].endswith("169.254.169.254 is in 169.254.0.0/16, which nm's network policy denies "
                                          "(--deny-networks)"), metadata["error"]
        loop = verify(url, "loop")
        assert not loop["ok"] and f"127.0.0.1:{port} is nm's own listener" in loop["error"], loop["error"]
        assert verify(url, "allowed")["ok"]
        assert httpx.post(f"{url}/api/v2/alerts", json=ALERT).status_code == 200
        wait_for(lambda: metric(url, 'nmcore_deliveries_total{channel="webhook",outcome="dead"}') == 2,
                 "the two refused deliveries dead-lettered")
        assert metric(url, "nmcore_alerts_received_total") == 1, "nm did not receive its own notification back"
    assert {path: len(alerts) for path, alerts in sink.alerts_by_path().items()} == {"/allowed": 2}  # verify, alert
    assert "nm's own listener" in nm.log_text()


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_a_hostname_does_not_get_past_the_policy(tmp_path: Path, sink: WebhookSink) -> None:
    config = config_dir(tmp_path, receiver("by-name", f"http://localhost:{sink.port}/by-name"))
    with nm_run(tmp_path, "--config-dir", str(config), "--no-state", "--deny-networks", "127.0.0.0/8,::1/128") as nm:
        reply = verify(nm.url, "by-name")
    assert not reply["ok"] and "which nm's network policy denies (--deny-networks)" in reply["error"], reply
    assert sink.received == []


def test_verify_echoes_only_a_short_excerpt_of_what_a_service_answered(tmp_path: Path, sink: WebhookSink) -> None:
    """verify must not make nm a proxy for reading internal services' pages."""
    internal = ("<html>500 Internal Server Error: connect(db_host=10.0.0.7 db_user=app db_password=hunter2 ...)"
                + " stack frame" * 1000 + "</html>")
    config = config_dir(tmp_path, receiver("internal", sink.url("internal")))
    with nm_run(tmp_path, "--config-dir", str(config), "--no-state") as nm:
        sink.script("internal", [(500, {}, internal)])
        reply = verify(nm.url, "internal")
    assert not reply["ok"]
    said = reply["error"].split("answered HTTP 500: ", 1)[1]
    assert said.startswith("<html>500 Internal Server Error") and len(said) <= 200, said
