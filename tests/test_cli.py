"""The `nm` command as a user runs it: validate, route and plugins, in a subprocess, reading what it prints."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from nmcore.plugins import PluginHost
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[1]
NS = "kubesphere-monitoring-system"


def nm(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=60)


def test_validate_accepts_the_quickstart() -> None:
    result = nm("validate", "examples/quickstart")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "0 problems" in result.stderr


def test_validate_reports_the_seed_secret_typo_with_the_near_name() -> None:
    result = nm("validate", "examples/seed")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for line in lines:
        assert re.match(rf"examples/seed/[\w-]+\.yaml(#\d+)?: \w+/{NS}/[\w-]+: \S", line), line

    installed = set(PluginHost().channels)
    for channel in {"email", "wechat", "slack"} - installed:
        missing = [line for line in lines if f"pip install nm-{channel}" in line]
        assert missing, f"nothing says how to get the {channel} channel:\n{result.stdout}"
        assert all(f"examples/seed/{channel}-" in line for line in missing)
    problems = [line for line in lines if "pip install nm-" not in line and "will not send" not in line]
    if "wechat" in installed:  # the seed's only problem: its typo (its unlabelled tenant Secrets are test-user's)
        assert problems == [
            f"examples/seed/wechat-tenant.yaml#2: WechatConfig/{NS}/test-user-config: Secret 'test-user-wehat-secret' "
            f"not found in namespace '{NS}' (did you mean 'test-user-wechat-secret'?) @ $.spec.wechatApiSecret"]
        assert [line.split(": ")[1] for line in lines if "will not send" in line] == [
            f"WechatReceiver/{NS}/test-user-wechat"]
    else:
        assert problems == []


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


WEBHOOK = "apiVersion: notification.kubesphere.io/v1alpha1\n"


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    """Good objects (a default config, a global and a tenant receiver) next to one of each mistake."""
    write(tmp_path, "good.yaml", f"""\
apiVersion: v1
kind: Secret
metadata: {{name: alice-token}}
stringData: {{token: s3cret}}
---
{WEBHOOK}kind: WebhookConfig
metadata: {{name: default-webhook-config, labels: {{type: default}}}}
spec: {{url: "http://127.0.0.1:9/global"}}
---
{WEBHOOK}kind: WebhookReceiver
metadata: {{name: global-webhook, labels: {{type: global}}}}
spec: {{}}
---
{WEBHOOK}kind: WebhookReceiver
metadata: {{name: bob-webhook, labels: {{type: tenant, user: bob}}}}
spec: {{url: "http://127.0.0.1:9/bob"}}
""")
    write(tmp_path, "typo.yaml", f"""\
{WEBHOOK}kind: WebhookReceiver
metadata: {{name: carol-webhook, labels: {{type: tenant, user: carol}}}}
spec:
  urll: http://127.0.0.1:9/carol
""")
    write(tmp_path, "wrong-type.yaml", f"""\
{WEBHOOK}kind: WebhookConfig
metadata: {{name: dave-config, labels: {{type: tenant, user: dave}}}}
spec:
  url: https://127.0.0.1:9/dave
  httpConfig:
    tlsConfig:
      insecureSkipVerify: sometimes
""")
    write(tmp_path, "broken.yaml", f"""\
{WEBHOOK}kind: WebhookReceiver
metadata:
  name: erin-webhook
  labels: {{type: tenant, user: erin
spec: {{}}
""")
    write(tmp_path, "dangling.yaml", f"""\
{WEBHOOK}kind: WebhookConfig
metadata: {{name: alice-config, labels: {{type: tenant, user: alice}}}}
spec:
  url: http://127.0.0.1:9/alice
  httpConfig:
    bearerToken:
      valueFrom:
        secretKeyRef: {{name: alice-tokn, key: token}}
""")
    write(tmp_path, "selector.yaml", f"""\
{WEBHOOK}kind: WebhookReceiver
metadata: {{name: frank-webhook, labels: {{type: tenant, user: frank}}}}
spec:
  webhookConfigSelector:
    matchLabels: {{type: tenant, user: franck}}
""")
    write(tmp_path, "other-bob.yaml", f"""\
{WEBHOOK}kind: WebhookReceiver
metadata: {{name: bob-webhook, labels: {{type: tenant, user: bob}}}}
spec: {{url: "http://127.0.0.1:9/bob-again"}}
""")
    return tmp_path


def test_validate_locates_every_mistake_and_still_counts_the_good_objects(bad_folder: Path) -> None:
    result = nm("validate", ".", cwd=bad_folder)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()

    def line_about(prefix: str, *fragments: str) -> str:
        found = [line for line in lines if line.startswith(prefix)]
        assert len(found) == 1, f"expected one line starting {prefix!r}:\n{result.stdout}"
        for fragment in fragments:
            assert fragment in found[0]
        return found[0]

    line_about(f"typo.yaml: WebhookReceiver/{NS}/carol-webhook: ", "unknown field 'urll'", "did you mean 'url'",
               "@ $.spec")
    line_about(f"wrong-type.yaml: WebhookConfig/{NS}/dave-config: ", "expected true or false",
               "@ $.spec.httpConfig.tlsConfig.insecureSkipVerify")
    line_about("broken.yaml: ", "not valid YAML at line 6")
    line_about(f"dangling.yaml: WebhookConfig/{NS}/alice-config: ", "'alice-tokn' not found",
               "did you mean 'alice-token'")
    line_about(f"selector.yaml: WebhookReceiver/{NS}/frank-webhook: ", "user=franck",
               "matches no eligible WebhookConfig", f"WebhookConfig/{NS}/default-webhook-config")
    line_about(f"other-bob.yaml: WebhookReceiver/{NS}/bob-webhook: ", "duplicate of the object in good.yaml")
    assert len(lines) == 6, result.stdout

    # good.yaml's 4 documents + one from each other file that parsed; global, bob and frank (on the default
    # config) can send; carol's receiver did not load, the second bob-webhook was ignored.
    assert "9 manifests: 3 receivers can send, 0 cannot, 6 problems" in result.stderr


def test_route_explains_who_gets_each_alert_and_why_not_the_others(tmp_path: Path) -> None:
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({
        "version": "4", "status": "firing", "receiver": "prometheus", "groupLabels": {},
        "alerts": [
            {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": "team-a", "pod": "web"},
             "annotations": {}, "startsAt": "2026-11-24T05:53:21Z", "endsAt": "0001-01-01T00:00:00Z"},
            {"status": "firing", "labels": {"alertname": "NodeDown", "instance": "node-1"},
             "annotations": {}, "startsAt": "2026-11-24T05:53:21Z", "endsAt": "0001-01-01T00:00:00Z"},
        ],
    }))
    result = nm("route", "--config-dir", "examples/quickstart", payload)
    assert result.returncode == 0, result.stderr
    team_a, no_namespace = (json.loads(line) for line in result.stdout.splitlines())

    receiver = f"WebhookReceiver/{NS}"
    default_config = f"WebhookConfig/{NS}/default-webhook-config"
    assert team_a["alert"]["labels"]["namespace"] == "team-a"
    assert {r["receiver"]: (r["channel"], r["tenant"]) for r in team_a["receivers"]} == {
        f"{receiver}/global-webhook": ("webhook", ""),
        f"{receiver}/alice-webhook": ("webhook", "alice"),
    }
    global_entry = next(r for r in team_a["receivers"] if r["tenant"] == "")
    assert global_entry["config"] == default_config
    why_not = {r["receiver"]: r["reason"] for r in team_a["not_receiving"]}
    assert set(why_not) == {f"{receiver}/bob-webhook", f"{receiver}/test-user-webhook"}
    assert "'bob' cannot access namespace 'team-a'" in why_not[f"{receiver}/bob-webhook"]
    assert "alice" in why_not[f"{receiver}/bob-webhook"]

    assert [r["receiver"] for r in no_namespace["receivers"]] == [f"{receiver}/global-webhook"]
    assert len(no_namespace["not_receiving"]) == 3
    assert all("no namespace" in r["reason"] for r in no_namespace["not_receiving"])


def test_plugins_lists_the_builtin_webhook_channel() -> None:
    result = nm("plugins")
    assert result.returncode == 0, result.stdout + result.stderr
    webhook = [line for line in result.stdout.splitlines() if line.startswith("webhook ")]
    assert len(webhook) == 1, result.stdout
    assert re.search(r"WebhookConfig/WebhookReceiver\s+nmcore \d+\.\d+", webhook[0]), webhook[0]
    lines = result.stdout.splitlines()
    assert lines[lines.index(webhook[0]) + 1].split() == ["limits:", "5s", "timeout", "per", "send"]


def test_log_format_json_writes_one_object_per_line_for_log_collectors() -> None:
    result = nm("--log-format", "json", "verify", "--config-dir", "examples/seed", "test-user-wechat")
    assert result.returncode == 1, result.stdout + result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and all(set(r) == {"time", "level", "logger", "message"} for r in records), records
    [failed] = [r for r in records if r["message"].startswith("verify ")]
    assert failed["level"] == "INFO" and failed["logger"] == "nmcore.manager"
    assert "Secret 'test-user-wehat-secret' not found" in failed["message"]
    assert result.stdout.startswith("FAIL  WechatReceiver/kubesphere-monitoring-system/test-user-wechat")


ROUTE_PAYLOAD = json.dumps({"alerts": [
    {"labels": {"alertname": "KubePodCrashLooping", "namespace": "team-a"}, "startsAt": "2026-11-24T05:53:21Z"},
    {"labels": {"alertname": "Burning"}, "status": "burning"},
]})


def test_route_reads_stdin_and_exits_1_when_an_alert_was_rejected() -> None:
    result = subprocess.run([sys.executable, "-m", "nmcore", "route", "--config-dir", "examples/quickstart", "-"],
                            input=ROUTE_PAYLOAD, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 1, result.stderr
    [explanation] = [json.loads(line) for line in result.stdout.splitlines()]
    assert explanation["alert"]["labels"]["alertname"] == "KubePodCrashLooping"
    assert ("nm route: -: alert rejected: status must be 'firing' or 'resolved', got 'burning' (did you mean "
            "'firing'?) @ $.alerts[1].status") in result.stderr


def test_route_url_asks_a_running_nm_and_explains_the_same(tmp_path: Path, nm) -> None:  # type: ignore[no-untyped-def]
    server = nm(REPO / "examples" / "quickstart", tmp_path / "state")
    here = subprocess.run([sys.executable, "-m", "nmcore", "route", "--config-dir", "examples/quickstart", "-"],
                          input=ROUTE_PAYLOAD, capture_output=True, text=True, timeout=60, cwd=REPO)
    there = subprocess.run([sys.executable, "-m", "nmcore", "route", "--url", server.url, "-"],
                           input=ROUTE_PAYLOAD, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert (there.returncode, there.stdout, there.stderr) == (here.returncode, here.stdout, here.stderr)
    assert there.returncode == 1 and json.loads(there.stdout)["receivers"]


def test_a_kind_whose_plugin_was_installed_after_start_says_restart_to_load(tmp_path: Path, nm) -> None:  # type: ignore[no-untyped-def]
    site, config = tmp_path / "site", tmp_path / "config"
    site.mkdir()
    config.mkdir()
    (config / "receivers.yaml").write_text(
        "apiVersion: notification.kubesphere.io/v1alpha1\nkind: WebhookReceiver\n"
        "metadata: {name: hook, labels: {type: global}}\nspec: {url: 'http://127.0.0.1:9/'}\n")
    server = nm(config, tmp_path / "state", env={**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}"})
    info = site / "nm_pigeon-0.1.dist-info"  # what `pip install nm-pigeon` leaves, while nm runs
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: nm-pigeon\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[nmcore]\npigeon = nm_pigeon\n")
    (site / "nm_pigeon.py").write_text("raise ImportError('never imported by a running nm')\n")
    (config / "pigeon.yaml").write_text(
        "apiVersion: notification.kubesphere.io/v1alpha1\nkind: PigeonReceiver\n"
        "metadata: {name: ops, labels: {type: global}}\nspec: {}\n")

    def problems() -> list[str]:
        return httpx.get(f"{server.url}/api/v2/status", timeout=5).json()["problems"]

    [problem] = wait_for(problems, "the new manifest to be read")
    assert problem == (f"{config / 'pigeon.yaml'}: PigeonReceiver/{NS}/ops: unknown kind PigeonReceiver: plugin "
                       "'pigeon' (nm-pigeon 0.1) was installed after nm started and is not loaded yet: restart nm to "
                       "load it")


@pytest.mark.parametrize("command", [["route", "-"], ["silences"], ["verify"]])
def test_an_unreadable_token_file_is_one_line_naming_it(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-such-token"
    done = subprocess.run([sys.executable, "-m", "nmcore", *command, "--url", "http://127.0.0.1:9",
                           "--token-file", str(missing)], input="", capture_output=True, text=True, timeout=60,
                          cwd=REPO)
    assert done.returncode == 2 and done.stderr == f"nm {command[0]}: --token-file {missing}: No such file or directory\n"
