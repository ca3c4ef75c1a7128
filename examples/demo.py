"""The nmcore demo: which tenant gets which alert, on your machine, with no external account.

It starts a local receiver on 127.0.0.1:19099 (the quickstart's webhook receivers POST there), runs
`nm run` on examples/quickstart on 127.0.0.1:19093, sends sample alert groups the way Prometheus
Alertmanager would, and prints what each receiver got and why.

    python examples/demo.py                  # run once and stop
    python examples/demo.py --keep-running   # leave the manager up to send your own alerts
"""

import argparse
import datetime
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

CONFIG = Path(__file__).resolve().parent / "quickstart"
MANAGER = ("127.0.0.1", 19093)
RECEIVER = ("127.0.0.1", 19099)
MANAGER_URL = f"http://{MANAGER[0]}:{MANAGER[1]}"
RECEIVERS = ["global", "test-user", "alice", "bob"]
"""The quickstart's webhook receivers, by the path each POSTs to."""


class PortTaken(Exception):
    pass


class LocalReceiver(ThreadingHTTPServer):
    """Stands in for the people being notified: records each webhook POST under its path (/alice, /bob...)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int]):
        try:
            super().__init__(address, _RecordPost)
        except OSError as exc:
            raise PortTaken(f"port {address[1]} is in use: the demo's local receiver needs it, because the "
                            f"webhook receivers in examples/quickstart send to {address[0]}:{address[1]}. "
                            f"Stop what listens there (see: ss -ltnp 'sport = :{address[1]}') and try again.") from exc
        self.received: list[tuple[str, dict]] = []
        self.lock = threading.Lock()
        self.on_receive: Callable[[str, dict], None] | None = None
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def record(self, path: str, body: dict) -> None:
        with self.lock:
            self.received.append((path, body))
        if self.on_receive:
            self.on_receive(path, body)

    def alerts_for(self, path: str) -> list[dict]:
        with self.lock:
            return [alert for p, body in self.received if p == path for alert in body["alerts"]]


class _RecordPost(BaseHTTPRequestHandler):
    server: LocalReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.record(self.path.strip("/"), json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        """Quiet: the demo prints its own summary."""


def ensure_free(address: tuple[str, int]) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise PortTaken(f"port {address[1]} is in use: the demo runs the manager there (Alertmanager's "
                            f"usual target, 19093). Is another `nm run` or demo still running? "
                            f"See: ss -ltnp 'sport = :{address[1]}'") from exc


def start_manager(workdir: Path) -> subprocess.Popen:
    """`nm run` on the quickstart, with its log and state (pending deliveries) in `workdir`."""
    log = workdir / "nm.log"
    command = [sys.executable, "-m", "nmcore", "run", "--config-dir", str(CONFIG),
               "--listen", f"{MANAGER[0]}:{MANAGER[1]}", "--state-dir", str(workdir / "state")]
    with log.open("wb") as out:
        manager = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if manager.poll() is not None:
            raise SystemExit(f"nm run exited with status {manager.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{MANAGER_URL}/readyz", timeout=1).status_code == 200:
                return manager
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    manager.terminate()
    raise SystemExit(f"nm run did not become ready within 30 s; its log:\n{log.read_text()}")


def stop_manager(manager: subprocess.Popen) -> int:
    if manager.poll() is None:
        manager.send_signal(signal.SIGTERM)
        try:
            manager.wait(30)
        except subprocess.TimeoutExpired:
            manager.kill()
            manager.wait()
    return manager.returncode


# --- sample alerts, in the shape Alertmanager's webhook_configs POST -----------------------------------------

NOW = datetime.datetime.now(datetime.UTC)
STARTED = (NOW - datetime.timedelta(minutes=12)).isoformat()
NEVER = "0001-01-01T00:00:00Z"


def alert(alertname: str, namespace: str | None, summary: str, status: str = "firing", **labels: str) -> dict:
    labels = {"alertname": alertname, **({"namespace": namespace} if namespace else {}), **labels}
    return {
        "status": status,
        "labels": labels,
        "annotations": {"summary": summary},
        "startsAt": STARTED,
        "endsAt": NOW.isoformat() if status == "resolved" else NEVER,
        "generatorURL": "",
        "fingerprint": hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16],
    }


def group(receiver: str, alerts: list[dict]) -> dict:
    """An Alertmanager webhook body; `receiver` is the Alertmanager receiver (by alerttype) that sent it."""
    alertname = alerts[0]["labels"]["alertname"]
    common = {k: v for k, v in alerts[0]["labels"].items() if all(a["labels"].get(k) == v for a in alerts)}
    return {
        "version": "4", "receiver": receiver,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "alerts": alerts, "groupLabels": {"alertname": alertname}, "commonLabels": common, "commonAnnotations": {},
        "externalURL": "http://alertmanager.demo:9093", "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
    }


CRASH_TEAM_A = alert("KubePodCrashLooping", "team-a", "Pod web-1 is crash looping", pod="web-1", severity="critical")
SAMPLES = [
    ("Prometheus alerts in four namespaces", group("prometheus", [
        CRASH_TEAM_A,
        alert("KubePodCrashLooping", "team-b", "Pod api-1 is crash looping", pod="api-1", severity="critical"),
        alert("KubePodCrashLooping", "shared", "Pod db-0 is crash looping", pod="db-0", severity="warning"),
        alert("KubePodCrashLooping", "demo", "Pod demo-app is crash looping", pod="demo-app", severity="warning"),
    ])),
    ("a Prometheus alert with no namespace", group("prometheus", [
        alert("NodeFilesystemAlmostFull", None, "node-1: / is 93% full", instance="node-1", severity="warning"),
    ])),
    ("a Kubernetes event", group("event", [
        alert("ContainerBackoff", "team-b", "Back-off restarting failed container in api-1", alerttype="event",
              pod="api-1", severity="warning"),
    ])),
    ("an audit event", group("auditing", [
        alert("ExecIntoPod", "shared", "user bob ran kubectl exec in pod db-0", alerttype="auditing",
              user="bob", pod="db-0", severity="warning"),
    ])),
    ("the team-a crash loop, now resolved", group("prometheus", [
        {**CRASH_TEAM_A, "status": "resolved", "endsAt": NOW.isoformat()},
    ])),
]


def send_samples() -> None:
    print(f"Sending alert groups to {MANAGER_URL}/api/v2/alerts, as Alertmanager would:")
    for description, body in SAMPLES:
        response = httpx.post(f"{MANAGER_URL}/api/v2/alerts", json=body, timeout=10)
        response.raise_for_status()
        names = ", ".join(describe(a) for a in body["alerts"])
        print(f"  - {description}: {names}")


def wait_until_delivered(timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{MANAGER_URL}/api/v2/status", timeout=2).json()["pending"] == 0:
            return True
        time.sleep(0.1)
    return False


# --- the report ------------------------------------------------------------------------------------------------

def describe(alert: dict) -> str:
    labels = alert["labels"]
    kind = f" ({labels['alerttype']})" if labels.get("alerttype") else ""
    return f"{labels['alertname']}@{labels.get('namespace', '(no namespace)')}{kind}"


def namespaces_by_user() -> dict[str, list[str]]:
    """Read from the quickstart's RoleBindings, as the rbac tenant resolver does."""
    access: dict[str, list[str]] = {}
    for path in sorted(CONFIG.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "RoleBinding":
                for subject in doc.get("subjects", []):
                    if subject.get("kind") == "User":
                        access.setdefault(subject["name"], []).append(doc["metadata"]["namespace"])
    return access


def print_table(receiver: LocalReceiver) -> None:
    sent = [a for _, body in SAMPLES for a in body["alerts"] if a["status"] == "firing"]
    access = namespaces_by_user()
    print("\nWhat each webhook receiver got")
    print("==============================")
    for name in RECEIVERS:
        if name == "global":
            why = "type: global, so it gets every alert, also those without a namespace"
        else:
            why = f"tenant {name} can access namespaces: {', '.join(access.get(name, [])) or 'none'}"
        print(f"\n{name:<10} {why}")
        got = receiver.alerts_for(name)
        for a in got:
            print(f"    {a['status']:<9} {describe(a):<44} {a['annotations'].get('summary', '')}")
        if not got:
            print("    (nothing)")
        missed = [a for a in sent if describe(a) not in {describe(g) for g in got}]
        if missed:
            where = sorted({a["labels"].get("namespace", "no namespace") for a in missed})
            print(f"    not sent: {len(missed)} alert(s) from {', '.join(where)} ({name} cannot see those)")
    print()


def explain_one() -> None:
    payload = {**SAMPLES[0][1], "alerts": [CRASH_TEAM_A]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alert.json"
        path.write_text(json.dumps(payload))
        result = subprocess.run([sys.executable, "-m", "nmcore", "route", "--config-dir", str(CONFIG), str(path)],
                                capture_output=True, text=True, check=True)
    config = os.path.relpath(CONFIG)
    print(f"Why did alice get {describe(CRASH_TEAM_A)} and bob not? Ask nm route:\n")
    print(f"$ nm route --config-dir {config} alert.json")
    for line in result.stdout.splitlines():
        print(json.dumps(json.loads(line), indent=2, ensure_ascii=False))
    print()


def verify_receivers() -> None:
    print("Does each receiver work right now, before any real alert? Ask the running manager to send a test:\n")
    print(f"$ nm verify --url {MANAGER_URL}")
    result = subprocess.run([sys.executable, "-m", "nmcore", "verify", "--url", MANAGER_URL],
                            capture_output=True, text=True)
    print(result.stdout + result.stderr)


def keep_running(receiver: LocalReceiver, manager: subprocess.Popen) -> None:
    def show(path: str, body: dict) -> None:
        print(f"  -> {path}: " + ", ".join(f"{a['status']} {describe(a)}" for a in body["alerts"]), flush=True)

    receiver.on_receive = show
    print(f"The manager keeps running on {MANAGER_URL} (Ctrl-C stops it). Send your own alerts, e.g.:\n")
    print(f"  curl -XPOST -H 'Content-Type: application/json' {MANAGER_URL}/api/v2/alerts \\\n"
          """       -d '[{"labels": {"alertname": "Test", "namespace": "team-b"}}]'\n""")
    print(f"Edit the manifests in {os.path.relpath(CONFIG)} and the manager reloads them. Deliveries:")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(0.5):
        if manager.poll() is not None:
            print(f"the manager exited with status {manager.returncode}")
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-running", action="store_true", help="leave the manager up after the demo")
    args = parser.parse_args()

    try:
        ensure_free(MANAGER)
        receiver = LocalReceiver(RECEIVER)
    except PortTaken as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="nmcore-demo-"))
    log = workdir / "nm.log"
    print(f"Starting nm run on {MANAGER_URL} with the manifests in {os.path.relpath(CONFIG)}")
    print(f"Local receiver on http://{RECEIVER[0]}:{RECEIVER[1]}: records what each webhook receiver is sent\n")
    manager = start_manager(workdir)
    try:
        send_samples()
        if not wait_until_delivered():
            print(f"\nSome notifications were still pending after 20 s; the manager's log: {log}")
        print_table(receiver)
        explain_one()
        verify_receivers()
        if args.keep_running:
            keep_running(receiver, manager)
        print("Stopping the manager (SIGTERM)...", flush=True)
    finally:
        status = stop_manager(manager)
        receiver.shutdown()
    if status != 0:
        print(f"nm run exited with status {status}; its log: {log}", file=sys.stderr)
        return 1
    shutil.rmtree(workdir)
    print("Done.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
