"""`nm render`: a receiver's message in the formats it is sent in, from a folder or a cluster, sending nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

MANIFESTS = """
apiVersion: v1
kind: ConfigMap
metadata: {name: ops-templates}
data:
  ops.html: "<h1>{{ subject }}</h1><p>{{ alerts | length }} for ops</p>"
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {name: mail, labels: {type: default}}
spec: {from: nm@example.com, smartHost: {host: 127.0.0.1, port: 25}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {name: ops, labels: {type: global}}
spec: {to: [ops@example.com], template: ops.html, tmplText: {name: ops-templates}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {name: li, labels: {type: global}}
spec: {to: [li@example.com], tmplType: text, language: zh-cn}
"""

PAYLOAD = {"receiver": "nm", "status": "firing", "externalURL": "http://am.example.com", "groupLabels": {},
           "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "namespace": "dev", "node": "n1"},
                       "annotations": {"summary": "disk full", "summaryCn": "磁盘已满"}, "startsAt": "",
                       "endsAt": "", "generatorURL": "", "fingerprint": "f1"}]}


def nm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "all.yaml").write_text(MANIFESTS)
    (tmp_path / "payload.json").write_text(json.dumps(PAYLOAD))
    return tmp_path / "config"


def test_nm_render_shows_every_format_a_receiver_is_sent_in(config_dir: Path) -> None:
    shown = nm("render", "--config-dir", config_dir, "ops", "--payload", config_dir.parent / "payload.json")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:4] == [
        "# EmailReceiver/kubesphere-monitoring-system/ops (email, English)",
        "== subject  (nm.default.subject)", "[FIRING] DiskFull: disk full in dev", "== text  (nm.default.text)"]
    assert "== html  (ops.html)\n<h1>[FIRING] DiskFull: disk full in dev</h1><p>1 for ops</p>" in shown.stdout

    chinese = nm("render", "--config-dir", config_dir, "EmailReceiver/li", "--payload",
                 config_dir.parent / "payload.json")
    assert "== subject  (nm.default.subject)\n[告警中] DiskFull: 磁盘已满（项目 dev）" in chinese.stdout
    assert "== html" not in chinese.stdout, "tmplType text: no HTML part is sent, so none is shown"


def test_nm_render_one_format_raw_from_the_sample(config_dir: Path) -> None:
    raw = nm("render", "--config-dir", config_dir, "li", "--format", "html")
    assert raw.returncode == 0 and raw.stdout.startswith("<!doctype html>") and "KubePodCrashLooping" in raw.stdout
    unknown = nm("render", "--config-dir", config_dir, "opz")
    assert unknown.returncode == 2 and "no receiver 'opz' in the configuration (did you mean 'ops'?)" in unknown.stderr
