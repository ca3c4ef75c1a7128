"""Clients that connect and never finish their request do not take the intake down (slowloris), over real sockets.

`nm run` gets only 256 file descriptors (as a small container might) and 300 connections that send half a
request's headers and then nothing. It must still answer /healthz while they hang, close every one of them
once its header timeout passes, answer a request whose body stops coming with 408, and say so in a few log
lines, not one per connection.
"""

import logging
import resource
import socket
from pathlib import Path

import httpx

from nmcore.logflood import RepeatLimiter
from tests.conftest import WebhookSink
from tests.support import nm_run, wait_for

SLOW_CLIENTS = 300
OPEN_FILES = 256
FLAGS = ("--header-timeout", "1", "--body-timeout", "1")


def few_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed `sock` (a non-blocking socket), reading whatever it sent before."""
    try:
        while sock.recv(65536):
            pass
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True
    return True


def test_half_requests_are_closed_and_the_intake_keeps_answering(tmp_path: Path, sink: WebhookSink) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "r.yaml").write_text(f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: everyone, labels: {{type: global}}}}
spec: {{url: "{sink.url('all')}"}}
""")
    with nm_run(tmp_path, "--config-dir", str(config), "--no-state", *FLAGS, preexec_fn=few_open_files) as nm:
        host, port = nm.url.removeprefix("http://").split(":")
        slow: list[socket.socket] = []
        try:
            for _ in range(SLOW_CLIENTS):
                sock = socket.create_connection((host, int(port)), timeout=5)
                sock.sendall(b"POST /api/v2/alerts HTTP/1.1\r\nHost: nm\r\nContent-Type: applica")
                sock.setblocking(False)
                slow.append(sock)
            half_body = socket.create_connection((host, int(port)), timeout=5)
            half_body.sendall(b"POST /api/v2/alerts HTTP/1.1\r\nHost: nm\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 100\r\n\r\n[{\"labels\":")

            assert httpx.get(f"{nm.url}/healthz", timeout=10).text == "ok", "the intake answers while they hang"
            alert = [{"labels": {"alertname": "StillHere", "namespace": "demo"}}]
            assert httpx.post(f"{nm.url}/api/v2/alerts", json=alert, timeout=10).status_code == 200

            wait_for(lambda: all(closed_by_server(s) for s in slow), "every half-request connection closed")
            half_body.settimeout(10)
            assert half_body.recv(4096).startswith(b"HTTP/1.1 408 "), "a body that stops coming gets 408"
        finally:
            for sock in slow:
                sock.close()
        wait_for(lambda: sink.bodies("all"), "the alert delivered")
    lines = nm.log_text().splitlines()
    assert any("no complete request headers within 1s" in line for line in lines)
    assert len(lines) < 40, f"{len(lines)} log lines for {SLOW_CLIENTS} slow clients:\n" + "\n".join(lines[:60])


def test_an_identical_message_repeated_is_let_through_a_few_times_then_counted() -> None:
    now = [0.0]
    limiter = RepeatLimiter(burst=5, window=60.0, clock=lambda: now[0])
    records = [logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource",
                                 None, None) for _ in range(1000)]
    passed = [r for r in records if limiter.filter(r)]
    other = logging.LogRecord("nmcore", logging.WARNING, __file__, 1, "delivery to %s failed", ("r1",), None)
    assert len(passed) == 5 and limiter.filter(other), "other messages are not held back"
    now[0] = 61.0
    later = logging.LogRecord("asyncio", logging.ERROR, __file__, 1, "socket.accept() out of system resource",
                              None, None)
    assert limiter.filter(later)
    assert later.getMessage() == "socket.accept() out of system resource (and 995 more like it in 60s)"
