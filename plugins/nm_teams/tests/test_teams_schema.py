"""The TeamsConfig/TeamsReceiver manifests: seed-like examples load, mistakes are reported where they are,
and a webhook given inline is never echoed."""

import nm_teams

from nmcore.testing import snapshot_from_yaml

TENANT = "TeamsReceiver/kubesphere-monitoring-system/test-user-teams"
GLOBAL = "TeamsReceiver/kubesphere-monitoring-system/global-teams"


def receiver(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsReceiver
metadata: {{name: r, namespace: ns, labels: {{type: global}}}}
spec: {spec}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_teams]).problems]


def test_the_seed_like_manifests_load_with_and_without_a_config(seed):
    snapshot = snapshot_from_yaml(seed("https://x.api.powerplatform.com/workflows/1?sig=s",
                                       mentions="[{id: alice@contoso.com, name: Alice}]"), plugins=[nm_teams])
    assert snapshot.problems == ()
    assert snapshot.targets[TENANT].config is None
    assert [m.name for m in snapshot.targets[TENANT].receiver.spec.mentioned_users] == ["Alice"]
    assert snapshot.targets[GLOBAL].config.name == "default-teams-config"


def test_mentions_are_checked_with_their_location():
    [problem] = problems(receiver("{webhook: {value: 'https://x/y'}, mentionedUsers: [{id: alice@contoso.com}]}"))
    assert "required field missing @ $.spec.mentionedUsers[0].name" in problem
    [problem] = problems(receiver("{webhook: {value: 'https://x/y'}, mentionedUsers: [{id: a, name: '<b>'}]}"))
    assert "mention name '<b>' may not contain < or >" in problem and "$.spec.mentionedUsers[0]" in problem


def test_an_inline_webhook_that_is_not_a_url_is_refused_without_echoing_it():
    [problem] = problems(receiver("{webhook: {value: 'prod-1.logic.azure.com/workflows/1?sig=s3cr3t'}}"))
    assert "webhook.value is not an http(s) URL" in problem and "s3cr3t" not in problem


def test_a_receiver_without_a_webhook_needs_a_config():
    snapshot = snapshot_from_yaml(receiver("{}"), plugins=[nm_teams])
    assert "no TeamsConfig labelled type: default" in snapshot.skipped["TeamsReceiver/ns/r"]
