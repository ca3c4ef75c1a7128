"""The PushoverConfig/PushoverReceiver manifests: seed-like examples load, mistakes are reported where they
are, and a user key is never echoed."""

import nm_pushover

from nmcore.testing import snapshot_from_yaml

TENANT = "PushoverReceiver/kubesphere-monitoring-system/test-user-pushover"
GLOBAL = "PushoverReceiver/kubesphere-monitoring-system/global-pushover"


def receiver(spec: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverReceiver
metadata: {{name: r, namespace: ns, labels: {{type: global}}}}
spec: {spec}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_pushover]).problems]


def test_the_seed_like_manifests_load_and_pick_their_configs(seed):
    snapshot = snapshot_from_yaml(seed("https://pushover.example"), plugins=[nm_pushover])
    assert snapshot.problems == ()
    tenant = snapshot.targets[TENANT]
    assert tenant.config.name == "test-user-config" and tenant.config.spec.api_url == "https://pushover.example/1"
    [profile] = tenant.receiver.spec.profiles
    assert (profile.devices, profile.sound) == (("droid2",), "bike")
    assert snapshot.targets[GLOBAL].config.name == "default-pushover-config"


def test_api_url_defaults_to_pushover():
    [config] = snapshot_from_yaml("""
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverConfig
metadata: {name: c, namespace: ns, labels: {type: default}}
spec: {pushoverTokenSecret: {name: s, key: token}}
""", plugins=[nm_pushover]).configs
    assert config.spec.api_url == "https://api.pushover.net/1"


def test_a_bad_user_key_is_located_without_echoing_it():
    [problem] = problems(receiver("{profiles: [{userKey: uQiRzpo4DXghDmr9QzzfQu27cmVRsG}, {userKey: short-Secret-42}]}"))
    assert "PushoverReceiver/ns/r" in problem and "@ $.spec.profiles[1]" in problem
    assert "userKey is not a Pushover user or group key" in problem and "short-Secret-42" not in problem


def test_profiles_and_device_names_are_checked():
    [problem] = problems(receiver("{profiles: []}"))
    assert "profiles must hold at least one user profile" in problem
    [problem] = problems(receiver("{profiles: [{userKey: uQiRzpo4DXghDmr9QzzfQu27cmVRsG, devices: ['my phone']}]}"))
    assert "devices holds 'my phone': up to 25 letters, digits, _ or -" in problem and "$.spec.profiles[0]" in problem
    [problem] = problems(receiver("{profiles: [{userKey: uQiRzpo4DXghDmr9QzzfQu27cmVRsG, device: droid2}]}"))
    assert "unknown field 'device' (did you mean 'devices'?) @ $.spec.profiles[0]" in problem


def test_a_receiver_without_any_config_cannot_send():
    snapshot = snapshot_from_yaml(receiver("{profiles: [{userKey: uQiRzpo4DXghDmr9QzzfQu27cmVRsG}]}"),
                                  plugins=[nm_pushover])
    assert "no PushoverConfig labelled type: default" in snapshot.skipped["PushoverReceiver/ns/r"]
