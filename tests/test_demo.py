"""The README's demo runs as a test: it must finish cleanly and show tenant isolation in its table."""

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def received_by(output: str, receiver: str) -> list[str]:
    """The alert lines (`firing  Alert@namespace ...`) under one receiver's heading in the demo's table."""
    lines = output.split("What each webhook receiver got", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.split(" ", 1)[0] == receiver)
    received = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        status, alert, *_ = [*re.split(r"\s{2,}", line.strip()), ""]
        if status in ("firing", "resolved"):
            received.append(f"{status} {alert}")
    return received


def test_demo_shows_each_tenant_only_its_namespaces(tmp_path: Path) -> None:
    busy = [port for port in (19093, 19099) if port_in_use(port)]
    if busy:
        pytest.skip(f"the demo needs 127.0.0.1 ports 19093 and 19099; in use: {busy}")
    result = subprocess.run([sys.executable, str(DEMO)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    alice = received_by(result.stdout, "alice")
    assert "firing KubePodCrashLooping@team-a" in alice
    assert "resolved KubePodCrashLooping@team-a" in alice
    assert "firing KubePodCrashLooping@shared" in alice
    assert not any("@team-b" in line for line in alice), alice
    bob = received_by(result.stdout, "bob")
    assert "firing KubePodCrashLooping@team-b" in bob
    assert not any("@team-a" in line for line in bob), bob
    assert "firing NodeFilesystemAlmostFull@(no namespace)" in received_by(result.stdout, "global")
    assert '"reason": "user \'bob\' cannot access namespace \'team-a\'' in result.stdout
    verified = [line for line in result.stdout.splitlines() if line.startswith(("ok    ", "FAIL  "))]
    assert len(verified) == 4 and all(line.startswith("ok    WebhookReceiver/") for line in verified), verified


@pytest.mark.parametrize("port", [19093, 19099])
def test_demo_says_which_port_is_taken(tmp_path: Path, port: int) -> None:
    if port_in_use(19093) or port_in_use(19099):
        pytest.skip("the demo's ports 19093 and 19099 are already in use")
    with socket.socket() as occupant:
        occupant.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        occupant.bind(("127.0.0.1", port))
        occupant.listen()
        result = subprocess.run([sys.executable, str(DEMO)], cwd=tmp_path, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {port} is in use" in result.stderr
