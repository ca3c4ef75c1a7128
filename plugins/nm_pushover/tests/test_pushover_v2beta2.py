"""The v2beta2 `pushover` blocks: the Go original's documentation examples as written, read by the core's
v2beta2 loader with this plugin, every field they set honoured, and a block pushing like the v1alpha1 kinds."""

from pathlib import Path

import nm_pushover
import pytest
import yaml

from nmcore import AlertGroup, Manager
from nmcore.snapshot import Target
from nmcore.testing import alert, snapshot_from_yaml

DOCS = Path(__file__).parent / "docs"
EXAMPLES = "\n---\n".join((DOCS / name).read_text() for name in ("config-v2beta2-pushover.yaml",
                                                                 "receiver-v2beta2-pushover.yaml"))
TARGET = "Receiver/global-receiver:pushover"


def test_the_documentation_examples_load_as_written_and_read_every_field():
    snapshot = snapshot_from_yaml(EXAMPLES, plugins=[nm_pushover])
    # Its only problem is the example's own: the Secret it names (sic "defalut") is not part of it.
    missing = "Secret 'defalut-config-secret' not found in namespace 'kubesphere-monitoring-system'"
    assert [str(p) for p in snapshot.problems] == [
        f"test.yaml#1: Config/default-config:pushover: {missing} @ $.spec.pushoverTokenSecret",
        f"test.yaml#2: {TARGET}: will not send: its config Config/default-config:pushover cannot be used: {missing} "
        "@ $.spec.pushoverTokenSecret"]
    assert TARGET not in snapshot.targets  # it cannot send without that Secret; the rest is read as written
    target = Target(next(r for r in snapshot.receivers if r.ref == TARGET), snapshot.configs[0], "pushover")
    spec = target.receiver.spec
    assert (target.receiver.scope, target.tenant, target.config.ref) == ("tenant", "admin",
                                                                         "Config/default-config:pushover")
    [profile] = spec.profiles
    assert (profile.devices, profile.sound, profile.title) == (("droid2",), "bike", "notification")
    assert (spec.template, spec.title_template, spec.enabled) == ("nm.default.text", "nm.default.subject", True)
    assert spec.config_selector.match_labels == {"type": "tenant", "user": "admin"}
    assert spec.alert_selector.match_expressions[0].operator == "DoesNotExist"
    assert str(target.config.spec.pushover_token_secret) == "Secret 'defalut-config-secret' key 'token'"


@pytest.mark.anyio
async def test_the_examples_blocks_push_once_their_secret_exists(pushover):
    """The example's receiver as a global one (as a tenant's, its alertSelector admits no tenant's alert) without
    its selector of the tenant's configs, its config's apiUrl at the fake, and the Secret it names."""
    config, receiver = yaml.safe_load_all(EXAMPLES)
    config["spec"]["pushover"]["apiUrl"] = f"{pushover.url}/1"
    receiver["metadata"]["labels"] = {"type": "global"}
    del receiver["spec"]["pushover"]["pushoverConfigSelector"]
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "defalut-config-secret", "namespace": "kubesphere-monitoring-system"},
              "stringData": {"token": next(iter(pushover.apps))}}
    async with Manager.from_yaml(yaml.safe_dump_all([config, receiver, secret]), plugins=[nm_pushover]) as manager:
        await manager.submit(AlertGroup(alerts=(alert(alertname="NodeDown", node="n1"),)))
        await manager.drain(timeout=10)
    assert [(o.receiver, o.ok) for o in manager.outcomes] == [(TARGET, True)]
    [push] = pushover.pushes
    assert (push.devices, push.sound) == (["droid2"], "bike") and push.title.startswith("[FIRING] NodeDown")
