"""Small helpers shared by the tests that run real processes and servers."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import uvicorn
from starlette.applications import Starlette

from nmcore.server import _Server

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port free right now (for a child process that must be told its port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll `condition` until it returns something true, and return that; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@asynccontextmanager
async def serving_app(app: Starlette) -> AsyncIterator[str]:
    """Serve nmcore's HTTP app on a free loopback port, as `nm run` does; yields its base URL."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="off"))
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(server.serve)
        with anyio.fail_after(5):
            while not server.started:
                await anyio.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        server.should_exit = True


def answers_ready(process: subprocess.Popen[bytes], url: str, output: Callable[[], str]) -> bool:
    """Whether the nm at `url` answers /readyz with 200; AssertionError quoting `output()` if it has exited."""
    if process.poll() is not None:
        raise AssertionError(f"nm run exited with {process.returncode}\n{output()}")
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


class Nm:
    """`nm run` in a child process on a config dir and a state dir (or a store URL); its log is quoted when
    something fails."""

    def __init__(self, log: Path, config: Path, state: Path | str, *options: str, **popen: Any):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        store = ["--store", state] if isinstance(state, str) else ["--state-dir", str(state)]
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "nmcore", "run", "--config-dir", str(config), *store,
                 "--listen", f"127.0.0.1:{self.port}", *options],
                stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                env={**popen.pop("env", os.environ), "PYTHONUNBUFFERED": "1"}, **popen)

    def output(self) -> str:
        return f"--- nm run log ({self.log}) ---\n" + self.log.read_text(errors="replace")[-4000:]

    def wait_ready(self) -> "Nm":
        wait_for(lambda: answers_ready(self.popen, self.url, self.output), "nm run to be ready")
        return self

    def post(self, alerts: list[dict]) -> httpx.Response:
        return httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=10)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(20)

@attrs.frozen
class NmRun:
    """A running `nm run` process: its intake URL, its log file and the process itself."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self, url: str | None = None) -> bool:
        return answers_ready(self.process, url or self.url, lambda: self.log_text()[-3000:])


@contextmanager
def nm_run(folder: Path, *args: str, log_level: str = "INFO", ready_url: str | None = None,
           preexec_fn: Callable[[], Any] | None = None) -> Iterator[NmRun]:
    """`nm run --listen 127.0.0.1:<free port> ARGS` with its output in `folder/nm.log`, ready (its /readyz, or
    `ready_url`'s), stopped with SIGTERM afterwards."""
    port = free_port()
    log = folder / "nm.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "nmcore", "--log-level", log_level, "run", "--listen", f"127.0.0.1:{port}", *args],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            preexec_fn=preexec_fn)
    run = NmRun(f"http://127.0.0.1:{port}", log, process)
    try:
        wait_for(lambda: run.ready(ready_url), "nm run to be ready")
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
