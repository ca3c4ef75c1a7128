"""`nm run` starting and stopping as a process: a busy port is one clear line, and SIGTERM keeps answering
(503 with Retry-After) while the sends in flight finish, instead of refusing connections."""

import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support import REPO, Nm, wait_for


class HangingReceiver:
    """A webhook endpoint that holds every request until `release()`: a send stays in flight."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.arrived.set()
                outer.released.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hanging() -> Iterator[HangingReceiver]:
    receiver = HangingReceiver()
    yield receiver
    receiver.close()


def receiver_config(folder: Path, url: str) -> Path:
    folder.mkdir()
    (folder / "receivers.yaml").write_text(f"""\
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: hook, labels: {{type: global}}}}
spec: {{url: "{url}"}}
""")
    return folder


def test_a_port_already_in_use_is_one_line_naming_it_and_exit_2(tmp_path: Path) -> None:
    config = receiver_config(tmp_path / "config", "http://127.0.0.1:9/")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "nmcore", "run", "--config-dir", str(config), "--no-state",
                                 "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=60,
                                cwd=REPO)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "listening on" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("nm run:")]
    assert line == f"nm run: cannot listen on 127.0.0.1:{port}: Address already in use"
    assert len(result.stderr.splitlines()) <= 2, result.stderr  # that line, and the --no-state warning


def test_after_sigterm_new_requests_get_503_until_the_sends_in_flight_finish(
        tmp_path: Path, hanging: HangingReceiver, nm) -> None:  # type: ignore[no-untyped-def]
    server: Nm = nm(receiver_config(tmp_path / "config", hanging.url), tmp_path / "state")
    assert server.post([{"labels": {"alertname": "InFlight"}}]).status_code == 200
    assert hanging.arrived.wait(20), "the send did not start"
    server.popen.send_signal(signal.SIGTERM)
    wait_for(lambda: httpx.get(f"{server.url}/readyz", timeout=5).status_code == 503, "nm run to see SIGTERM")
    answers = []
    for n in range(20):  # the send is still in flight: every new connection must be answered, not refused
        try:
            answers.append(httpx.post(f"{server.url}/api/v2/alerts", json=[{"labels": {"alertname": f"Late{n}"}}],
                                      timeout=5))
        except httpx.TransportError as exc:
            raise AssertionError(f"request {n} after SIGTERM: {exc!r}\n{server.output()}") from None
    assert {(a.status_code, a.headers.get("retry-after"), a.json()["error"]) for a in answers} == {
        (503, "5", "shutting down")}
    hanging.release()
    assert server.popen.wait(20) == 0, server.output()
    assert "SIGTERM received: answering 503 to new alerts; finishing sends in flight" in server.output()
