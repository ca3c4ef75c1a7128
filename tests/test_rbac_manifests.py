"""RBAC in a manifest folder: typos are located errors with a "did you mean", a ClusterRoleBinding grants every
namespace, and a tenant receiver nobody's binding reaches is a warning (nm validate, /api/v2/status)."""

import subprocess
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from nmcore.alerts import Alert, AlertGroup
from nmcore.builtins.tenants import RbacResolver
from nmcore.routing import Router
from nmcore.snapshot import Snapshot
from nmcore.testing import plugin_host, snapshot_from_yaml
from tests.support import REPO, Nm

NS = "kubesphere-monitoring-system"
RECEIVER = """\
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: alice-hook, labels: {type: tenant, user: alice}}
spec: {url: "http://127.0.0.1:9/alice"}
"""


def binding(kind: str = "RoleBinding", api_version: str = "rbac.authorization.k8s.io/v1",
            subject_kind: str = "User", namespace: str = "team-a") -> str:
    where = f", namespace: {namespace}" if namespace else ""
    return f"""\
apiVersion: {api_version}
kind: {kind}
metadata: {{name: alice-view{where}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects: [{{kind: {subject_kind}, name: alice, apiGroup: rbac.authorization.k8s.io}}]
"""


@pytest.mark.parametrize(("manifest", "problem"), [
    (binding(kind="Rolebinding"),
     "test.yaml#2: Rolebinding/team-a/alice-view: unknown kind 'Rolebinding' in rbac.authorization.k8s.io "
     "(did you mean 'RoleBinding'?) @ $.kind"),
    (binding(subject_kind="user"),
     "test.yaml#2: RoleBinding/team-a/alice-view: kind must be 'User', 'Group' or 'ServiceAccount', got 'user' "
     "(did you mean 'User'?) @ $.subjects[0].kind"),
    (binding(api_version="rbac.authorization.k8s.io/v1beta1"),
     "test.yaml#2: RoleBinding/team-a/alice-view: apiVersion rbac.authorization.k8s.io/v1beta1 is not served "
     "(Kubernetes 1.22 removed it), so this RoleBinding grants nothing; use rbac.authorization.k8s.io/v1 "
     "@ $.apiVersion"),
    (binding(api_version="rbac.authorisation.k8s.io/v1"),
     "test.yaml#2: RoleBinding/team-a/alice-view: unknown API group 'rbac.authorisation.k8s.io' "
     "(did you mean 'rbac.authorization.k8s.io'?) @ $.apiVersion"),
    ("apiVersion: v1\nkind: secret\nmetadata: {name: hook-token}\nstringData: {token: x}\n",
     f"test.yaml#2: secret/{NS}/hook-token: unknown kind 'secret' in apiVersion v1 (did you mean 'Secret'?) @ $.kind"),
    ("apiVersion: V1\nkind: Secret\nmetadata: {name: hook-token}\nstringData: {token: x}\n",
     f"test.yaml#2: Secret/{NS}/hook-token: unknown apiVersion 'V1' (did you mean 'v1'?) @ $.apiVersion"),
    ("apiVersion: notification.kubesphere.io/v1alpha1\nkind: Webhookreceiver\nmetadata: {name: x}\nspec: {}\n",
     "did you mean 'WebhookReceiver'?"),
])
def test_a_typo_in_rbac_or_core_kinds_is_a_located_error_with_the_near_name(manifest: str, problem: str) -> None:
    snapshot = snapshot_from_yaml(RECEIVER + "---\n" + manifest)
    problems = [str(p) for p in snapshot.problems]
    assert len(problems) == 1 and problem in problems[0], problems


def test_objects_nmcore_does_not_read_are_still_ignored_quietly() -> None:
    others = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: notification-manager}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: notification-manager}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: rules}
"""
    assert snapshot_from_yaml(RECEIVER + "---\n" + binding() + "---\n" + others).problems == ()


def who_gets(snapshot: Snapshot, namespace: str) -> list[str]:
    alert = Alert(labels={"alertname": "A", "namespace": namespace})
    routed = anyio.run(Router(plugin_host(), RbacResolver()).route, AlertGroup(alerts=(alert,)), snapshot)
    return sorted(r.notification.receiver for r in routed)


def test_a_clusterrolebinding_to_a_user_grants_every_namespace() -> None:
    alice = f"WebhookReceiver/{NS}/alice-hook"
    only_team_a = snapshot_from_yaml(RECEIVER + "---\n" + binding())
    assert who_gets(only_team_a, "team-a") == [alice] and who_gets(only_team_a, "team-b") == []
    everywhere = snapshot_from_yaml(RECEIVER + "---\n" + binding(kind="ClusterRoleBinding", namespace=""))
    assert who_gets(everywhere, "team-b") == [alice] and who_gets(everywhere, "kube-system") == [alice]
    assert everywhere.problems == () and everywhere.access_warnings == ()


def test_a_list_as_kubectl_writes_it_is_read_item_by_item() -> None:
    listed = """\
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: RoleBinding
  metadata: {name: alice-view, namespace: team-a}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
  subjects: [{kind: User, name: alice}]
- apiVersion: v1
  kind: secret
  metadata: {name: typo}
"""
    snapshot = snapshot_from_yaml(RECEIVER + "---\n" + listed)
    assert who_gets(snapshot, "team-a") == [f"WebhookReceiver/{NS}/alice-hook"]
    assert [str(p) for p in snapshot.problems] == [
        f"test.yaml#2:items[1]: secret/{NS}/typo: unknown kind 'secret' in apiVersion v1 (did you mean 'Secret'?) "
        "@ $.kind"]


def test_nm_validate_warns_about_a_tenant_receiver_nobody_can_reach(tmp_path: Path) -> None:
    (tmp_path / "alice.yaml").write_text(RECEIVER + "---\n" + binding(subject_kind="user"))
    result = subprocess.run([sys.executable, "-m", "nmcore", "validate", str(tmp_path)], capture_output=True,
                            text=True, timeout=60, cwd=REPO)
    assert result.returncode == 1
    assert "kind must be 'User', 'Group' or 'ServiceAccount'" in result.stdout
    assert result.stderr.splitlines()[0] == (
        f"warning: {tmp_path / 'alice.yaml'}#1: WebhookReceiver/{NS}/alice-hook: user 'alice' can access no "
        "namespace: no RoleBinding or ClusterRoleBinding names them as a User, so this receiver gets nothing")
    assert "1 problems, 1 warning" in result.stderr


def test_the_status_api_warns_about_it_too(tmp_path: Path, nm) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "config"
    config.mkdir()
    (config / "alice.yaml").write_text(RECEIVER)
    server: Nm = nm(config, tmp_path / "state")
    status = httpx.get(f"{server.url}/api/v2/status", timeout=10).json()
    assert status["warnings"] == [
        f"{config / 'alice.yaml'}: WebhookReceiver/{NS}/alice-hook: user 'alice' can access no namespace: no "
        "RoleBinding or ClusterRoleBinding names them as a User, so this receiver gets nothing"]
    assert "user 'alice' can access no namespace" in server.output()
