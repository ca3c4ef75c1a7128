"""The channel contract suite (nmcore.testing.ChannelContract) against the fake Teams Workflows webhook:
each text is a whole request body, which is what Teams' 28 KB limit measures."""

import nm_teams
import pytest

from nmcore.testing import ChannelContract

WORKFLOW, SIG = "b840a60a611b4d3287be6d76fe1930e2", "Kx9-uQm3Zs0_never-show-this-sig"


def manifests(base_url: str) -> str:
    url = (f"{base_url}/powerautomate/automations/direct/workflows/{WORKFLOW}/triggers/manual/paths/invoke"
           f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}")
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: teams}}
stringData: {{webhook: "{url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{webhook: {{valueFrom: {{secretKeyRef: {{name: teams, key: webhook}}}}}}}}
"""


class TestTeamsContract(ChannelContract):
    plugin = nm_teams
    receiver = "TeamsReceiver/kubesphere-monitoring-system/ops"
    secrets = (SIG,)
    unreachable_match = r"the Teams Workflows webhook of TeamsReceiver/\S+ (unreachable|timed out)"
    unconfigured = """
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsReceiver
metadata: {name: ops, labels: {type: global}}
spec: {}
"""

    def manifests(self, url: str) -> str:
        return manifests(url)

    @pytest.fixture
    def service(self, teams):
        return teams
