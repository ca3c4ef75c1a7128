"""The example plugin, tested with nmcore's test kit against a fake ntfy server over a real socket."""

import re

import nm_ntfy
import pytest

from nmcore import PluginHost
from nmcore.sdk import PermanentError, TransientError
from nmcore.testing import ChannelContract, alert, send_request, snapshot_from_yaml

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
RECEIVER = "NtfyReceiver/monitoring/ops"


def manifests(server: str, topics: str = "[ops-alerts]", token: str = TOKEN) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: ntfy-token, namespace: monitoring}}
stringData: {{token: {token}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: NtfyConfig
metadata: {{name: ntfy, namespace: monitoring, labels: {{type: default}}}}
spec: {{server: "{server}", tokenSecret: {{name: ntfy-token, key: token}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: NtfyReceiver
metadata: {{name: ops, namespace: monitoring, labels: {{type: global}}}}
spec: {{topics: {topics}}}
"""


def request_for(text: str, alerts=()):
    snapshot = snapshot_from_yaml(text, plugins=[nm_ntfy])
    assert snapshot.problems == ()
    return send_request(snapshot, RECEIVER, alerts)


@pytest.mark.anyio
async def test_each_topic_gets_the_notification_titled_tagged_and_prioritised(ntfy, sender):
    await sender.send(request_for(manifests(ntfy.url, "[ops-alerts, ops-private]"), [alert(namespace="demo")]))
    for topic in ("ops-alerts", "ops-private"):
        [message] = ntfy.on(topic)
        assert message["title"] == "[FIRING] TestAlert: something happened in demo"
        assert (message["tags"], message["priority"]) == (["rotating_light"], 4)
        assert "  namespace = demo" in message["message"]


@pytest.mark.anyio
async def test_a_long_notification_is_split_within_4096_bytes_in_order(ntfy, sender):
    alerts = [alert(namespace="demo", pod=f"pod-{i:03d}", note="é" * 100) for i in range(100)]
    await sender.send(request_for(manifests(ntfy.url), alerts))
    messages = [m["message"] for m in ntfy.on("ops-alerts")]
    assert len(messages) > 3 and all(len(m.encode()) <= 4096 for m in messages)
    assert re.findall(r"pod = (pod-\d+)", "\n".join(messages)) == [f"pod-{i:03d}" for i in range(100)]


@pytest.mark.anyio
async def test_the_request_limit_is_transient_and_a_forbidden_topic_permanent(ntfy, sender):
    ntfy.burst = 0
    with pytest.raises(TransientError, match="429: limit reached"):
        await sender.send(request_for(manifests(ntfy.url)))
    ntfy.burst = 60
    with pytest.raises(PermanentError, match=r"403: forbidden: put an access token allowed to publish there into the tokenSecret of NtfyConfig/"):
        await sender.send(request_for(manifests(ntfy.url, "[ops-private]", token="tk_wrong")))


def test_bad_manifests_are_reported_where_they_are():
    text = manifests("ntfy.sh", "['has space']")
    found = [str(p) for p in snapshot_from_yaml(text, plugins=[nm_ntfy]).problems]
    assert any("server must be an http(s) URL" in p and "NtfyConfig/monitoring/ntfy" in p for p in found)
    assert any("topics must name topics" in p and "'has space'" in p and "NtfyReceiver/monitoring/ops" in p
               for p in found)


def test_nmcore_finds_the_installed_plugin_through_its_entry_point(monkeypatch):
    monkeypatch.delenv("NMCORE_PLUGINS", raising=False)
    monkeypatch.delenv("NMCORE_DISABLE_PLUGINS", raising=False)
    assert PluginHost().channels["ntfy"].plugin.distribution == "nm-ntfy"


class TestNtfyContract(ChannelContract):
    """The checks every channel passes, with the kit, against the fake ntfy."""

    plugin = nm_ntfy
    receiver = RECEIVER
    secrets = (TOKEN,)
    unreachable_match = r"ntfy topic ops-alerts at \S+ (unreachable|timed out)"
    unconfigured = manifests("https://ntfy.sh").split("---", 2)[2]
    rate_limits = False  # ntfy's 429 names no wait: the core's backoff applies (checked above: it is transient)

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, ntfy):
        return ntfy
