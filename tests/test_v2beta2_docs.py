"""Every v2beta2 example of the Go original's documentation loads as written: what it means is understood, and its
mistakes get a located error (never a crash). The examples are copied verbatim into tests/data/original/docs."""

import base64
from pathlib import Path
from typing import Any

import nm_email
import nm_slack
import nm_wechat
import pytest
import yaml

from nmcore import v2beta2
from nmcore.kube.kinds import secret_key_refs
from nmcore.manifests import documents_from_file
from nmcore.schema import SchemaError, structure
from nmcore.sdk import ChannelSpec, hookimpl
from nmcore.snapshot import Document, Snapshot, build_snapshot
from nmcore.testing import ScriptedConfig, ScriptedReceiver, plugin_host

DOCS = Path(__file__).parent / "data" / "original" / "docs"
HOST = plugin_host([nm_email, nm_slack, nm_wechat])


def load(*names: str) -> Snapshot:
    """The examples as written, plus the Secrets they name but do not show (so only their own faults remain)."""
    documents: list[Document] = []
    problems = []
    for name in names:
        found, trouble = documents_from_file(DOCS / name)
        documents += found
        problems += trouble
    shown = {(d.body["metadata"].get("namespace"), d.body["metadata"]["name"]) for d in documents
             if d.body.get("kind") == "Secret"}
    needed: dict[tuple[str, str], set[str]] = {}
    for doc in documents:
        for ref in secret_key_refs(doc.body.get("spec")):
            needed.setdefault((ref.get("namespace", "kubesphere-monitoring-system"), ref["name"]), set()).add(ref["key"])
    for (namespace, name), keys in needed.items():
        if (namespace, name) not in shown:
            documents.append(Document(f"secret-{name}", {
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                "data": {k: base64.b64encode(b"https://example.invalid/" + k.encode()).decode() for k in keys}}))
    return build_snapshot(documents, HOST.channels, problems=problems)


def messages(snapshot: Snapshot) -> list[str]:
    return [f"{p.object}: {p.message}" for p in snapshot.problems]


def test_the_copies_are_the_originals_examples() -> None:
    files = sorted(p.name for p in DOCS.glob("*.yaml"))
    assert len(files) == 25
    assert all((DOCS / f).read_text().startswith("# From kubesphere/notification-manager") for f in files)


@pytest.mark.parametrize(("name", "channel"), [("config-01-dingtalk-config.yaml", "dingtalk"),
                                               ("config-03-feishu-config.yaml", "feishu"),
                                               ("config-04-pushover-config.yaml", "pushover"),
                                               ("config-06-sms-config.yaml", "sms"),
                                               ("receiver-01-dingtalk-receiver.yaml", "dingtalk"),
                                               ("receiver-03-feishu-receiver.yaml", "feishu"),
                                               ("receiver-04-pushover-receiver.yaml", "pushover"),
                                               ("receiver-06-sms-receiver.yaml", "sms"),
                                               ("receiver-10-discord-receiver.yaml", "discord")])
def test_a_block_of_a_channel_not_installed_names_the_plugin_to_install(name: str, channel: str) -> None:
    kind = "Config/default-config" if name.startswith("config") else "Receiver/"
    [problem] = messages(load(name))
    assert problem.startswith(kind)
    assert problem.endswith(f": no plugin provides the {channel!r} channel: pip install nm-{channel} @ $.spec.{channel}")


@pytest.mark.parametrize(("config", "receiver", "channel"), [
    ("config-02-email-config.yaml", "receiver-02-email-receiver.yaml", "email"),
    ("config-05-slack-config.yaml", "receiver-05-slack-receiver.yaml", "slack"),
    ("config-07-wechat-config.yaml", "receiver-08-wechat-receiver.yaml", "wechat"),
])
def test_the_tenant_receiver_examples_send_with_the_default_config_examples(config: str, receiver: str,
                                                                            channel: str) -> None:
    snapshot = load(config, receiver)
    assert messages(snapshot) == []
    target = snapshot.targets[f"Receiver/global-receiver:{channel}"]
    assert (target.channel, target.receiver.scope) == (channel, "tenant")
    assert target.config is not None and target.config.ref == f"Config/default-config:{channel}"
    assert target.config.scope == "default", "its selector names the tenant's configs; there are none, so the default"


def test_what_the_email_examples_say_is_read() -> None:
    target = load("config-02-email-config.yaml", "receiver-02-email-receiver.yaml").targets[
        "Receiver/global-receiver:email"]
    receiver, config = target.receiver.spec, target.config.spec  # type: ignore[union-attr]
    assert receiver.to == ("test@kubesphere.io",) and receiver.tmpl_type == "html"
    assert receiver.alert_selector.match_expressions[0].operator == "DoesNotExist"
    assert receiver.tmpl_text == v2beta2.ConfigmapKeySelector(name="notification-manager-template",
                                                              namespace="kubesphere-monitoring-system")
    assert (config.from_, config.smart_host.port, config.hello, config.require_tls) == (
        "test@kubesphere.io", 25, "hello", True)
    assert config.auth_password.secret_key_ref == v2beta2.SecretKeyRef(
        namespace="kubesphere-monitoring-system", name="default-config-secret", key="password")
    assert target.tenant == "test"


def test_the_webhook_example_gets_a_located_error_for_each_of_its_mistakes() -> None:
    assert messages(load("receiver-07-webhook-receiver.yaml")) == [
        "Receiver/global-receiver: expected an object, got a list @ $.spec.webhook.service",
        "Receiver/global-receiver: expected an object, got a list @ $.spec.webhook.httpConfig",
    ]


def test_the_wechat_chatbot_example_needs_no_config_and_cannot_send_with_its_invalid_secret() -> None:
    snapshot = load("receiver-09-wechat-chatbot.yaml")
    ref = "Receiver/test-wechat-receiver:wechat"
    [receiver] = snapshot.receivers
    assert receiver.scope == "global" and receiver.spec.chatbot.at_users == ("@all", "userid")
    invalid, named, cannot_send = messages(snapshot)
    assert invalid == "Secret/kubesphere-monitoring-federated/wechat-bot-secret: data.test is not valid base64 @ $.data"
    assert named.startswith(f"{ref}: Secret 'wechat-bot-secret' is invalid (see ")
    assert named.endswith("receiver-09-wechat-chatbot.yaml#2) @ $.spec.chatbot.webhook")
    assert cannot_send.startswith(f"{ref}: will not send: Secret 'wechat-bot-secret' is invalid")
    assert ref in snapshot.skipped and ref not in snapshot.targets


def test_the_discord_examples_secret_loads_even_without_the_plugin() -> None:
    snapshot = load("receiver-10-discord-receiver.yaml")
    assert ("kubesphere-monitoring-federated", "discord-secret") in snapshot.secrets.found


@pytest.mark.parametrize("name", ["notification-manager-01-overview.yaml", "sample-notification-manager.yaml"])
def test_the_notification_manager_examples_are_honoured_and_their_deployment_fields_reported_once(name: str) -> None:
    snapshot = load(name)
    [problem] = snapshot.problems
    assert problem.notice and "spec.image" in problem.message and "spec.replicas" in problem.message
    assert problem.message.endswith("do not apply to nmcore (they shape the Go operator's Deployment; nmcore is "
                                    "deployed by its own manifests)")
    settings = snapshot.settings
    assert settings.source == "NotificationManager/notification-manager"
    assert (settings.tenant_key, str(settings.global_selector), str(settings.tenant_selector),
            str(settings.default_config_selector)) == ("user", "type=global", "type=tenant", "type=default")
    assert settings.notification_timeouts["email"] == 5.0 and settings.notification_timeouts["webhook"] == 5.0
    assert settings.batch_max_wait == (0.0 if name.startswith("sample") else 6.0)


def test_the_overview_names_its_cluster() -> None:
    assert load("notification-manager-01-overview.yaml").settings.cluster == "host"


@pytest.mark.parametrize(("name", "expected"), [
    ("router-01-overview.yaml", ["Router/router1: expected an object, got a list @ $.spec.receivers.selector"]),
    ("router-02-examples.yaml", ["Router/router1: required field missing @ $.spec.alertSelector"]),
    ("router-03-examples.yaml", ["Router/router1: names no receiver that can send, so it adds nothing"]),
    ("silence-01-examples.yaml", []),
    ("silence-02-examples.yaml", ["Silence/silence1: '2022-02-29T00:00:00Z' is not an RFC 3339 time such as "
                                  "2024-03-01T22:00:00Z (day is out of range for month) @ $.spec.startsAt"]),
    ("silence-03-examples.yaml", []),
])
def test_router_and_silence_examples_are_read_and_checked(name: str, expected: list[str]) -> None:
    snapshot = load(name)
    assert messages(snapshot) == expected
    errors = [p for p in snapshot.problems if not p.notice]
    assert len(snapshot.routers) + len(snapshot.silences) == (0 if errors else 1)


def test_what_the_router_and_silence_examples_say_is_read() -> None:
    [router] = load("router-03-examples.yaml").routers
    assert router.spec.receivers.name == ("user1",) and router.spec.receivers.type == "email"
    [silence] = load("silence-03-examples.yaml").silences
    assert (silence.spec.schedule, silence.spec.duration, silence.scope) == ("0 22 * * *", "8h", "global")
    assert v2beta2.parse_duration(silence.spec.duration) == 8 * 3600


def credential_fragments() -> list[Any]:
    text = (Path(__file__).parent / "data" / "original" / "credential.md").read_text()
    return [yaml.safe_load(block)["password"] for block in text.split("```yaml\n")[1:]
            for block in [block.split("```")[0]]]


def test_the_credential_examples_are_credentials() -> None:
    by_secret, inline = (structure(fragment, v2beta2.Credential) for fragment in credential_fragments())
    assert by_secret.secret_key_ref == v2beta2.SecretKeyRef(namespace="kubesphere-monitoring-system",
                                                            name="global-receiver-secret", key="secret")
    assert inline.value == "123456" and "123456" not in repr(inline)


@pytest.mark.parametrize(("written", "error"), [
    ({}, "must specify one of: `value` or `valueFrom` @ $"),
    ({"value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
     "valueFrom may not be specified when `value` is not empty @ $"),
    ({"valueFrom": {}}, "valueFrom needs secretKeyRef @ $"),
    ({"valueFrom": {"secretKeyRef": {"name": "s"}}}, "required field missing @ $.valueFrom.secretKeyRef.key"),
])
def test_a_wrong_credential_is_located(written: dict, error: str) -> None:
    with pytest.raises(SchemaError) as caught:
        structure(written, v2beta2.Credential)
    assert caught.value.problems == [error]


class DiscordWithoutBlock:
    """A `discord` channel that declares no v2beta2 block (nm-discord declares one)."""

    @hookimpl
    def nmcore_register_channels(self, register: Any) -> None:
        register(ChannelSpec(name="discord", config_kind="DiscordConfig", receiver_kind="DiscordReceiver",
                             config_schema=ScriptedConfig, receiver_schema=ScriptedReceiver,
                             make_sender=lambda ctx: None))  # type: ignore[arg-type,return-value]


def test_a_block_of_an_installed_channel_without_a_v2beta2_block_says_so() -> None:
    documents, problems = documents_from_file(DOCS / "receiver-10-discord-receiver.yaml")
    snapshot = build_snapshot(documents, plugin_host([DiscordWithoutBlock()]).channels, problems=problems)
    [problem] = [p.message for p in snapshot.problems]
    assert problem.startswith("the installed 'discord' channel (")
    assert problem.endswith("declares no v2beta2 block (ChannelSpec.v2beta2), so nmcore cannot read this one "
                            "@ $.spec.discord")
