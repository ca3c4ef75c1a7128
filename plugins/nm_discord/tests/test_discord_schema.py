"""The DiscordConfig/DiscordReceiver manifests: seed-like examples load, mistakes are reported where they are,
and a webhook given inline is never echoed."""

import nm_discord

from nmcore.testing import snapshot_from_yaml

TENANT = "DiscordReceiver/kubesphere-monitoring-system/test-user-discord"
GLOBAL = "DiscordReceiver/kubesphere-monitoring-system/global-discord"


def receiver(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: DiscordReceiver
metadata: {{name: r, namespace: ns, labels: {{type: global}}}}
spec: {spec}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_discord]).problems]


def test_the_seed_like_manifests_load_with_and_without_a_config(seed):
    snapshot = snapshot_from_yaml(seed("https://discord.com/api/webhooks/1/abc", users="[everyone, '1045280620097572914']",
                                       roles="['1057234958281887744']"), plugins=[nm_discord])
    assert snapshot.problems == ()
    tenant = snapshot.targets[TENANT]
    assert tenant.config is None  # its own webhook: no config's credential travels with it
    assert tenant.receiver.spec.mentions == "@everyone <@1045280620097572914> <@&1057234958281887744>"
    assert tenant.receiver.spec.allowed_mentions == {
        "parse": ["everyone"], "users": ["1045280620097572914"], "roles": ["1057234958281887744"]}
    assert snapshot.targets[GLOBAL].config.name == "default-discord-config"
    assert snapshot.targets[GLOBAL].receiver.spec.type == "embed"


def test_type_and_mention_ids_are_checked_with_their_location():
    [problem] = problems(receiver("{webhook: {value: 'https://discord.com/api/webhooks/1/x'}, type: card}"))
    assert "DiscordReceiver/ns/r" in problem and "$.spec.type" in problem and "type must be 'content' or 'embed', got 'card'" in problem
    [problem] = problems(receiver("{webhook: {value: 'https://d/x'}, mentionedUsers: ['@alice']}"))
    assert "mentionedUsers holds '@alice': not a Discord ID (17 to 20 digits) or everyone/here" in problem
    [problem] = problems(receiver("{webhook: {value: 'https://d/x'}, mentionedRoles: [everyone]}"))
    assert "mentionedRoles holds 'everyone': not a Discord ID (17 to 20 digits) @" in problem


def test_an_inline_webhook_that_is_not_a_url_is_refused_without_echoing_it():
    [problem] = problems(receiver("{webhook: {value: 'discord.com/api/webhooks/1/s3cr3t-t0ken'}}"))
    assert "webhook.value is not an http(s) URL" in problem and "s3cr3t-t0ken" not in problem


def test_a_receiver_without_a_webhook_needs_a_config():
    snapshot = snapshot_from_yaml(receiver("{type: content}"), plugins=[nm_discord])
    assert "no DiscordConfig labelled type: default" in snapshot.skipped["DiscordReceiver/ns/r"]
