"""The manifests: the original's documentation examples as written, and located errors for mistakes."""

import subprocess
import sys
from pathlib import Path

import nm_dingtalk
import pytest
from nm_dingtalk.schema import DingTalkConfigBlock, DingTalkReceiverBlock

from nmcore.testing import SchemaError, snapshot_from_yaml, structure

DOCS = Path(__file__).parent / "docs"
GLOBAL = "DingTalkReceiver/kubesphere-monitoring-system/global-dingtalk-receiver"
CONFIG = "DingTalkConfig/kubesphere-monitoring-system/default-dingtalk-config"


def snapshot_of(text: str):
    return snapshot_from_yaml(text, plugins=[nm_dingtalk])


def documented(*names: str) -> str:
    return "\n---\n".join((DOCS / name).read_text() for name in names)


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
    assert f"{CONFIG}: Secret 'test-user-dingtalk-secret' not found in namespace 'kubesphere-monitoring-system' " \
           "@ $.spec.chatbot.webhook" in found
    # the DingTalkConfig itself is as the schema wants it: its only problems are the Secrets it names
    assert [p for p in found if "@ $.spec" in p and "not found" not in p and "is invalid" not in p] == []


def test_the_v2beta2_documentation_examples_load_as_written():
    """config.md's and receiver.md's DingTalk examples: the only problems are the Secrets they leave out (with the
    docs' spelling, `defalut-config-secret`)."""
    snapshot = snapshot_of(documented("config-v2beta2-dingtalk.yaml", "receiver-v2beta2-dingtalk.yaml"))

    located = sorted(p.message for p in snapshot.problems if not p.message.startswith("will not send: "))
    assert located == sorted(
        f"Secret {name!r} not found in namespace 'kubesphere-monitoring-system' @ $.spec.{path}"
        for name, path in (("defalut-config-secret", "conversation.appkey"),
                           ("defalut-config-secret", "conversation.appsecret"),
                           ("global-receiver-secret", "chatbot.webhook"), ("global-receiver-secret", "chatbot.secret")))
    [receiver], [config] = snapshot.receivers, snapshot.configs
    spec = receiver.spec
    assert isinstance(spec, DingTalkReceiverBlock) and isinstance(config.spec, DingTalkConfigBlock)
    assert spec.conversation.chatids == ("chat894f9f4d634eb283933af6c7102977b2",)
    assert spec.chatbot.keywords == ("kubesphere",) and spec.chatbot.secret is not None
    assert spec.chatbot.webhook.secret_key_ref.namespace == "kubesphere-monitoring-system"
    assert spec.config_selector.match_labels == {"type": "tenant", "user": "admin"}
    assert spec.alert_selector.match_expressions[0].operator == "DoesNotExist"
    assert (spec.enabled, spec.template, spec.title_template, spec.tmpl_type) == (
        True, "nm.default.text", "nm.default.subject", "text")
    assert spec.tmpl_text.name == "notification-manager-template"
    assert config.spec.conversation.appsecret.secret_key_ref.name == "defalut-config-secret"


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


def test_nm_convert_moves_the_chatbot_and_chat_id_into_the_v2beta2_receiver():
    converted = subprocess.run([sys.executable, "-m", "nmcore", "convert", str(DOCS / "samples-0.7-dingtalk.yaml"),
                                "--to", "v2beta2"], capture_output=True, text=True, check=True).stdout

    snapshot = snapshot_of(converted)

    assert snapshot.problems == ()
    [receiver], [config] = snapshot.receivers, snapshot.configs
    assert receiver.spec.chatbot.keywords == ("kubesphere",)
    assert receiver.spec.chatbot.webhook.secret_key_ref.name == "default-dingtalk-secret"
    assert receiver.spec.conversation.chatids == ("chat894f9f4d634eb283933af6c7102977b2",)
    assert config.spec.conversation.appkey.secret_key_ref.key == "appkey" and config.spec.labels == {}
    assert snapshot.targets[receiver.ref].config.ref == config.ref
