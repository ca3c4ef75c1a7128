"""The EmailConfig/EmailReceiver manifests: the seed's load as written, mistakes are located and explained."""

import nm_email
import pytest
from nm_email import EmailConfigSpec, EmailReceiverSpec, SmartHost

from nmcore.sdk import SecretKeySelector
from nmcore.testing import snapshot_from_yaml

CONFIG = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {{name: c, labels: {{type: default}}}}
spec:
  from: nm@xyz.com
  smartHost: {{host: mail.xyz.com, port: 587}}
{extra}
"""
RECEIVER = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {{name: r, labels: {{type: global}}}}
spec:
{spec}
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in snapshot_from_yaml(text, plugins=[nm_email]).problems]


def test_the_seed_manifests_load_as_written(seed):
    snapshot = snapshot_from_yaml(seed(25, host="imap.xyz.com"), plugins=[nm_email])
    assert snapshot.problems == ()
    target = snapshot.targets["EmailReceiver/kubesphere-monitoring-system/test-user-receiver"]
    config: EmailConfigSpec = target.config.spec
    assert target.config.name == "test-user-config"
    assert config.smart_host == SmartHost(host="imap.xyz.com", port=25)  # port "25" was a string
    assert config.require_tls is True
    assert config.from_ == "abc1@xyz.com"
    assert config.auth_username == "abc1"
    assert config.auth_password == SecretKeySelector(name="test-user-email-secret", key="password")
    receiver: EmailReceiverSpec = target.receiver.spec
    assert receiver.to == ("abc2@xyz.com", "abc3@xyz.com")
    global_target = snapshot.targets["EmailReceiver/kubesphere-monitoring-system/global-email-receiver"]
    assert global_target.config.name == "default-email-config"


def test_every_field_of_the_config_is_read():
    extra = """  hello: nm.xyz.com
  authUsername: nm
  authIdentify: admin
  authPassword: {name: s, key: password}
  authSecret: {name: s, key: cram}
  requireTLS: true
  tls:
    rootCA: {value: "-----BEGIN CERTIFICATE-----"}
    serverName: mail.internal
    insecureSkipVerify: false
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {password: pw, cram: cr}
"""
    snapshot = snapshot_from_yaml(CONFIG.format(extra=extra), plugins=[nm_email])
    assert snapshot.problems == ()
    spec: EmailConfigSpec = snapshot.configs[0].spec
    assert (spec.hello, spec.auth_identify, spec.auth_secret.key, spec.tls.server_name) == (
        "nm.xyz.com", "admin", "cram", "mail.internal")


@pytest.mark.parametrize(("extra", "expected"), [
    ("  requireTls: true", "unknown field 'requireTls' (did you mean 'requireTLS'?) @ $.spec"),
    ("  authPassword: {name: missing, key: password}\n  authUsername: u", "Secret 'missing' not found"),
    ("  authPassword: {name: s, key: password}", "authUsername is empty"),
    ("  hello: two words", "must be one host name"),
])
def test_config_mistakes_are_located(extra, expected):
    found = problems(CONFIG.format(extra=extra))
    assert any(expected in line and "EmailConfig/kubesphere-monitoring-system/c:" in line for line in found), found


@pytest.mark.parametrize(("smart_host", "expected"), [
    ("{host: mail.xyz.com, port: smtp}", "expected an integer, got the string 'smtp' @ $.spec.smartHost.port"),
    ("{host: mail.xyz.com, port: 70000}", "not a TCP port"),
    ("{port: 25}", "required field missing @ $.spec.smartHost.host"),
])
def test_smart_host_mistakes_are_located(smart_host, expected):
    text = CONFIG.format(extra="").replace("{host: mail.xyz.com, port: 587}", smart_host)
    assert any(expected in line for line in problems(text)), problems(text)


@pytest.mark.parametrize(("spec", "expected"), [
    ("  to: []", "to must list at least one address"),
    ("  emailConfigSelector: {}", "required field missing @ $.spec.to"),
    ("  to: [ops@xyz.com, not-an-address]", "to[1]: 'not-an-address' is not an email address"),
    ("  to: ['a@xyz.com, b@xyz.com']", "is not one email address"),
    ("  to: [\"ops@xyz.com\\r\\nBcc: evil@x.com\"]", "contains a line break"),
])
def test_receiver_mistakes_are_located(spec, expected):
    found = problems(CONFIG.format(extra="") + "---" + RECEIVER.format(spec=spec))
    assert any(expected in line and "EmailReceiver/kubesphere-monitoring-system/r:" in line for line in found), found


def test_a_receiver_may_give_display_names_in_any_script():
    text = CONFIG.format(extra="") + "---" + RECEIVER.format(spec="  to: ['张三 <zhang@xyz.com>', ops@xyz.com]")
    assert problems(text) == []


def test_a_missing_password_secret_means_the_receiver_cannot_send_and_names_the_field():
    text = (CONFIG.format(extra="  authUsername: nm\n  authPassword: {name: smtp, key: password}")
            + "---" + RECEIVER.format(spec="  to: [ops@xyz.com]"))
    snapshot = snapshot_from_yaml(text, plugins=[nm_email])
    receiver = "EmailReceiver/kubesphere-monitoring-system/r"
    assert receiver not in snapshot.targets
    assert snapshot.skipped[receiver] == (
        "its config EmailConfig/kubesphere-monitoring-system/c cannot be used: Secret 'smtp' not found in namespace "
        "'kubesphere-monitoring-system' @ $.spec.authPassword")
