"""Manifests: the seed loads as written; every bad manifest gets an error naming file, object and field,
and never stops the good ones."""

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from nmcore.manager import Manager
from nmcore.manifests import documents_from_folder, documents_from_text
from nmcore.snapshot import Snapshot, build_snapshot
from nmcore.sources import FolderSource
from nmcore.testing import plugin_host, snapshot_from_yaml

ROOT = Path(__file__).resolve().parent.parent
NS = "kubesphere-monitoring-system"


def problems_of(yaml_text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(yaml_text).problems]


def webhook_config(spec: str, name: str = "cfg", labels: str = "{type: default}") -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata: {{name: {name}, labels: {labels}}}
spec: {spec}
"""


GLOBAL_RECEIVER = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: everyone, labels: {type: global}}
spec: {}
"""


TYPO = (f"Secret 'test-user-wehat-secret' not found in namespace '{NS}' (did you mean 'test-user-wechat-secret'?) "
        "@ $.spec.wechatApiSecret")


class TestSeed:
    def test_every_seed_manifest_loads_with_the_installed_plugins(self) -> None:
        host = plugin_host()
        from importlib.metadata import entry_points

        for ep in entry_points(group="nmcore"):
            host.register(ep.load(), name=ep.name)
        missing = {"email", "wechat", "slack"} - set(host.channels)
        if missing:
            pytest.skip(f"channel plugins not installed: {sorted(missing)}")
        documents, problems = documents_from_folder(ROOT / "examples" / "seed")
        snapshot = build_snapshot(documents, host.channels, problems=problems)
        # The only problem in the seed is its own typo: the WechatConfig names a Secret that does not exist, so
        # the tenant's WeChat receiver cannot send, and says why. Its tenant Secrets carry no user label and only
        # test-user's configs name them: they are test-user's.
        assert [(p.object, p.message) for p in snapshot.problems] == [
            (f"WechatConfig/{NS}/test-user-config", TYPO),
            (f"WechatReceiver/{NS}/test-user-wechat",
             f"will not send: its config WechatConfig/{NS}/test-user-config cannot be used: {TYPO}"),
        ]
        assert set(snapshot.skipped) == {f"WechatReceiver/{NS}/test-user-wechat"}
        tenant_email = snapshot.targets[f"EmailReceiver/{NS}/test-user-receiver"]
        assert tenant_email.config is not None and tenant_email.config.name == "test-user-config"
        assert snapshot.targets[f"EmailReceiver/{NS}/global-email-receiver"].config.name == "default-email-config"  # type: ignore[union-attr]
        assert {t.receiver.name for t in snapshot.targets_for_user("test-user")} == {"test-user-receiver",
                                                                                     "test-user-slack"}

    def test_quickstart_is_clean(self) -> None:
        documents, problems = documents_from_folder(ROOT / "examples" / "quickstart")
        snapshot = build_snapshot(documents, plugin_host().channels, problems=problems)
        assert snapshot.problems == ()
        assert snapshot.rolebinding_users("shared") == {"alice", "bob"}  # the ServiceAccount subject is not a user


class TestLocatedErrors:
    def test_wrong_type_names_the_field_path(self) -> None:
        found = problems_of(webhook_config("{httpConfig: {basicAuth: {username: [1, 2]}}}"))
        assert found == [f"test.yaml: WebhookConfig/{NS}/cfg: expected a string, got a list "
                         "@ $.spec.httpConfig.basicAuth.username"]

    def test_unknown_field_suggests_the_near_name(self) -> None:
        found = problems_of(webhook_config("{url: http://x, httpConfg: {}}"))
        assert found == [f"test.yaml: WebhookConfig/{NS}/cfg: unknown field 'httpConfg' "
                         "(did you mean 'httpConfig'?) @ $.spec"]

    def test_numbers_written_as_strings_are_accepted(self) -> None:
        import attrs

        from nmcore.schema import structure

        @attrs.frozen
        class Host:
            host: str
            port: int

        assert structure({"host": "imap.xyz.com", "port": "25"}, Host) == Host("imap.xyz.com", 25)
        with pytest.raises(ValueError, match=r"expected an integer, got the string 'twenty' @ \$.port"):
            structure({"host": "h", "port": "twenty"}, Host)
        with pytest.raises(ValueError, match=r"expected an integer, got a boolean @ \$.port"):
            structure({"host": "h", "port": True}, Host)

    def test_a_string_where_a_list_belongs_is_an_error_not_a_list_of_characters(self) -> None:
        import attrs

        from nmcore.schema import structure

        @attrs.frozen
        class Receiver:
            to: tuple[str, ...]

        assert structure({"to": ["a@b.c", "ops@b.c"]}, Receiver) == Receiver(("a@b.c", "ops@b.c"))
        with pytest.raises(ValueError, match=r"expected a list, got a string @ \$.to"):
            structure({"to": "a@b.c"}, Receiver)
        with pytest.raises(ValueError, match=r"expected a list, got an object @ \$.to"):
            structure({"to": {"a": 1}}, Receiver)

    def test_missing_required_field(self) -> None:
        found = problems_of("""
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: team-a}
subjects: [{kind: User}]
""")
        assert sorted(found) == sorted([
            "test.yaml: RoleBinding/team-a/rb: required field missing @ $.roleRef",
            "test.yaml: RoleBinding/team-a/rb: required field missing @ $.subjects[0].name",
        ])

    def test_yaml_syntax_error_names_the_line(self) -> None:
        documents, problems = documents_from_text("a: 1\nb: [unclosed\n", "broken.yaml")
        assert documents == []
        assert len(problems) == 1 and str(problems[0]).startswith("broken.yaml: not valid YAML at line 3")

    def test_dangling_secret_names_it_and_the_near_name(self) -> None:
        found = problems_of("""
apiVersion: v1
kind: Secret
metadata: {name: hook-token}
stringData: {token: abc}
""" + "---" + webhook_config("{url: http://x, httpConfig: {bearerToken: {valueFrom: {secretKeyRef: {name: hook-tokn, key: token}}}}}"))
        assert found == [f"test.yaml#2: WebhookConfig/{NS}/cfg: Secret 'hook-tokn' not found in namespace '{NS}' "
                         f"(did you mean 'hook-token'?) @ $.spec.httpConfig.bearerToken"]

    def test_missing_secret_key(self) -> None:
        found = problems_of("""
apiVersion: v1
kind: Secret
metadata: {name: hook-token}
data: {token: YWJj}
""" + "---" + webhook_config("{url: http://x, httpConfig: {bearerToken: {valueFrom: {secretKeyRef: {name: hook-token, key: tokn}}}}}"))
        assert found == [f"test.yaml#2: WebhookConfig/{NS}/cfg: Secret 'hook-token' has no key 'tokn' "
                         "(did you mean 'token'?) @ $.spec.httpConfig.bearerToken"]

    def test_invalid_base64_in_a_secret(self) -> None:
        found = problems_of("""
apiVersion: v1
kind: Secret
metadata: {name: s}
data: {token: "not base64!"}
""")
        assert found == [f"test.yaml: Secret/{NS}/s: data.token is not valid base64 @ $.data"]

    def test_selector_matching_nothing_falls_back_to_default_and_says_so(self) -> None:
        snapshot = snapshot_from_yaml(webhook_config("{url: http://default}") + """---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: alice, labels: {type: tenant, user: alice}}
spec: {webhookConfigSelector: {matchLabels: {team: nope}}}
""")
        assert [str(p) for p in snapshot.problems] == [
            f"test.yaml#2: WebhookReceiver/{NS}/alice: its selector (team=nope) matches no eligible WebhookConfig; "
            f"using WebhookConfig/{NS}/cfg"]
        assert snapshot.targets[f"WebhookReceiver/{NS}/alice"].config.name == "cfg"  # type: ignore[union-attr]

    def test_receiver_without_usable_config_is_skipped_with_a_reason(self) -> None:
        snapshot = snapshot_from_yaml("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: alice, labels: {type: tenant, user: alice}}
spec: {}
""")
        ref = f"WebhookReceiver/{NS}/alice"
        assert ref not in snapshot.targets
        assert snapshot.skipped[ref] == "no WebhookConfig labelled type: default to fall back on"

    @pytest.mark.parametrize(("labels", "reason"), [
        ("{type: tenant}", "labelled type: tenant but has no user label, so it belongs to nobody"),
        ("{app: notification-manager}", "has neither type: tenant (with a user label) nor type: global, so it gets nothing"),
    ])
    def test_receivers_with_bad_labels_get_nothing(self, labels: str, reason: str) -> None:
        snapshot = snapshot_from_yaml(f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: r, labels: {labels}}}
spec: {{url: http://x}}
""")
        assert snapshot.skipped == {f"WebhookReceiver/{NS}/r": reason}

    def test_duplicate_objects_keep_the_first(self) -> None:
        snapshot = snapshot_from_yaml(GLOBAL_RECEIVER.replace("spec: {}", "spec: {url: http://first}") + "---"
                                      + GLOBAL_RECEIVER.replace("spec: {}", "spec: {url: http://second}"))
        assert [str(p) for p in snapshot.problems] == [
            f"test.yaml#2: WebhookReceiver/{NS}/everyone: duplicate of the object in test.yaml#1; ignored"]
        assert snapshot.targets[f"WebhookReceiver/{NS}/everyone"].receiver.spec.url == "http://first"

    def test_unknown_kind_points_at_the_plugin(self) -> None:
        found = problems_of("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsReceiver
metadata: {name: t}
spec: {}
""")
        assert len(found) == 1 and found[0].endswith("the teams channel comes from a plugin: pip install nm-teams")

    def test_other_api_versions_of_the_group_are_refused_and_foreign_kinds_ignored(self) -> None:
        found = problems_of("""
apiVersion: notification.kubesphere.io/v2beta1
kind: Receiver
metadata: {name: r}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: unrelated}
""")
        assert found == [f"test.yaml#1: Receiver/{NS}/r: apiVersion notification.kubesphere.io/v2beta1 is not "
                         "supported; use notification.kubesphere.io/v2beta2 or notification.kubesphere.io/v1alpha1"]

    def test_one_bad_manifest_never_stops_the_others(self, tmp_path: Path) -> None:
        (tmp_path / "broken.yaml").write_text(webhook_config("{url: 42, bogus: true}", name="bad") + "---\nnot: [a\n")
        (tmp_path / "good.yaml").write_text(GLOBAL_RECEIVER.replace("spec: {}", "spec: {url: http://sink}"))
        (tmp_path / "notes.txt").write_text("not a manifest, not read")
        documents, problems = documents_from_folder(tmp_path)
        snapshot = build_snapshot(documents, plugin_host().channels, problems=problems)
        assert f"WebhookReceiver/{NS}/everyone" in snapshot.targets
        bad_field, bad_yaml = sorted(str(p).removeprefix(str(tmp_path) + "/") for p in snapshot.problems)
        assert bad_field == (f"broken.yaml#1: WebhookConfig/{NS}/bad: unknown field 'bogus' "
                             "(known fields: url, httpConfig) @ $.spec")
        assert bad_yaml.startswith("broken.yaml: not valid YAML at line 8, column 1: ") and "',' or ']'" in bad_yaml


class TestSecretsStayHidden:
    def test_secret_values_are_not_in_reprs_or_problems(self) -> None:
        snapshot = snapshot_from_yaml("""
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {token: hunter2-secret}
data: {other: aHVudGVyMi1iYXNlNjQ=}
""" + "---" + webhook_config("{url: http://x, httpConfig: {bearerToken: {value: inline-hunter2}}}"))
        text = repr(snapshot) + "".join(map(str, snapshot.problems))
        for secret in ("hunter2-secret", "aHVudGVyMi1iYXNlNjQ=", "hunter2-base64", "inline-hunter2"):
            assert secret not in text


class TestCredentialsStayWithTheirDestination:
    def test_a_receiver_with_its_own_url_never_gets_the_default_configs_credentials(self) -> None:
        snapshot = snapshot_from_yaml("""
apiVersion: v1
kind: Secret
metadata: {name: ops-token}
stringData: {token: operators-only}
""" + "---" + webhook_config("{url: http://ops, httpConfig: {bearerToken: {valueFrom: {secretKeyRef: {name: ops-token, key: token}}}}}") + """---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: alice, labels: {type: tenant, user: alice}}
spec: {url: "http://alice.example/hook"}
""")
        target = snapshot.targets[f"WebhookReceiver/{NS}/alice"]
        assert target.config is None
        assert snapshot.problems == ()


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12),
                    st.sampled_from(["yes", "off", "~", "0x1F", "1_000", "2001-12-14", "12:30", "", "<<"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=20)


class KubernetesYaml(yaml.SafeLoader):
    """PyYAML reading as Kubernetes reads YAML: a timestamp stays the text written (YAML to JSON keeps a string)."""


KubernetesYaml.add_constructor("tag:yaml.org,2002:timestamp", KubernetesYaml.construct_yaml_str)


@given(documents=st.lists(values, min_size=1, max_size=3), flow=st.booleans())
def test_documents_read_exactly_as_pyyaml_reads_them(documents: list, flow: bool) -> None:
    text = yaml.safe_dump_all(documents, default_flow_style=flow, allow_unicode=True)
    found, problems = documents_from_text(text, "gen.yaml")
    assert problems == []
    assert [d.body for d in found] == [d for d in yaml.load_all(text, KubernetesYaml) if d is not None]


def test_anchors_merge_keys_and_other_tags_read_as_pyyaml_reads_them() -> None:
    text = """
base: &b {x: 1, y: [1, 2.5, true, null, 2001-12-14, 0x1F, .inf]}
derived: {<<: *b, z: !!binary aGVsbG8=}
---
k: &a [1, {n: 2}]
j: *a
s: !!set {a, b}
t: 2001-12-14t21:59:43.10-05:00
"""
    found, problems = documents_from_text(text, "odd.yaml")
    assert problems == []
    assert [d.body for d in found] == list(yaml.load_all(text, KubernetesYaml))
    assert found[0].body["base"]["y"][4] == "2001-12-14" and found[1].body["t"] == "2001-12-14t21:59:43.10-05:00"


def test_an_unquoted_startsat_is_the_time_written_as_in_kubernetes() -> None:
    """YAML reads `2026-12-02T22:00:00Z` as a timestamp; Kubernetes keeps it the string a Silence reads."""
    snapshot = snapshot_from_yaml("""
apiVersion: notification.kubesphere.io/v2beta2
kind: Silence
metadata: {name: maintenance, labels: {type: global}}
spec: {matcher: {matchLabels: {namespace: demo}}, startsAt: 2026-12-02T22:00:00Z}
""")
    assert snapshot.problems == ()
    assert [s.spec.starts_at for s in snapshot.silences] == ["2026-12-02T22:00:00Z"]


@pytest.mark.parametrize(("text", "why"), [
    ("a: !Ref x\n", "could not determine a constructor for the tag '!Ref'"),
    ("? [a, b]\n: c\n", "found unhashable key"),
])
def test_what_pyyaml_refuses_is_a_located_problem(text: str, why: str) -> None:
    found, [problem] = documents_from_text(text, "bad.yaml")
    assert found == [] and problem.origin == "bad.yaml" and why in problem.message and "line 1" in problem.message


RECEIVERS = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: hook, labels: {type: global}}
spec: {url: "http://127.0.0.1:9/hook"}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {name: second, labels: {type: global}}
spec: {url: "http://127.0.0.1:9/second"}
"""


@pytest.mark.anyio
async def test_a_file_broken_mid_edit_keeps_its_last_good_version_until_it_parses_again(tmp_path: Path) -> None:
    (tmp_path / "receivers.yaml").write_text(RECEIVERS)
    (tmp_path / "other.yaml").write_text(RECEIVERS.replace("name: hook", "name: other").split("---")[0])
    ref = f"WebhookReceiver/{NS}/" + "{}"

    async def reloaded(condition: Callable[[Snapshot], bool]) -> Snapshot:
        with anyio.fail_after(10):
            while not condition(manager.snapshot):
                await anyio.sleep(0.05)
        return manager.snapshot

    async with Manager(FolderSource(tmp_path, settle=0.05, removal_delay=0.5), host=plugin_host()) as manager:
        await manager.wait_ready(5)
        assert set(manager.snapshot.targets) == {ref.format("hook"), ref.format("second"), ref.format("other")}

        (tmp_path / "receivers.yaml").write_text(RECEIVERS.replace("labels: {type: global}}", "labels: {type: global}"))
        broken = await reloaded(lambda s: bool(s.problems))
        [problem] = broken.problems
        assert problem.origin == str(tmp_path / "receivers.yaml")
        assert "not valid YAML at line 5" in problem.message and "last good version stays in force" in problem.message
        assert set(broken.targets) == {ref.format("hook"), ref.format("second"), ref.format("other")}

        (tmp_path / "other.yaml").unlink()  # other files keep reloading normally meanwhile
        await reloaded(lambda s: ref.format("other") not in s.targets)

        (tmp_path / "receivers.yaml").write_text(RECEIVERS.split("---")[0])
        fixed = await reloaded(lambda s: not s.problems and ref.format("second") not in s.targets)
        assert set(fixed.targets) == {ref.format("hook")}, "the fixed file replaces its last good version"


def test_without_a_last_good_version_a_broken_file_contributes_what_parsed(tmp_path: Path) -> None:
    (tmp_path / "receivers.yaml").write_text(RECEIVERS + "---\nkind: [unclosed\n")
    documents, [problem] = documents_from_folder(tmp_path)
    assert len(documents) == 2 and "last good" not in problem.message
