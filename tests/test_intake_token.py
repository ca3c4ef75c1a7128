"""nm run --intake-token-file: alerts are accepted only with the bearer token Alertmanager's http_config sends."""

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import WebhookSink
from tests.support import Nm, free_port, wait_for
from tests.test_durable_delivery import alert, write_config

TOKEN = "t0k3n-that-must-stay-secret"


def test_alerts_without_the_token_are_refused_401_and_with_it_delivered(
        tmp_path: Path, sink: WebhookSink, nm: Callable[..., Nm]) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")  # as a mounted Secret often ends
    server = nm(write_config(tmp_path / "config", hook=sink.url("hook")), tmp_path / "state",
                "--intake-token-file", str(token_file))
    url = f"{server.url}/api/v2/alerts"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        refused = httpx.post(url, json=alert(1), headers=headers, timeout=10)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="nmcore"'
        assert TOKEN not in refused.text
    accepted = httpx.post(url, json=alert(2), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert accepted.status_code == 200
    wait_for(lambda: sink.bodies("hook"), "the delivery")
    assert [b["alerts"][0]["labels"]["id"] for b in sink.bodies("hook")] == ["2"], "refused alerts are not stored"
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200, "probes need no token"
    assert server.stop() == 0
    assert TOKEN not in server.log.read_text()


def test_an_unreadable_token_file_is_a_clear_error_at_start(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    missing = tmp_path / "no-such-token"
    result = subprocess.run([sys.executable, "-m", "nmcore", "run", "--config-dir", str(tmp_path / "config"),
                             "--no-state", "--listen", f"127.0.0.1:{free_port()}", "--intake-token-file",
                             str(missing)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"nm run: --intake-token-file {missing}: No such file or directory" in result.stderr
