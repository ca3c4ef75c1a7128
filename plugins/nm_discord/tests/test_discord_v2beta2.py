"""The v2beta2 `discord` block: the Go original's documentation example as written, read by the core's v2beta2
loader with this plugin, every field it sets honoured, and delivered."""

from pathlib import Path

import nm_discord
import pytest
import yaml
from nm_discord.schema import DiscordReceiverBlock

from nmcore import AlertGroup, Manager
from nmcore.testing import alert, snapshot_from_yaml, structure

EXAMPLE = (Path(__file__).parent / "docs" / "receiver-v2beta2-discord.yaml").read_text()
TARGET = "Receiver/test-discord-receiver:discord"


def test_the_documentation_example_loads_as_written_and_reads_every_field():
    snapshot = snapshot_from_yaml(EXAMPLE, plugins=[nm_discord])
    assert snapshot.problems == ()
    target = snapshot.targets[TARGET]
    spec = target.receiver.spec
    assert (target.receiver.scope, target.config) == ("global", None)
    assert (spec.type, spec.template, spec.enabled) == ("embed", "nm.default.text", True)
    assert spec.mentions == "@everyone <@1045280620097572914> <@&1057234958281887744>"
    assert (spec.tmpl_text.name, spec.tmpl_text.namespace) == ("notification-manager-template",
                                                             "kubesphere-monitoring-system")
    ref = spec.webhook.value_from.secret_key_ref
    assert (ref.namespace, ref.name, ref.key) == ("kubesphere-monitoring-federated", "discord-secret", "webhook")


def test_a_mistake_in_the_block_is_located():
    [document, _] = yaml.safe_load_all(EXAMPLE)
    document["spec"]["discord"]["mentionedRoles"] = ["admins"]
    [problem] = snapshot_from_yaml(yaml.safe_dump(document), plugins=[nm_discord]).problems
    assert "mentionedRoles holds 'admins'" in str(problem) and "$.spec.discord" in str(problem)
    with pytest.raises(ValueError, match="webhook"):
        structure({"type": "embed"}, DiscordReceiverBlock)


@pytest.mark.anyio
async def test_the_documentation_example_delivers_with_its_webhook_secret_pointing_at_the_fake(discord):
    [receiver, secret] = yaml.safe_load_all(EXAMPLE)
    secret.pop("data")
    secret["stringData"] = {"webhook": discord.webhook_url()}
    text = yaml.safe_dump_all([receiver, secret])
    async with Manager.from_yaml(text, plugins=[nm_discord]) as manager:
        await manager.submit(AlertGroup(alerts=(alert(alertname="NodeDown", node="n1"),)))
        await manager.drain(timeout=10)
    assert [(o.receiver, o.ok) for o in manager.outcomes] == [(TARGET, True)]
    [posted] = discord.posted
    assert posted.body["embeds"][0]["title"].startswith("[FIRING] NodeDown")
    assert posted.pinged_everyone and posted.pinged_users == ["1045280620097572914"]
    assert posted.pinged_roles == ["1057234958281887744"]
