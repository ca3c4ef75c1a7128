"""What a user of each provider notices: who gets which SMS, in what order, and how failures are reported."""

import nm_sms
import pytest
from sms_fake import FakeSms, manifests

from nmcore.sdk import PermanentError, SendReport, TransientError
from nmcore.testing import alert, running_sender, send_request, snapshot_from_yaml

pytestmark = pytest.mark.anyio
RECEIVER = "SmsReceiver/kubesphere-monitoring-system/oncall"


def request(text: str, alerts=()):
    snapshot = snapshot_from_yaml(text, plugins=[nm_sms])
    assert not snapshot.problems, [str(p) for p in snapshot.problems]
    return send_request(snapshot, RECEIVER, alerts)


async def send(text: str, alerts=()) -> SendReport | None:
    async with running_sender(nm_sms.SmsSender, "sms") as sender:
        return await sender.send(request(text, alerts))


ALERTS = [alert(namespace="prod", pod="api-0", annotations={"summary": "disk almost full"}),
          alert(namespace="prod", pod="api-1", severity="critical", deployment="api",
                annotations={"message": "restarted 5 times"})]


async def test_aliyun_sends_compact_lines_in_order_within_35_characters(sms: FakeSms):
    await send(manifests(sms.url, "aliyun"), ALERTS)
    texts = sms.texts("aliyun")
    assert all(len(t) <= 35 for t in texts)
    assert "".join(texts) == ("[FIRING] TestAlert prod/api-0: disk almost full\n"
                              "[FIRING] TestAlert prod/api-1: restarted 5 times")
    assert {numbers for _, numbers, _ in sms.sent} == {("13612345678", "+8613812345678")}


async def test_tencent_and_huawei_numbers_get_the_china_code_when_they_have_none(sms: FakeSms):
    await send(manifests(sms.url, "tencent"), ALERTS)
    await send(manifests(sms.url, "huawei"), ALERTS)
    assert {numbers for _, numbers, _ in sms.sent} == {("+8613612345678", "+8613812345678")}


async def test_huawei_sends_one_sms_per_alert_with_the_originals_ten_variables(sms: FakeSms):
    await send(manifests(sms.url, "huawei"), ALERTS)
    assert sms.texts("huawei") == ["TestAlert", "disk almost full", "disk almost full", "prod", "api-0",
                                   "TestAlert", "critical", "restarted 5 times", "prod", "api", "api-1"]


async def test_aws_publishes_once_per_number(sms: FakeSms):
    await send(manifests(sms.url, "aws"), ALERTS)
    assert [numbers for _, numbers, _ in sms.sent] == [("13612345678",), ("+8613812345678",)]


async def test_a_thousand_and_one_numbers_go_to_aliyun_in_two_requests_none_dropped(sms: FakeSms):
    numbers = [f"1360000{i:04}" for i in range(1001)]
    await send(manifests(sms.url, "aliyun", numbers=str(numbers).replace("'", '"')), ALERTS[:1])
    batches = {numbers for _, numbers, _ in sms.sent}
    assert sorted(len(b) for b in batches) == [1, 1000] and {n for b in batches for n in b} == set(numbers)


@pytest.mark.parametrize(("provider", "secret_key", "code"), [
    ("aliyun", "aliyun.secret", "SignatureDoesNotMatch"), ("aliyun", "aliyun.id", "InvalidAccessKeyId.NotFound"),
    ("tencent", "tencent.key", "AuthFailure.SignatureFailure"), ("tencent", "tencent.id", "AuthFailure.SecretIdNotFound"),
    ("huawei", "huawei.secret", "E000105"), ("huawei", "huawei.key", "E000102"),
    ("aws", "aws.secret", "SignatureDoesNotMatch"), ("aws", "aws.id", "InvalidClientTokenId"),
])
async def test_bad_credentials_are_permanent_and_name_the_providers_code(sms: FakeSms, provider, secret_key, code):
    with pytest.raises(PermanentError, match=code) as caught:
        await send(manifests(sms.url, provider, secrets={secret_key: "wrong-value"}))
    assert "wrong-value" not in str(caught.value) and sms.sent == []


@pytest.mark.parametrize(("provider", "wait"), [("aliyun", 60), ("tencent", 30), ("huawei", 60), ("aws", 60)])
async def test_throttling_is_transient_with_the_wait_its_code_implies(sms: FakeSms, provider, wait):
    sms.throttle.add(provider)
    with pytest.raises(TransientError) as caught:
        await send(manifests(sms.url, provider))
    assert caught.value.retry_after == wait


async def test_tencent_numbers_refused_while_others_got_it_are_warnings_not_a_retry(sms: FakeSms):
    sms.refuse_numbers.add("+8613812345678")
    report = await send(manifests(sms.url, "tencent"), ALERTS[:1])
    assert report is not None and report.warnings
    assert all("+8613812345678" in w and "IncorrectPhoneNumber" in w for w in report.warnings)
    assert {numbers for _, numbers, _ in sms.sent} == {("+8613612345678",)}


async def test_a_secret_in_another_namespace_is_refused_for_a_namespaced_config(sms: FakeSms):
    text = manifests(sms.url, "aliyun").replace("key: aliyun.secret}", "key: aliyun.secret, namespace: other}")
    keys = text.split("---")[0].replace("metadata: {name: sms-keys}", "metadata: {name: sms-keys, namespace: other}")
    text += "---" + keys  # the Secret exists there: the rule, not a missing Secret, refuses it
    snapshot = snapshot_from_yaml(text, plugins=[nm_sms])
    [problem] = [str(p) for p in snapshot.problems if "will not send" not in str(p)]
    assert "names namespace 'other'" in problem and "own namespace only" in problem
    assert problem.endswith("@ $.spec.providers.aliyun.accessKeySecret")
    assert RECEIVER in snapshot.skipped and RECEIVER not in snapshot.targets


def test_bad_phone_numbers_and_empty_providers_are_located():
    text = manifests("http://x", "aliyun", numbers='["13612345678", "call-me"]')
    problems = [str(p) for p in snapshot_from_yaml(text, plugins=[nm_sms]).problems]
    assert any("item 1 ('call-me') is not a phone number" in p and p.endswith("$.spec.phoneNumbers")
               for p in problems), problems
    empty = text.split("---")[0] + "---" + text.split("---")[1].split("  providers:")[0] + "  providers: {}\n"
    empty = empty.replace("defaultProvider: aliyun", "defaultProvider: ''")
    problems = [str(p) for p in snapshot_from_yaml(empty, plugins=[nm_sms]).problems]
    assert any("providers is empty" in p for p in problems), problems


def test_the_plugin_registers_through_the_nmcore_entry_point():
    from nmcore import PluginHost

    host = PluginHost(load_entrypoints=True)
    assert host.channels["sms"].spec is nm_sms.SPEC
    assert host.channels["sms"].plugin.distribution == "nm-sms"


async def test_a_receivers_own_template_is_sent_as_rendered_within_the_limit(sms: FakeSms):
    text = manifests(sms.url, "aliyun").replace("spec: {phoneNumbers:", "spec: {template: nm.default.text, phoneNumbers:")
    req = request(text, ALERTS[:1])
    async with running_sender(nm_sms.SmsSender, "sms") as sender:
        await sender.send(req)
    texts = sms.texts("aliyun")
    assert "".join(texts) == req.message.text != "[FIRING] TestAlert prod/api-0: disk almost full"
    assert all(len(t) <= 35 for t in texts)
