"""The Go original's SMS documentation examples (docs/crds/config.md, docs/crds/receiver.md and
config/samples/sms.yaml, copied verbatim into original-docs/) validate as written: their `sms` blocks structure
into the plugin's v2beta2 block schemas (ChannelSpec.v2beta2) with the fields and meaning the original gives."""

from pathlib import Path

import nm_sms
import pytest
import yaml

from nmcore.testing import SchemaError, block_request, running_sender, structure

DOCS = Path(__file__).parent / "original-docs"
BLOCK = nm_sms.SPEC.v2beta2
assert BLOCK is not None and BLOCK.name == "sms"


def sms_blocks(name: str, kind: str) -> list[dict]:
    return [doc["spec"]["sms"] for doc in yaml.safe_load_all((DOCS / name).read_text())
            if doc and doc.get("kind") == kind]


@pytest.mark.parametrize("name", ["config-sms-config.yaml", "config-samples-sms.yaml"])
def test_the_documented_sms_configs_validate_as_written(name):
    [body] = sms_blocks(name, "Config")
    config = structure(body, BLOCK.config_schema)
    assert config.provider == "huawei"  # defaultProvider: huawei
    huawei = config.providers.huawei
    assert (huawei.url, huawei.template_id, huawei.sender) == (
        "https://rtcsms.cn-north-1.myhuaweicloud.com:10743/sms/batchSendSms/v1", "xxx", "kubesphere")
    assert huawei.app_key.value_from.secret_key_ref.key == "huawei.appKey"
    assert huawei.app_key.value_from.secret_key_ref.namespace == "default"
    assert config.providers.tencent.sms_sdk_appid == "xxx" and config.providers.tencent.template_id == "xxx"
    assert config.providers.aliyun.sign_name == "xxxx"
    assert config.providers.aws is None


@pytest.mark.parametrize(("name", "numbers"), [("receiver-sms-receiver.yaml", ("13612345678",)),
                                               ("config-samples-sms.yaml", ("13612344321",))])
def test_the_documented_sms_receivers_validate_as_written(name, numbers):
    [body] = sms_blocks(name, "Receiver")
    receiver = structure(body, BLOCK.receiver_schema)
    assert receiver.phone_numbers == numbers  # an unquoted YAML number in receiver.md
    assert receiver.enabled is True


def test_a_default_provider_without_its_block_is_an_error_naming_it():
    [body] = sms_blocks("config-sms-config.yaml", "Config")
    body = {**body, "defaultProvider": "aws"}
    with pytest.raises(SchemaError, match="defaultProvider is 'aws' but providers has no aws block"):
        structure(body, BLOCK.config_schema)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_documented_blocks_send_through_the_fake_huawei_api(sms, anyio_backend):
    """The docs' Config (its huawei block pointed at the fake) and Receiver, as v2beta2 blocks, sent."""
    from sms_fake import HW_KEY, HW_SECRET

    [config_body] = sms_blocks("config-sms-config.yaml", "Config")
    config_body["providers"]["huawei"]["url"] = f"{sms.url}/huawei/sms/batchSendSms/v1"
    [receiver_body] = sms_blocks("receiver-sms-receiver.yaml", "Receiver")
    request = block_request(structure(receiver_body, BLOCK.receiver_schema),
                            structure(config_body, BLOCK.config_schema), channel="sms",
                            secrets={"default-sms-secret": {"huawei.appKey": HW_KEY, "huawei.appSecret": HW_SECRET}})
    async with running_sender(nm_sms.SmsSender, "sms") as sender:
        await sender.send(request)
    assert {numbers for _, numbers, _ in sms.sent} == {("+8613612345678",)}
    # receiver.md names `template: nm.default.text`: that text is sent, in 20-character variables, in order
    assert "".join(sms.texts("huawei")) == request.message.text and all(len(t) <= 20 for t in sms.texts("huawei"))
