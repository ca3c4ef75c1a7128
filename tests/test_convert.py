"""`nm convert`: the seed into v2beta2 and back with the same meaning, and what cannot be converted named."""

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import yaml

from nmcore.alerts import AlertGroup
from nmcore.cli import main
from nmcore.convert import convert
from nmcore.manifests import documents_from_paths, documents_from_text
from nmcore.plugins import PluginHost
from nmcore.routing import Router
from nmcore.snapshot import Snapshot, build_snapshot
from nmcore.testing import alert
from tests.v2support import GLOBAL, NS, from_secret, rolebinding, secret, tenant, v2

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "examples" / "seed"
HOST = PluginHost()  # the installed channels, as `nm convert` sees them


def snapshot_of(path: Path) -> Snapshot:
    return build_snapshot(documents_from_paths([path])[0], HOST.channels)


def run(*args: str) -> int:
    return main(["convert", *args])


def v1_name(ref: str) -> str:
    """`EmailReceiver/ns/name` and `Receiver/name:email` both as `email/name`."""
    kind, rest = ref.split("/", 1)
    name = rest.rsplit("/", 1)[-1]
    if ":" in name:
        name, block = name.split(":")
        return f"{block}/{name}"
    return f"{kind.removesuffix('Receiver').removesuffix('Config').lower()}/{name}"


def who_gets(snapshot: Snapshot, namespace: str | None) -> set[str]:
    labels = {"namespace": namespace} if namespace else {}
    router = Router(HOST, HOST.tenant_resolver("rbac"))
    routed = anyio.run(router.route, AlertGroup(alerts=(alert(**labels),)), snapshot)
    return {v1_name(r.target.receiver.ref) for r in routed}


def test_the_seed_round_trips_through_v2beta2_with_the_same_meaning(tmp_path: Path) -> None:
    (tmp_path / "seed").mkdir()
    for path in SEED.glob("*.yaml"):  # the tenant's Secrets labelled for it, as nmcore wants (README, Security)
        text = path.read_text()
        if path.name.endswith("-tenant.yaml"):
            text = text.replace("    app: notification-manager\n", "    app: notification-manager\n    user: test-user\n", 1)
        (tmp_path / "seed" / path.name).write_text(text)
    (tmp_path / "seed" / "access.yaml").write_text(rolebinding("demo", "test-user"))
    assert run(str(tmp_path / "seed"), "--to", "v2beta2", "--out", str(tmp_path / "v2")) == 0
    assert run(str(tmp_path / "v2"), "--to", "v1alpha1", "--out", str(tmp_path / "back")) == 0
    original, in_v2, back = (snapshot_of(tmp_path / d) for d in ("seed", "v2", "back"))

    kinds = {d.body["kind"] for d in documents_from_paths([tmp_path / "v2"])[0]}
    assert kinds == {"Config", "Receiver", "Secret", "RoleBinding"}
    merged = next(c for c in in_v2.configs if c.name == "test-user-config" and c.block == "email")
    assert sorted(c.block for c in in_v2.configs if c.name == "test-user-config") == ["email", "slack", "wechat"], \
        "the seed's three test-user-configs are one Config, as KubeSphere keeps them"
    assert (merged.scope, merged.user) == ("tenant", "test-user")
    # The seed's only problem (its misspelled Secret name) is the same in every version, nothing else; its
    # receiver cannot send in each (the line saying so names the config as that version does).
    def located(snapshot: Snapshot) -> list[str]:
        return [p.message for p in snapshot.problems if not p.message.startswith("will not send: ")]

    assert located(in_v2) == located(original) == located(back)
    assert len(located(original)) == 1
    assert len(original.skipped) == len(in_v2.skipped) == len(back.skipped) == 1

    def meaning(snapshot: Snapshot) -> dict[str, tuple]:
        return {v1_name(ref): (t.channel, t.receiver.scope, t.tenant, t.config and v1_name(t.config.ref),
                               getattr(t.receiver.spec, "targets", None) or getattr(t.receiver.spec, "to", None)
                               or (t.receiver.spec.to_user, t.receiver.spec.to_party, t.receiver.spec.to_tag))
                for ref, t in snapshot.targets.items()}

    assert meaning(original) == meaning(in_v2) == meaning(back)
    assert len(meaning(original)) == 5  # six receivers; the one whose config names the misspelled Secret cannot send
    for namespace in ("demo", "kube-system", None):
        assert who_gets(original, namespace) == who_gets(in_v2, namespace) == who_gets(back, namespace)
    assert "email/test-user-receiver" in who_gets(in_v2, "demo")
    for ref, target in original.targets.items():
        if target.channel != "slack":  # v1alpha1's `channel: x` comes back as `channels: [x]`
            assert back.targets[ref].receiver.spec == target.receiver.spec
        if target.config:
            assert back.targets[ref].config.spec == target.config.spec  # type: ignore[union-attr]


def test_a_webhook_receiver_takes_its_configs_url_and_credentials_along() -> None:
    v1 = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata: {name: hook-config, namespace: team-a, labels: {type: tenant, user: alice}}
spec:
  url: https://hooks.example.com/alice
  httpConfig: {bearerToken: {valueFrom: {secretKeyRef: {name: hook, key: token}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: alice, namespace: team-a, labels: {type: tenant, user: alice}}
spec: {webhookConfigSelector: {matchLabels: {user: alice}}}
---
apiVersion: v1
kind: Secret
metadata: {name: hook, namespace: team-a, labels: {user: alice}}
stringData: {token: t0k3n}
"""
    result = convert(documents_from_text(v1, "v1.yaml")[0], HOST.channels, "v2beta2", NS)
    receiver = next(m for m in result.manifests if m["kind"] == "Receiver")
    assert receiver["spec"]["webhook"] == {
        "url": "https://hooks.example.com/alice",
        "httpConfig": {"bearerToken": {"valueFrom": {"secretKeyRef": {"namespace": "team-a", "name": "hook",
                                                                       "key": "token"}}}}}
    assert result.notes == []


def test_what_v1alpha1_cannot_say_is_named_and_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "v2.yaml").write_text(
        v2("Config", "inline", {"type": "default"}, email={
            "from": "a@example.com", "smartHost": {"host": "smtp", "port": 25}, "authUsername": "a",
            "authPassword": {"value": "pw-inline"}})
        + v2("Receiver", "far", GLOBAL, webhook={"url": "http://x", "httpConfig": {
            "bearerToken": from_secret("t", "token", namespace="elsewhere")}})
        + v2("Receiver", "picky", tenant("alice"), webhook={
            "url": "http://x", "alertSelector": {"matchLabels": {"severity": "critical"}}})
        + v2("Receiver", "off", GLOBAL, webhook={"url": "http://x", "enabled": False})
        + v2("Router", "r", {}, alertSelector={}, receivers={"name": ["picky"]})
        + secret("t", "elsewhere", token="x"))
    assert run(str(tmp_path), "--to", "v1alpha1", "--out", str(tmp_path / "v1")) == 1
    err = capsys.readouterr().err
    assert ("Config/inline:email: v1alpha1 reads this credential from a Secret only, not an inline value; "
            "not converted") in err
    assert ("Receiver/far:webhook: Secret 't' key 'token' is in namespace 'elsewhere'; v1alpha1 reads Secrets only "
            f"in the object's namespace '{NS}'; not converted") in err
    assert "Receiver/picky:webhook: spec.alertSelector: the target version has no such field; left out" in err
    assert "Receiver/off:webhook: disabled (enabled: false), and v1alpha1 cannot say so; not converted" in err
    assert "Router/r: v1alpha1 has no Router; not converted" in err
    assert "pw-inline" not in err
    converted = {yaml.safe_load(p.read_text())["metadata"]["name"] for p in (tmp_path / "v1").glob("*.yaml")}
    assert converted == {"picky", "t"}
    picky = yaml.safe_load((tmp_path / "v1" / f"webhookreceiver-{NS}-picky.yaml").read_text())
    assert picky["metadata"]["labels"] == {"type": "tenant", "user": "alice"} and picky["spec"] == {"url": "http://x"}


def test_nm_validate_and_nm_route_work_on_a_mix_of_both_versions(tmp_path: Path) -> None:
    (tmp_path / "v1.yaml").write_text(f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: v1-hook, namespace: {NS}, labels: {{type: tenant, user: alice}}}}
spec: {{url: http://127.0.0.1:9/v1}}
""")
    (tmp_path / "v2.yaml").write_text(v2("Receiver", "v2-hook", tenant("alice"), webhook={"url": "http://127.0.0.1:9/v2"})
                                      + v2("Receiver", "ops", GLOBAL, webhook={"url": "http://127.0.0.1:9/ops"})
                                      + rolebinding("demo", "alice"))
    payload = tmp_path.parent / f"{tmp_path.name}-alerts.json"
    payload.write_text(json.dumps([{"labels": {"alertname": "A", "namespace": "demo"}},
                                   {"labels": {"alertname": "B", "namespace": "other"}}]))

    def nm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nmcore", *args], capture_output=True, text=True, cwd=REPO,
                              timeout=60)

    validated = nm("validate", str(tmp_path))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "3 receivers can send, 0 cannot, 0 problems" in validated.stderr
    routed = [json.loads(line) for line in nm("route", "--config-dir", str(tmp_path), str(payload)).stdout.splitlines()]
    assert [sorted(r["receiver"] for r in each["receivers"]) for each in routed] == [
        ["Receiver/ops:webhook", "Receiver/v2-hook:webhook", f"WebhookReceiver/{NS}/v1-hook"],
        ["Receiver/ops:webhook"]]
