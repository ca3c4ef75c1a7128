"""The TelegramConfig/TelegramReceiver manifests: seed-like examples load, mistakes are reported where they are."""

import nm_telegram

from nmcore.testing import snapshot_from_yaml

TENANT = "TelegramReceiver/kubesphere-monitoring-system/test-user-telegram"
GLOBAL = "TelegramReceiver/kubesphere-monitoring-system/global-telegram"


def receiver(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramReceiver
metadata: {{name: r, namespace: ns, labels: {{type: global}}}}
spec: {spec}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_telegram]).problems]


def test_the_seed_like_manifests_load_and_pick_their_configs(seed):
    snapshot = snapshot_from_yaml(seed("https://telegram.example", mentions="[alice_ops]"), plugins=[nm_telegram])
    assert snapshot.problems == ()
    assert snapshot.targets[TENANT].config.name == "test-user-config"
    assert snapshot.targets[TENANT].receiver.spec.chats == ("@alert_room",)
    assert snapshot.targets[TENANT].receiver.spec.mentions == "@alice_ops"
    assert snapshot.targets[GLOBAL].config.name == "default-telegram-config"
    assert snapshot.targets[GLOBAL].receiver.spec.chats == ("-1001000000002",)  # an unquoted YAML number


def test_api_url_defaults_to_telegram():
    text = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramConfig
metadata: {name: c, namespace: ns, labels: {type: default}}
spec: {telegramTokenSecret: {name: s, key: token}}
"""
    [config] = snapshot_from_yaml(text, plugins=[nm_telegram]).configs
    assert config.spec.api_url == "https://api.telegram.org"


def test_chats_and_usernames_are_checked_with_their_location():
    assert problems(receiver("{channels: []}")) == [
        "test.yaml: TelegramReceiver/ns/r: channels must name at least one chat (a chat ID or a channel's @username) @ $.spec"]
    [problem] = problems(receiver("{channels: ['#ops']}"))
    assert "channels holds '#ops': not a chat ID" in problem and "TelegramReceiver/ns/r" in problem
    [problem] = problems(receiver("{channels: [1], mentionedUsers: ['al']}"))
    assert "mentionedUsers holds 'al'" in problem


def test_unknown_keys_and_bad_api_urls_are_located():
    [problem] = problems(receiver("{channels: [1], mentionedUser: [alice_ops]}"))
    assert "unknown field 'mentionedUser' (did you mean 'mentionedUsers'?) @ $.spec" in problem
    [problem] = problems("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: TelegramConfig
metadata: {name: c, namespace: ns, labels: {type: default}}
spec: {telegramTokenSecret: {name: s, key: token}, apiUrl: api.telegram.org}
""")
    assert "apiUrl must be an http(s) URL" in problem


def test_a_receiver_without_any_config_cannot_send():
    snapshot = snapshot_from_yaml(receiver("{channels: [1]}"), plugins=[nm_telegram])
    assert "TelegramReceiver/ns/r" not in snapshot.targets
    assert "TelegramReceiver/ns/r" in snapshot.skipped
