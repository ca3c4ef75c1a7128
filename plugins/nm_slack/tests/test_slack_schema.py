"""The SlackConfig/SlackReceiver manifests: the seed's examples load, mistakes are reported where they are."""

import textwrap

import nm_slack

from nmcore.testing import snapshot_from_yaml

TENANT = "SlackReceiver/kubesphere-monitoring-system/test-user-slack"
GLOBAL = "SlackReceiver/kubesphere-monitoring-system/global-slack-slack"


def receiver(spec: str) -> str:
    head = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackReceiver
metadata: {name: r, labels: {type: global}}
spec:
"""
    return head + textwrap.indent(textwrap.dedent(spec).strip(), "  ") + "\n"


def config(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: SlackConfig
metadata: {{name: c, labels: {{type: default}}}}
spec: {spec}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_slack]).problems]


def test_the_seed_manifests_load_and_pick_the_documented_configs(seed):
    snapshot = snapshot_from_yaml(seed("https://slack.example"), plugins=[nm_slack])
    assert snapshot.problems == ()
    assert snapshot.targets[TENANT].config.name == "test-user-config"
    assert snapshot.targets[TENANT].receiver.spec.targets == ("alert",)
    assert snapshot.targets[GLOBAL].config.name == "default-slack-config"
    assert snapshot.targets[GLOBAL].config.spec.api_url == "https://slack.example/api"


def test_api_url_defaults_to_slack():
    text = config("{slackTokenSecret: {name: s, key: token}}") + """
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {token: xoxb-1}
"""
    snapshot = snapshot_from_yaml(text, plugins=[nm_slack])
    assert snapshot.problems == ()
    assert snapshot.configs[0].spec.api_url == "https://slack.com/api"


def test_channel_and_channels_are_merged_in_order_without_duplicates():
    snapshot = snapshot_from_yaml(receiver("{channel: alert, channels: [ops, alert, '#dev']}"), plugins=[nm_slack])
    assert snapshot.receivers[0].spec.targets == ("alert", "ops", "#dev")


def test_a_receiver_without_any_channel_is_rejected_with_its_location():
    [problem] = problems(receiver("{slackConfigSelector: {matchLabels: {type: default}}}"))
    assert "SlackReceiver/kubesphere-monitoring-system/r: give channel (or channels[])" in problem
    assert problem.endswith("@ $.spec")


def test_webhook_url_and_channel_together_are_rejected():
    [problem] = problems(receiver("{channel: alert, webhookUrl: {value: 'https://hooks.slack.com/services/x'}}"))
    assert "webhookUrl or channel/channels, not both" in problem


def test_an_empty_name_in_channels_is_rejected():
    [problem] = problems(receiver("{channels: [ops, '']}"))
    assert "empty channel name" in problem


def test_unknown_keys_and_bad_api_urls_are_located():
    [unknown] = problems(config("{slackTokenSecret: {name: s, key: token}, slackToken: x}"))
    assert "unknown field 'slackToken' (did you mean 'slackTokenSecret'?) @ $.spec" in unknown
    [bad_url] = problems(config("{slackTokenSecret: {name: s, key: token}, apiUrl: slack.com/api}"))
    assert "apiUrl must be an http(s) URL" in bad_url


def test_a_webhook_receiver_needs_no_config():
    snapshot = snapshot_from_yaml(receiver("{webhookUrl: {value: 'https://hooks.slack.com/services/x'}}"),
                                  plugins=[nm_slack])
    assert snapshot.problems == ()
    assert snapshot.targets["SlackReceiver/kubesphere-monitoring-system/r"].config is None


def test_a_channel_receiver_without_any_config_cannot_send():
    snapshot = snapshot_from_yaml(receiver("{channel: alert}"), plugins=[nm_slack])
    assert "no SlackConfig labelled type: default" in snapshot.skipped["SlackReceiver/kubesphere-monitoring-system/r"]
