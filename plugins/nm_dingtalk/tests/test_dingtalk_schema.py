"""The manifests: the original's documentation examples as written, and located errors for mistakes."""

from pathlib import Path

import nm_dingtalk
import pytest
import yaml
from nm_dingtalk.schema import DingTalkConfigBlock, DingTalkReceiverBlock

from nmcore.testing import SchemaError, snapshot_from_yaml, structure

DOCS = Path(__file__).parent / "docs"
GLOBAL = "DingTalkReceiver/kubesphere-monitoring-system/global-dingtalk-receiver"
CONFIG = "DingTalkConfig/kubesphere-monitoring-system/default-dingtalk-config"


def snapshot_of(text: str):
    return snapshot_from_yaml(text, plugins=[nm_dingtalk])


def problems(text: str) -> list[str]:
    return [f"{p.object}: {p.message}" for p in snapshot_of(text).problems]


def test_the_v0_7_samples_load_and_the_global_receiver_uses_the_default_config():
    snapshot = snapshot_of((DOCS / "samples-0.7-dingtalk.yaml").read_text())

    assert snapshot.problems == ()
    target = snapshot.targets[GLOBAL]
    assert target.config is not None and target.config.ref == CONFIG
    assert target.config.spec.chatbot.keywords == ("kubesphere",)
    assert target.config.spec.conversation.chatid == "chat894f9f4d634eb283933af6c7102977b2"


def test_the_v0_7_readme_example_gets_its_own_mistakes_located():
    """The README's Secret has truncated base64 and its chatbot names a Secret the example never creates."""
    found = problems((DOCS / "readme-0.7-dingtalk.yaml").read_text())

    assert found[0] == "Secret/kubesphere-monitoring-system/default-dingtalk-secret: data.appkey is not valid base64 @ $.data"
    assert f"{CONFIG}: Secret 'test-user-dingtalk-secret' key 'webhook': Secret 'test-user-dingtalk-secret' not found " \
           "in namespace 'kubesphere-monitoring-system'" in found
    assert all("@ $.spec" not in p for p in found)  # the DingTalkConfig itself is as the schema wants it


@pytest.mark.xfail(strict=True, reason="secretKeyRef.namespace is the v2beta2 loader's (issue 13): the core's "
                                       "SecretKeySelector has no namespace yet")
@pytest.mark.parametrize(("document", "block"), [("config-v2beta2-dingtalk.yaml", DingTalkConfigBlock),
                                                  ("receiver-v2beta2-dingtalk.yaml", DingTalkReceiverBlock)])
def test_the_v2beta2_documentation_examples_fit_the_blocks(document, block):
    body = yaml.safe_load((DOCS / document).read_text())
    structure(body["spec"]["dingtalk"], block, "$.spec.dingtalk")


def test_the_v2beta2_receiver_example_without_secret_namespaces_reads_every_field():
    body = yaml.safe_load((DOCS / "receiver-v2beta2-dingtalk.yaml").read_text().replace(
        "            namespace: kubesphere-monitoring-system", ""))

    spec = structure(body["spec"]["dingtalk"], DingTalkReceiverBlock, "$.spec.dingtalk")

    assert spec.conversation.chatids == ("chat894f9f4d634eb283933af6c7102977b2",)
    assert spec.chatbot.keywords == ("kubesphere",) and spec.chatbot.secret is not None
    assert spec.config_selector.match_labels == {"type": "tenant", "user": "admin"}
    assert spec.alert_selector.match_expressions[0].operator == "DoesNotExist"
    assert (spec.enabled, spec.template, spec.title_template, spec.tmpl_type) == (
        True, "nm.default.text", "nm.default.subject", "text")
    assert spec.tmpl_text.name == "notification-manager-template"


@pytest.mark.parametrize(("block", "expected"), [
    ({"chatbot": {"webhook": {"value": "https://x"}}, "tmplType": "html"},
     "@ $.spec.dingtalk.tmplType"),
    ({"tmplType": "text"}, "nowhere to send: give a chatbot or conversation.chatids @ $.spec.dingtalk"),
    ({"conversation": {}}, "required field missing @ $.spec.dingtalk.conversation.chatids"),
    ({"chatbot": {"webhook": {"value": "https://x"}, "atMobile": ["1"]}},
     "unknown field 'atMobile' (did you mean 'atMobiles'?) @ $.spec.dingtalk.chatbot"),
])
def test_v2beta2_block_mistakes_are_located(block, expected):
    with pytest.raises(SchemaError) as caught:
        structure(block, DingTalkReceiverBlock, "$.spec.dingtalk")
    assert any(p.endswith(expected) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(("spec", "expected"), [
    ("{}", "nowhere to send: give a chatbot, a conversation or both @ $.spec"),
    ("{conversation: {appkey: {name: s, key: k}, appsecret: {name: s, key: k}}}",
     "required field missing @ $.spec.conversation.chatid"),
    ("{chatbot: {webhook: {name: s, key: k}, keyword: [kubesphere]}}",
     "unknown field 'keyword' (did you mean 'keywords'?) @ $.spec.chatbot"),
    ("{conversation: {appkey: {name: s, key: k}, appsecret: {name: s, key: k}, chatid: c, apiUrl: oapi}}",
     "apiUrl must be an http(s) URL such as https://oapi.dingtalk.com/, got 'oapi' @ $.spec.conversation"),
])
def test_v1alpha1_config_mistakes_are_located(spec, expected):
    text = f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: DingTalkConfig
metadata: {{name: default-dingtalk-config, labels: {{type: default}}}}
spec: {spec}
"""
    assert f"{CONFIG}: {expected}" in problems(text)


def test_a_v1alpha1_receiver_without_a_config_is_reported_as_not_sending():
    text = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: DingTalkReceiver
metadata: {name: global-dingtalk-receiver, labels: {type: global}}
spec:
  dingTalkConfigSelector: {matchLabels: {team: ops}}
"""
    snapshot = snapshot_of(text)
    assert GLOBAL in snapshot.skipped and "no DingTalkConfig labelled type: default" in snapshot.skipped[GLOBAL]
