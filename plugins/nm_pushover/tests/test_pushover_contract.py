"""The channel contract suite (nmcore.testing.ChannelContract) against the fake Pushover messages API."""

import nm_pushover
import pytest

from nmcore.testing import ChannelContract

TOKEN = "aContractAppTokenNeverShown042"
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"


def manifests(api_url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: pushover}}
stringData: {{token: {TOKEN}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverConfig
metadata: {{name: default, labels: {{type: default}}}}
spec: {{pushoverTokenSecret: {{name: pushover, key: token}}, apiUrl: "{api_url}/1"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: PushoverReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{profiles: [{{userKey: {USER}, devices: [droid2], sound: bike}}]}}
"""


class TestPushoverContract(ChannelContract):
    plugin = nm_pushover
    receiver = "PushoverReceiver/kubesphere-monitoring-system/ops"
    secrets = (TOKEN, USER)  # a user key addresses a person's phone: kept out of everything as well
    unreachable_match = r"Pushover for profile 1 of PushoverReceiver/\S+ (unreachable|timed out)"
    unconfigured = manifests("https://api.pushover.net").split("---", 2)[2]

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, pushover):
        pushover.apps[TOKEN] = 10_000
        return pushover
