"""A receiver that would fail on a missing or invalid Secret is reported as unable to send, with the field that
names the Secret; an invalid Secret is called invalid, not missing; "did you mean" names only Secrets the
referring object may use."""

import json
import subprocess
import sys
from pathlib import Path

import httpx

from nmcore.testing import snapshot_from_yaml
from tests.support import nm_run

NS = "kubesphere-monitoring-system"
GV = "notification.kubesphere.io/v1alpha1"
REPO = Path(__file__).resolve().parents[1]
BEARER = "$.spec.httpConfig.bearerToken"


def config_with_secret(secret_name: str, config_labels: str = "{type: default}") -> str:
    return f"""---
apiVersion: {GV}
kind: WebhookConfig
metadata: {{name: hooks, labels: {config_labels}}}
spec:
  url: http://hooks.example/alerts
  httpConfig: {{bearerToken: {{valueFrom: {{secretKeyRef: {{name: {secret_name}, key: token}}}}}}}}
"""


def receiver(name: str, labels: str = "{type: global}", spec: str = "{}") -> str:
    return f"""---
apiVersion: {GV}
kind: WebhookReceiver
metadata: {{name: {name}, labels: {labels}}}
spec: {spec}
"""


def secret(name: str, labels: str = "{app: notification-manager}", data: str = "{token: dG9rZW4=}") -> str:
    return f"""---
apiVersion: v1
kind: Secret
metadata:
  name: {name}
  labels: {labels}
data: {data}
"""


def test_a_receiver_whose_config_names_a_missing_secret_cannot_send() -> None:
    snapshot = snapshot_from_yaml(config_with_secret("hook-tokn") + secret("hook-token") + receiver("everyone"))
    ref = f"WebhookReceiver/{NS}/everyone"
    assert ref not in snapshot.targets
    reason = snapshot.skipped[ref]
    assert reason == (f"its config WebhookConfig/{NS}/hooks cannot be used: Secret 'hook-tokn' not found in namespace "
                      f"'{NS}' (did you mean 'hook-token'?) @ {BEARER}")


def test_nm_validate_and_status_count_it_under_cannot_send(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(config_with_secret("missing") + receiver("everyone"))
    result = subprocess.run([sys.executable, "-m", "nmcore", "validate", str(tmp_path)], capture_output=True,
                            text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert "0 receivers can send, 1 cannot" in result.stderr
    lines = result.stdout.splitlines()
    assert f"config.yaml#1: WebhookConfig/{NS}/hooks: Secret 'missing' not found in namespace '{NS}' @ {BEARER}" \
        in [line.removeprefix(f"{tmp_path}/") for line in lines]
    payload = tmp_path / "alerts.json"
    payload.write_text(json.dumps([{"labels": {"alertname": "A", "namespace": "x"}}]))
    route = subprocess.run([sys.executable, "-m", "nmcore", "route", "--config-dir", str(tmp_path), str(payload)],
                           capture_output=True, text=True, cwd=REPO, timeout=60)
    [explained] = [json.loads(line) for line in route.stdout.splitlines()]
    assert explained["receivers"] == []
    [withheld] = explained["not_receiving"]
    assert withheld["receiver"] == f"WebhookReceiver/{NS}/everyone"
    assert withheld["reason"].startswith("receiver cannot send: its config") and BEARER in withheld["reason"]
    payload.unlink()
    with nm_run(tmp_path, "--config-dir", str(tmp_path), "--no-state") as nm:
        status = httpx.get(f"{nm.url}/api/v2/status").json()
    assert status["receivers"] == []
    [cannot] = status["cannot_send"]
    assert cannot["receiver"] == f"WebhookReceiver/{NS}/everyone" and cannot["reason"].endswith(BEARER)
    assert any(p.endswith(f"WebhookConfig/{NS}/hooks: Secret 'missing' not found in namespace '{NS}' @ {BEARER}")
               for p in status["problems"])


def test_labels_null_is_accepted_as_kubectl_accepts_it() -> None:
    snapshot = snapshot_from_yaml(config_with_secret("hook-token") + secret("hook-token", labels="") + receiver("r"))
    assert snapshot.problems == ()
    assert f"WebhookReceiver/{NS}/r" in snapshot.targets


def test_an_invalid_secret_is_called_invalid_not_missing() -> None:
    yaml_text = secret("hook-token", data="{token: not base64!}") + config_with_secret("hook-token") + receiver("r")
    snapshot = snapshot_from_yaml(yaml_text)
    messages = [str(p) for p in snapshot.problems]
    assert f"test.yaml#1: Secret/{NS}/hook-token: data.token is not valid base64 @ $.data" in messages
    reason = snapshot.skipped[f"WebhookReceiver/{NS}/r"]
    assert "Secret 'hook-token' is invalid (see test.yaml#1)" in reason
    assert "not found" not in reason and "did you mean" not in reason


def test_a_secret_that_does_not_decode_is_invalid_too() -> None:
    yaml_text = secret("hook-token", data="[not, a, mapping]") + config_with_secret("hook-token") + receiver("r")
    reason = snapshot_from_yaml(yaml_text).skipped[f"WebhookReceiver/{NS}/r"]
    assert "Secret 'hook-token' is invalid (see test.yaml#1)" in reason


def test_did_you_mean_names_only_the_referring_tenants_own_secrets() -> None:
    tenant = "{type: tenant, user: alice}"
    spec = ("{url: http://alice.example, httpConfig: {bearerToken: {valueFrom: "
            "{secretKeyRef: {name: %s, key: token}}}}}")
    yaml_text = secret("bob-hook-token", labels="{user: bob}") + secret("alice-hook-token", labels="{user: alice}")
    typo_near_bob = snapshot_from_yaml(yaml_text + receiver("a", tenant, spec % "bob-hook-tokn"))
    reason = typo_near_bob.skipped[f"WebhookReceiver/{NS}/a"]
    assert "not found" in reason and "bob-hook-token" not in reason
    typo_near_own = snapshot_from_yaml(yaml_text + receiver("a", tenant, spec % "alice-hook-tokn"))
    assert "(did you mean 'alice-hook-token'?)" in typo_near_own.skipped[f"WebhookReceiver/{NS}/a"]
