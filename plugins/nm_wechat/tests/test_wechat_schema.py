"""The WechatConfig and WechatReceiver manifests: the seed's shapes, and located errors for mistakes."""

import nm_wechat
import pytest

from nmcore.testing import snapshot_from_yaml

pytestmark = pytest.mark.anyio

TENANT = "WechatReceiver/kubesphere-monitoring-system/test-user-wechat"
GLOBAL = "WechatReceiver/kubesphere-monitoring-system/global-wechat-wechat"


def receiver(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
{spec}
"""


def config(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: WechatConfig
metadata: {{name: app, labels: {{type: default}}}}
spec:
  wechatApiSecret: {{name: wechat-app, key: wechat}}
{spec}
---
apiVersion: v1
kind: Secret
metadata: {{name: wechat-app}}
stringData: {{wechat: s}}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_wechat]).problems]


def receiver_spec(spec: str):
    snapshot = snapshot_from_yaml(receiver(spec), plugins=[nm_wechat])
    assert [str(p) for p in snapshot.problems if "will not send" not in str(p)] == []
    [resource] = snapshot.receivers
    return resource.spec


async def test_the_seed_as_written_names_the_missing_secret_and_the_likely_one(seed_yaml):
    snapshot = snapshot_from_yaml(seed_yaml(fix_secret_name=False), plugins=[nm_wechat])

    problem, cannot_send = snapshot.problems
    assert problem.object == "WechatConfig/kubesphere-monitoring-system/test-user-config"
    assert problem.message == ("Secret 'test-user-wehat-secret' not found in namespace 'kubesphere-monitoring-system' "
                               "(did you mean 'test-user-wechat-secret'?) @ $.spec.wechatApiSecret")
    assert cannot_send.object == TENANT and cannot_send.message.startswith("will not send: its config")


async def test_the_seed_as_written_counts_the_tenant_receiver_as_unable_to_send(wechat, seed_yaml):
    snapshot = snapshot_from_yaml(seed_yaml(fix_secret_name=False), plugins=[nm_wechat])
    assert set(snapshot.targets) == {GLOBAL}
    assert "@ $.spec.wechatApiSecret" in snapshot.skipped[TENANT]
    assert wechat.calls.total() == 0


async def test_the_seed_fixed_has_no_problems(seed_snapshot):
    spec = seed_snapshot.targets[TENANT].receiver.spec
    assert (spec.to_user, spec.to_party, spec.to_tag) == (("user1", "user2"), ("party1", "party2"), ("tag1", "tag2"))
    config = seed_snapshot.targets[TENANT].config
    assert config.ref == "WechatConfig/kubesphere-monitoring-system/test-user-config"
    assert config.spec.agent_id == 1000002


@pytest.mark.parametrize(("written", "names"), [
    ("toUser: user1 | user2", ("user1", "user2")),
    ("toUser: user1|user2|", ("user1", "user2")),
    ("toUser: [user1, user2]", ("user1", "user2")),
    ("toUser: [user1 | user2, user3]", ("user1", "user2", "user3")),
    ("toUser: user1 | user1", ("user1",)),
    ("toUser: '@all'", ("@all",)),
])
def test_recipients_as_a_bar_separated_string_or_a_list(written, names):
    assert receiver_spec(f"  {written}").to_user == names


def test_party_ids_may_be_numbers():
    assert receiver_spec("  toParty: [2, 3]").to_party == ("2", "3")
    assert receiver_spec("  toParty: 2").to_party == ("2",)


def test_a_receiver_without_recipients_is_an_error_naming_the_fields():
    [problem] = problems(receiver("  toUser: ' | '\n  toParty: []"))
    assert problem.startswith("test.yaml: WechatReceiver/kubesphere-monitoring-system/ops: ")
    assert "give at least one of toUser, toParty and toTag" in problem and problem.endswith("@ $.spec")


def test_a_recipient_of_the_wrong_shape_is_located():
    [problem] = problems(receiver("  toUser: user1\n  toTag: [tag1, {name: tag2}]"))
    assert "item 1 of the list is not a name" in problem and problem.endswith("@ $.spec.toTag")


def test_msg_type_is_text_or_markdown():
    assert receiver_spec("  toUser: u").msg_type == "text"
    assert receiver_spec("  toUser: u\n  msgType: markdown").msg_type == "markdown"
    [problem] = problems(receiver("  toUser: u\n  msgType: news"))
    assert problem.endswith("@ $.spec.msgType")


def test_agent_id_may_be_a_string_or_a_number():
    for written in ('"1000002"', "1000002"):
        snapshot = snapshot_from_yaml(config(f"  wechatApiCorpId: corp\n  wechatApiAgentId: {written}"),
                                      plugins=[nm_wechat])
        assert snapshot.problems == ()
        assert snapshot.configs[0].spec.agent_id == 1000002
        assert snapshot.configs[0].spec.api_base == "https://qyapi.weixin.qq.com/cgi-bin/"


def test_config_mistakes_are_located():
    [problem] = problems(config("  wechatApiCorpId: corp\n  wechatApiAgentId: my-app"))
    assert "wechatApiAgentId must be the application's numeric AgentId" in problem and problem.endswith("@ $.spec")
    [problem] = problems(config("  wechatApiAgentId: 1"))
    assert problem.endswith("required field missing @ $.spec.wechatApiCorpId")
    [problem] = problems(config("  wechatApiCorpId: corp\n  wechatApiAgentId: 1\n  wechatApiURL: https://x/"))
    assert "unknown field 'wechatApiURL'" in problem and "wechatApiUrl" in problem


def test_api_url_without_trailing_slash_still_reaches_the_api():
    snapshot = snapshot_from_yaml(
        config("  wechatApiCorpId: c\n  wechatApiAgentId: 1\n  wechatApiUrl: http://127.0.0.1:1/cgi-bin"),
        plugins=[nm_wechat])
    assert snapshot.configs[0].spec.api_base == "http://127.0.0.1:1/cgi-bin/"


def test_the_plugin_registers_through_the_nmcore_entry_point():
    from nmcore import PluginHost

    host = PluginHost(load_entrypoints=True)
    assert host.channels["wechat"].spec is nm_wechat.SPEC
    assert host.channels["wechat"].plugin.distribution == "nm-wechat"
