"""The manifests: the original's documentation examples as written, the seed-like ones, located mistakes."""

from pathlib import Path

import nm_feishu
import pytest
import yaml
from nm_feishu.schema import FeishuConfigBlock, FeishuReceiverBlock

from nmcore.testing import SchemaError, snapshot_from_yaml, structure

DOCS = Path(__file__).parent / "docs"


def block(document: str) -> dict:
    return yaml.safe_load((DOCS / document).read_text())["spec"]["feishu"]


@pytest.mark.xfail(strict=True, reason="secretKeyRef.namespace is the v2beta2 loader's (issue 13): the core's "
                                       "SecretKeySelector has no namespace yet")
@pytest.mark.parametrize(("document", "schema"), [("config-v2beta2-feishu.yaml", FeishuConfigBlock),
                                                   ("receiver-v2beta2-feishu.yaml", FeishuReceiverBlock)])
def test_the_v2beta2_documentation_examples_fit_the_blocks(document, schema):
    structure(block(document), schema, "$.spec.feishu")


def test_the_v2beta2_receiver_example_without_secret_namespaces_reads_every_field():
    text = (DOCS / "receiver-v2beta2-feishu.yaml").read_text().replace(
        "            namespace: kubesphere-monitoring-system", "")
    spec = structure(yaml.safe_load(text)["spec"]["feishu"], FeishuReceiverBlock, "$.spec.feishu")

    assert (spec.user, spec.department, spec.tmpl_type, spec.template) == (("test",), ("dev",), "text",
                                                                            "nm.default.post")
    assert spec.chatbot.keywords == ("kubesphere",) and spec.chatbot.secret is not None
    assert spec.config_selector.match_labels == {"type": "tenant", "user": "admin"}
    assert spec.enabled and spec.alert_selector.match_expressions[0].key == "namespace"
    assert nm_feishu.needs_config(spec)


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
