"""Child processes the harness starts: free loopback ports, readiness polling, and a stop that always runs."""

import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pythonpath() -> str:
    """Children import `bench` from this checkout; a PYTHONPATH given to the harness comes first, so a scratch
    copy of nmcore can be measured: `cd /tmp && PYTHONPATH=/tmp/scratch:/path/to/repo python -m bench`."""
    return os.pathsep.join(p for p in (os.environ.get("PYTHONPATH", ""), str(REPO)) if p)


class BenchError(Exception):
    """A scenario could not be measured; the message says which process and shows the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """The status of GET http://127.0.0.1:port/path, or None when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


class Child:
    """A process with its output in a log file; `stop` sends SIGTERM, then SIGKILL after `grace` seconds."""

    def __init__(self, name: str, argv: list[str], log: Path, *, stdout_pipe: bool = False):
        self.name = name
        self.log = log
        self._log_file = log.open("wb")
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            argv, cwd=log.parent, stderr=self._log_file,
            stdout=subprocess.PIPE if stdout_pipe else self._log_file,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _pythonpath()},
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last lines of {self.name}'s log ({self.log}) ---\n" + "\n".join(text)

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")

    def wait_http(self, port: int, path: str, timeout: float, interval: float = 0.01) -> float:
        """Poll until GET path answers 200; return the seconds since the process was started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            if http_status(port, path) == 200:
                return time.monotonic() - self.started
            time.sleep(interval)
        raise BenchError(f"{self.name} not ready at :{port}{path} within {timeout:.0f}s\n{self.tail()}")

    def read_line(self, timeout: float) -> str:
        """The next line the child prints on stdout (used to learn the port it bound)."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            ready, _, _ = select.select([self.popen.stdout], [], [], 0.1)
            if ready:
                line = self.popen.stdout.readline().decode()
                if line:
                    return line.strip()
        raise BenchError(f"{self.name} printed nothing within {timeout:.0f}s\n{self.tail()}")

    def result(self, timeout: float) -> dict:
        """Wait for the child to exit and return the JSON object it printed last on stdout."""
        assert self.popen.stdout is not None
        try:
            out, _ = self.popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise BenchError(f"{self.name} still running after {timeout:.0f}s\n{self.tail()}") from None
        lines = out.decode().strip().splitlines()
        if self.popen.returncode != 0 or not lines:
            raise BenchError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")
        return json.loads(lines[-1])

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)

    def stop(self, grace: float = 10.0) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        self._log_file.close()
        return self.popen.returncode


def python(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


class Lab:
    """One scenario's scratch dir and processes: leaving it stops every process started here, newest first."""

    def __init__(self, name: str, keep: bool = False):
        self.dir = Path(tempfile.mkdtemp(prefix=f"nmbench-{name}-"))
        self._keep = keep
        self._children: list[Child] = []

    def start(self, name: str, argv: list[str], *, stdout_pipe: bool = False) -> Child:
        child = Child(name, argv, self.dir / f"{name}.log", stdout_pipe=stdout_pipe)
        self._children.append(child)
        return child

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc_info: object) -> None:
        for child in reversed(self._children):
            child.stop()
        if not self._keep and exc_info[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
