"""The manifests: the original's documentation examples as written, the seed-like ones, located mistakes."""

from pathlib import Path

import nm_feishu
import pytest
from nm_feishu.schema import FeishuConfigBlock, FeishuReceiverBlock

from nmcore.testing import SchemaError, snapshot_from_yaml, structure

DOCS = Path(__file__).parent / "docs"


def test_the_v2beta2_documentation_examples_load_as_written():
    """config.md's and receiver.md's Feishu examples: the only problems are the Secrets they leave out (with the
    docs' spelling, `defalut-config-secret`)."""
    text = "\n---\n".join((DOCS / name).read_text() for name in ("config-v2beta2-feishu.yaml",
                                                                "receiver-v2beta2-feishu.yaml"))
    snapshot = snapshot_from_yaml(text, plugins=[nm_feishu])

    located = sorted(p.message for p in snapshot.problems if not p.message.startswith("will not send: "))
    assert located == sorted(
        f"Secret {name!r} not found in namespace 'kubesphere-monitoring-system' @ $.spec.{path}"
        for name, path in (("defalut-config-secret", "appID"), ("defalut-config-secret", "appSecret"),
                           ("global-receiver-secret", "chatbot.webhook"), ("global-receiver-secret", "chatbot.secret")))
    [receiver], [config] = snapshot.receivers, snapshot.configs
    spec = receiver.spec
    assert isinstance(spec, FeishuReceiverBlock) and isinstance(config.spec, FeishuConfigBlock)
    assert (spec.user, spec.department, spec.tmpl_type, spec.template) == (("test",), ("dev",), "text",
                                                                            "nm.default.post")
    assert spec.chatbot.keywords == ("kubesphere",) and spec.chatbot.secret is not None
    assert spec.chatbot.webhook.secret_key_ref.namespace == "kubesphere-monitoring-system"
    assert spec.config_selector.match_labels == {"type": "tenant", "user": "admin"}
    assert spec.enabled and spec.alert_selector.match_expressions[0].key == "namespace"
    assert config.spec.app_id.secret_key_ref.key == "appkey" and nm_feishu.needs_config(spec)


@pytest.mark.anyio
async def test_the_seed_like_manifests_validate(seed):
    snapshot = snapshot_from_yaml(seed("https://open.feishu.cn/open-apis/bot/v2/hook/x"), plugins=[nm_feishu])
    assert snapshot.problems == ()
    assert {ref: target.config.ref for ref, target in snapshot.targets.items()} == {
        "FeishuReceiver/kubesphere-monitoring-system/global-feishu-receiver":
            "FeishuConfig/kubesphere-monitoring-system/default-feishu-config",
        "FeishuReceiver/kubesphere-monitoring-system/test-user-feishu-receiver":
            "FeishuConfig/kubesphere-monitoring-system/default-feishu-config",
    }


@pytest.mark.parametrize(("spec", "expected"), [
    ({"tmplType": "post"}, "no recipient: give at least one of user, department and chatbot @ $.spec.feishu"),
    ({"user": ["a"], "tmplType": "markdown"}, "@ $.spec.feishu.tmplType"),
    ({"user": "a"}, "@ $.spec.feishu.user"),
    ({"chatbot": {"webhook": {"value": "https://x"}, "keyword": ["k"]}},
     "unknown field 'keyword' (did you mean 'keywords'?) @ $.spec.feishu.chatbot"),
    ({"department": [f"d{i}" for i in range(201)]},
     "department lists 201 entries; the most is 200 @ $.spec.feishu"),
])
def test_receiver_mistakes_are_located(spec, expected):
    with pytest.raises(SchemaError) as caught:
        structure(spec, FeishuReceiverBlock, "$.spec.feishu")
    assert any(p.endswith(expected) for p in caught.value.problems), caught.value.problems


def test_config_mistakes_are_located():
    text = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: FeishuConfig
metadata: {name: app, labels: {type: default}}
spec: {appId: {value: cli_x}, appSecret: {value: s}, apiUrl: open.feishu.cn}
"""
    found = [p.message for p in snapshot_from_yaml(text, plugins=[nm_feishu]).problems]
    assert "unknown field 'appId' (did you mean 'appID'?) @ $.spec" in found
    assert "required field missing @ $.spec.appID" in found
