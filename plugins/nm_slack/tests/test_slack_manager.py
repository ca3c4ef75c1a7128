"""End to end through nmcore's Manager: Alertmanager's payload in, Slack messages out, tenants kept apart."""

import os
import re
import subprocess
import sys

import nm_slack
import pytest

from nmcore import Manager, ManagerSettings, PluginHost, RetryPolicy

pytestmark = pytest.mark.anyio

TENANT = "SlackReceiver/kubesphere-monitoring-system/test-user-slack"
GLOBAL = "SlackReceiver/kubesphere-monitoring-system/global-slack-slack"
FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=0.0)

ROLEBINDING = """
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: test-user-admin, namespace: demo}
subjects: [{kind: User, name: test-user, apiGroup: rbac.authorization.k8s.io}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: admin}
"""


def payload(alerts: list[dict]) -> dict:
    """An Alertmanager webhook body (version 4), as POST /api/v2/alerts receives it."""
    return {"version": "4", "receiver": "prometheus", "status": "firing", "groupLabels": {},
            "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "groupKey": "{}:{}", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": labels, "annotations": {"summary": "pod restarts"},
                        "startsAt": "2026-11-24T05:53:21.974712798Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": ""} for labels in alerts]}


def pods(slack, channel: str) -> list[str]:
    text = "\n".join(b["text"]["text"] for m in slack.in_channel(channel) for b in m.blocks)
    return re.findall(r"pod-[\w-]+", text)


async def test_the_seed_example_end_to_end_with_rbac_tenancy(slack, seed):
    alerts = [{"alertname": "KubePodCrashLooping", "namespace": "demo", "pod": "pod-demo"},
              {"alertname": "KubePodCrashLooping", "namespace": "private", "pod": "pod-private"},
              {"alertname": "NodeDown", "pod": "pod-cluster"}]
    async with Manager.from_yaml(seed(slack.url) + ROLEBINDING, plugins=[nm_slack]) as manager:
        await manager.submit_payload(payload(alerts))
        await manager.drain(timeout=10)
    assert {(o.receiver, o.ok) for o in manager.outcomes} == {(TENANT, True), (GLOBAL, True)}
    assert pods(slack, "alert") == ["pod-demo"]
    assert sorted(pods(slack, "global")) == ["pod-cluster", "pod-demo", "pod-private"]
    assert {p.token for p in slack.posted} == {"test"}


async def test_a_rate_limit_part_way_is_retried_by_the_core_without_duplicates(slack, seed):
    alerts = [{"alertname": "KubePodCrashLooping", "namespace": "demo", "pod": f"pod-{i:03d}"} for i in range(200)]
    slack.fail_next(error="ratelimited", retry_after=0, after=2)
    yaml_text = seed(slack.url).replace("  channel: global", "  channel: ops") + ROLEBINDING
    async with Manager.from_yaml(yaml_text, plugins=[nm_slack], settings=ManagerSettings(retry=FAST_RETRY)) as manager:
        await manager.submit_payload(payload(alerts))
        await manager.drain(timeout=10)
    assert all(o.ok for o in manager.outcomes) and sorted(o.attempts for o in manager.outcomes) == [1, 2]
    expected = [f"pod-{i:03d}" for i in range(200)]
    assert pods(slack, "alert") == expected
    assert pods(slack, "ops") == expected


async def test_a_permanent_error_reaches_the_outcome_with_its_advice(slack, seed):
    yaml_text = seed(slack.url, tenant_channel="quiet") + ROLEBINDING
    async with Manager.from_yaml(yaml_text, plugins=[nm_slack]) as manager:
        await manager.submit_payload(payload([{"alertname": "X", "namespace": "demo", "pod": "pod-a"}]))
        await manager.drain(timeout=10)
    [failed] = [o for o in manager.outcomes if not o.ok]
    assert failed.receiver == TENANT and failed.attempts == 1
    assert "not_in_channel" in failed.error and "/invite" in failed.error


def test_the_installed_plugin_is_found_through_its_entry_point(monkeypatch):
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    registered = PluginHost().channels["slack"]
    assert registered.plugin.distribution == "nm-slack"
    assert registered.spec.receiver_kind == "SlackReceiver"


def nm(*args: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-m", "nmcore", *args], capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k not in ("NMCORE_PLUGINS", "NMCORE_DISABLE_PLUGINS")})


def test_nm_plugins_says_slack_lays_out_its_own_messages():
    result = nm("plugins")
    lines = result.stdout.splitlines()
    slack = next(i for i, line in enumerate(lines) if line.startswith("slack "))
    assert "only subject.j2 applies" in lines[slack + 2], result.stdout


def test_nm_validate_says_an_operators_markdown_template_is_not_used_by_slack(tmp_path, seed):
    (tmp_path / "manifests.yaml").write_text(seed("https://slack.example/api") + ROLEBINDING)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "markdown.j2").write_text("{{ subject }} (ours)\n")
    (templates / "subject.j2").write_text("ours: {{ status }}\n")
    result = nm("validate", str(tmp_path / "manifests.yaml"), "--templates", str(templates))
    assert result.returncode == 0, result.stdout + result.stderr
    note = [line for line in result.stdout.splitlines() if "slack channel" in line]
    assert len(note) == 1, result.stdout
    assert "markdown.j2 not used by the slack channel (2 receivers)" in note[0]
    assert "subject.j2 not used" not in result.stdout
