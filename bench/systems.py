"""Starting the systems under test: `nm run` and the real Prometheus Alertmanager, each a process on loopback.

`nm run` gets a durable state dir (the SQLite store) unless told otherwise, and logs at WARNING like the
Alertmanager peer (`--log.level=warn`). With a profile dir, py-spy attaches to `nm run` once it is ready and
writes collapsed stacks when the scenario ends.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bench.procs import BenchError, Child, Lab, free_port, python

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def alertmanager_available() -> bool:
    return Path(ALERTMANAGER).exists()


def alertmanager_version() -> str:
    if not alertmanager_available():
        return "not installed"
    out = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""
    return first.replace("alertmanager, version ", "")


class NmRun:
    """`nm run` on a config folder; `ready_after` is the seconds from process start to /readyz 200."""

    def __init__(self, lab: Lab, config_dir: Path, *, durable: bool = True, name: str = "nm-run",
                 profile: Path | None = None, ready_timeout: float = 60.0, store: str | None = None,
                 history: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state = ["--state-dir", str(lab.dir / f"{name}-state")] if durable else ["--no-state"]
        if store:  # a store URL (PostgreSQL) instead of a state dir
            state = ["--store", store]
        self.child: Child = lab.start(name, python(
            "nmcore", "--log-level", "WARNING", "run", "--config-dir", str(config_dir),
            "--listen", f"127.0.0.1:{self.port}", *state, *([] if history else ["--no-history"])))
        self.ready_after = self.child.wait_http(self.port, "/readyz", timeout=ready_timeout)
        self._profiler: subprocess.Popen | None = None
        if profile is not None:
            self._profiler = start_profiler(self.child.pid, profile)

    def stop_profiler(self) -> None:
        if self._profiler is not None:
            stop_profiler(self._profiler)
            self._profiler = None


def start_profiler(pid: int, output: Path) -> subprocess.Popen:
    """py-spy sampling `pid` into collapsed stacks at `output` until `stop_profiler`."""
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        raise BenchError(f"--profile needs py-spy next to {sys.executable}: pip install py-spy")
    output.parent.mkdir(parents=True, exist_ok=True)
    profiler = subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
                                 "--output", str(output), "--gil"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let it attach before the load starts
    return profiler


def stop_profiler(profiler: subprocess.Popen) -> None:
    profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(30)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait(5)


class Alertmanager:
    """The real Alertmanager with a fresh storage dir, no cluster gossip, on a free loopback port."""

    def __init__(self, lab: Lab, config: dict, *, name: str = "alertmanager"):
        if not alertmanager_available():
            raise BenchError(f"{ALERTMANAGER} not found: apt-get install prometheus-alertmanager")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config_file = lab.dir / f"{name}.yml"
        config_file.write_text(yaml.safe_dump(config))
        storage = lab.dir / f"{name}-data"
        storage.mkdir()
        self.child: Child = lab.start(name, [
            ALERTMANAGER, f"--config.file={config_file}", f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
            f"--web.external-url={self.url}", "--log.level=warn",
        ])
        self.child.wait_http(self.port, "/-/ready", timeout=30)
