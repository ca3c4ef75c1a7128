"""End to end with the real Prometheus Alertmanager: alerts pushed into Alertmanager reach, through `nm run`,
exactly the webhook receivers whose tenants may see them, firing and resolved.

Alertmanager is configured with the seed's routes (by `alerttype`): Prometheus alerts to receiver
`prometheus` (resolved notifications on), events and auditing to `event` and `auditing` with
`send_resolved: false`. Only the timers are shorter than the seed's, so the test takes seconds.
"""

import datetime
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import yaml

from nmcore.manager import Manager
from nmcore.server import create_app
from tests.support import free_port, serving_app, wait_for

pytestmark = pytest.mark.alertmanager

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "examples" / "quickstart"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

if not Path(ALERTMANAGER).exists():
    pytest.skip(f"{ALERTMANAGER} not found: apt-get install prometheus-alertmanager", allow_module_level=True)






class Process:
    """A child process whose output goes to a log file, quoted when something goes wrong."""

    def __init__(self, name: str, argv: list[str], log: Path, url: str):
        self.name = name
        self.url = url
        self.log = log
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=REPO,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return f"--- last lines of {self.name}'s log ---\n" + "\n".join(text[-lines:])

    def wait_ready(self, path: str) -> None:
        url = self.url + path

        def ready() -> bool:
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.popen.returncode}\n{self.tail()}")
            try:
                return httpx.get(url, timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, f"{self.name} to be ready at {url}")

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log_file.close()
        return self.popen.returncode


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for process in reversed(started):
            process.stop()


def start_nm(tmp_path: Path, sink: Any, processes: list[Process], *options: str) -> Process:
    """`nm run` on the quickstart manifests, its webhook receivers pointed at the sink."""
    config = tmp_path / "config"
    config.mkdir()
    for manifest in (p for p in QUICKSTART.iterdir() if p.is_file()):
        text = manifest.read_text().replace("127.0.0.1:19099", f"127.0.0.1:{sink.port}")
        (config / manifest.name).write_text(text)
    port = free_port()
    nm = Process("nm run", [sys.executable, "-m", "nmcore", "run", "--config-dir", str(config),
                            "--listen", f"127.0.0.1:{port}", "--state-dir", str(tmp_path / "state"), *options],
                 tmp_path / "nm.log", f"http://127.0.0.1:{port}")
    processes.append(nm)
    nm.wait_ready("/readyz")
    return nm


@pytest.fixture
def nm(tmp_path: Path, sink: Any, processes: list[Process]) -> Process:
    return start_nm(tmp_path, sink, processes)


def alertmanager_config(nm_alerts_url: str, http_config: dict | None = None) -> dict:
    """The seed's receivers and routes; group_wait and group_interval shortened (the seed's is 30s)."""
    webhook: dict[str, Any] = {"url": nm_alerts_url} | ({"http_config": http_config} if http_config else {})
    return {
        "route": {
            "receiver": "unrouted",
            "group_by": ["alertname"],
            "group_wait": "200ms",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"match": {"alerttype": ""}, "receiver": "prometheus"},
                {"match": {"alerttype": "event"}, "receiver": "event", "group_interval": "1s"},  # seed: 30s
                {"match": {"alerttype": "auditing"}, "receiver": "auditing", "group_interval": "1s"},  # seed: 30s
            ],
        },
        "receivers": [
            {"name": "unrouted"},  # the root route needs one; every alert here matches a seed route
            {"name": "prometheus", "webhook_configs": [webhook]},
            {"name": "event", "webhook_configs": [{**webhook, "send_resolved": False}]},
            {"name": "auditing", "webhook_configs": [{**webhook, "send_resolved": False}]},
        ],
    }


def launch_alertmanager(tmp_path: Path, nm_alerts_url: str, http_config: dict | None = None) -> Process:
    """The real Alertmanager on a free port, sending to `nm_alerts_url` (`alertmanager_config`), ready."""
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(nm_alerts_url, http_config)))
    storage = tmp_path / "alertmanager-data"
    storage.mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    am = Process("alertmanager", [
        ALERTMANAGER, f"--config.file={config}", f"--storage.path={storage}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", f"--web.external-url={url}",
        "--log.level=info",
    ], tmp_path / "alertmanager.log", url)
    try:
        am.wait_ready("/-/ready")
    except BaseException:
        am.stop()
        raise
    return am


@asynccontextmanager
async def alertmanager_posting_to(manager: Manager, tmp_path: Path) -> AsyncIterator[Process]:
    """`manager` serving its HTTP intake in this process (so a test can set its clock), ready, and the real
    Alertmanager posting its groups there."""
    async with manager, serving_app(create_app(manager)) as nm_url:
        await manager.wait_ready(10)
        am = await anyio.to_thread.run_sync(launch_alertmanager, tmp_path, f"{nm_url}/api/v2/alerts")
        try:
            yield am
        finally:
            am.stop()


async def until(condition: Callable[[], Any], am: Process, timeout: float = 30) -> None:
    """Wait for `condition`, failing with Alertmanager's log if it exits meanwhile."""
    with anyio.fail_after(timeout):
        while not condition():
            if am.popen.poll() is not None:
                raise AssertionError(am.tail())
            await anyio.sleep(0.05)


def start_alertmanager(tmp_path: Path, nm: Process, processes: list[Process], http_config: dict | None = None) -> str:
    am = launch_alertmanager(tmp_path, f"{nm.url}/api/v2/alerts", http_config)
    processes.append(am)
    return am.url


@pytest.fixture
def alertmanager_url(tmp_path: Path, nm: Process, processes: list[Process]) -> str:
    return start_alertmanager(tmp_path, nm, processes)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def alert(key: str, alertname: str, namespace: str | None = None, **labels: str) -> dict:
    """An alert as Prometheus (or KubeSphere's event/auditing exporters) pushes it; `key` names it uniquely.

    No startsAt: Alertmanager stamps it on arrival. A start older than group_wait would make Alertmanager
    flush a new group at once, before the rest of the same POST is in it, and send the group twice.
    """
    labels = {"alertname": alertname, "key": key, **labels}
    if namespace:
        labels["namespace"] = namespace
    return {"labels": labels, "annotations": {"summary": f"{alertname} ({key})"}}


PROMETHEUS = [
    alert("crash-team-a", "KubePodCrashLooping", "team-a", pod="web-a", severity="critical"),
    alert("crash-team-b", "KubePodCrashLooping", "team-b", pod="web-b", severity="critical"),
    alert("crash-shared", "KubePodCrashLooping", "shared", pod="web-shared", severity="warning"),
    alert("crash-demo", "KubePodCrashLooping", "demo", pod="web-demo", severity="warning"),
    alert("disk-node-1", "NodeFilesystemAlmostFull", instance="node-1", severity="warning"),
]
EVENT = alert("backoff-team-a", "ContainerBackoff", "team-a", alerttype="event", pod="web-a")
AUDITING = alert("exec-shared", "ExecIntoPod", "shared", alerttype="auditing", user="bob", pod="web-shared")
# Later alerts in the same Alertmanager groups as EVENT and AUDITING: the flush that sends them is the one
# that would have carried the resolved EVENT and AUDITING, so their arrival proves those were withheld.
LATER_EVENT = alert("backoff-team-a-later", "ContainerBackoff", "team-a", alerttype="event", pod="web-a-2")
LATER_AUDITING = alert("exec-shared-later", "ExecIntoPod", "shared", alerttype="auditing", user="bob", pod="db")

WHO_SEES = {
    "alice": {"team-a", "shared"},
    "bob": {"team-b", "shared"},
    "test-user": {"demo"},
}


def expected(alerts: list[dict], status: str) -> dict[str, Counter]:
    """Receiver path → the alerts (key, status) it must get: tenants by namespace access, global all."""
    wanted: dict[str, Counter] = {"global": Counter((a["labels"]["key"], status) for a in alerts)}
    for user, namespaces in WHO_SEES.items():
        wanted[user] = Counter((a["labels"]["key"], status) for a in alerts
                               if a["labels"].get("namespace") in namespaces)
    return wanted


def received(sink: Any) -> dict[str, Counter]:
    return {path.strip("/"): Counter((a["labels"]["key"], a["status"]) for a in alerts)
            for path, alerts in sink.alerts_by_path().items()}


def push(alertmanager_url: str, alerts: list[dict]) -> None:
    response = httpx.post(f"{alertmanager_url}/api/v2/alerts", json=alerts, timeout=5)
    assert response.status_code == 200, response.text


def combined(*parts: dict[str, Counter]) -> dict[str, Counter]:
    total: dict[str, Counter] = {}
    for part in parts:
        for path, counts in part.items():
            total[path] = total.get(path, Counter()) + counts
    return {path: counts for path, counts in total.items() if counts}


def wait_for_exactly(sink: Any, wanted: dict[str, Counter], what: str, processes: list[Process]) -> None:
    """Poll until every wanted alert arrived (or one not wanted did), then require exactly the wanted ones."""
    wanted = {path: counts for path, counts in wanted.items() if counts}

    def complete() -> bool:
        got = received(sink)
        extra = any(counts - wanted.get(path, Counter()) for path, counts in got.items())
        return extra or all(got.get(path, Counter()) >= counts for path, counts in wanted.items())

    try:
        wait_for(complete, what)
    except AssertionError as exc:
        logs = "\n".join(p.tail() for p in processes)
        raise AssertionError(f"{exc}\nwanted: {wanted}\nreceived: {received(sink)}\n{logs}") from None
    assert received(sink) == wanted


def resolved(alerts: list[dict]) -> list[dict]:
    return [{**a, "endsAt": now()} for a in alerts]


def test_alerts_through_alertmanager_reach_exactly_the_entitled_receivers(
    sink: Any, nm: Process, alertmanager_url: str, processes: list[Process]
) -> None:
    firing_all = [*PROMETHEUS, EVENT, AUDITING]
    push(alertmanager_url, firing_all)
    firing = expected(firing_all, "firing")
    wait_for_exactly(sink, firing, "firing notifications", processes)

    # Resolve everything, then send one more event and auditing alert into the same groups (order matters:
    # resolutions first, so the flush that carries the later alerts has the resolved ones in it too).
    # Resolved Prometheus alerts must arrive; resolved events and auditing alerts must not (send_resolved: false).
    push(alertmanager_url, [*resolved([*PROMETHEUS, EVENT, AUDITING]), LATER_EVENT, LATER_AUDITING])
    final = combined(firing, expected(PROMETHEUS, "resolved"), expected([LATER_EVENT, LATER_AUDITING], "firing"))
    wait_for_exactly(sink, final, "resolved notifications (Prometheus alerts only)", processes)

    bodies = {r["path"].strip("/"): r for r in sink.received}
    assert bodies["alice"]["body"]["tenant"] == "alice"
    assert bodies["global"]["body"]["tenant"] == ""
    assert bodies["global"]["headers"]["Authorization"] == "Bearer demo-bearer-token"

    assert nm.stop() == 0, f"nm run did not stop cleanly on SIGTERM\n{nm.tail()}"


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
def test_alertmanager_delivers_with_the_intake_credentials_that_others_lack(
    tmp_path: Path, sink: Any, processes: list[Process], scheme: str
) -> None:
    """Alertmanager's own http_config (credentials from files) against `nm run --intake-*-file`."""
    am_file, nm_file = tmp_path / "alertmanager-credential", tmp_path / "nm-intake-credential"
    if scheme == "bearer":
        am_file.write_text("am-to-nm-token-0b1f\n")
        nm_file.write_text("am-to-nm-token-0b1f\n")
        option, http_config = "--intake-token-file", {"authorization": {"credentials_file": str(am_file)}}
    else:
        am_file.write_text("am-to-nm-pass-0b1f")
        nm_file.write_text("alertmanager:am-to-nm-pass-0b1f\n")
        option = "--intake-basic-auth-file"
        http_config = {"basic_auth": {"username": "alertmanager", "password_file": str(am_file)}}
    nm = start_nm(tmp_path, sink, processes, option, str(nm_file))
    alertmanager = start_alertmanager(tmp_path, nm, processes, http_config)

    push(alertmanager, [PROMETHEUS[0]])
    wait_for_exactly(sink, expected([PROMETHEUS[0]], "firing"), "the alert, through Alertmanager", processes)

    refused = httpx.post(f"{nm.url}/api/v2/alerts", json=[PROMETHEUS[1]], timeout=5)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == ('Bearer realm="nmcore"' if scheme == "bearer"
                                                   else 'Basic realm="nmcore"')
    assert "am-to-nm" not in nm.log.read_text()
