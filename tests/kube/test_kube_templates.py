"""Templates from ConfigMaps in the cluster: watched live, a broken one posted as an Event on its ConfigMap, and
`nm render --kubernetes` showing what a receiver would get."""

import sys
from pathlib import Path

import anyio
import pytest
from fake_apiserver import FakeApiServer
from kube_helpers import NS, register_channel_kinds, wait_until

from nmcore.alerts import AlertGroup
from nmcore.kube import Backoff, KubernetesSource, kinds_for
from nmcore.manager import Manager
from nmcore.plugins import PluginHost
from nmcore.settings import ManagerSettings
from nmcore.testing import alert, plugin_host
from tests.test_receiver_templates import Mailbox

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]


def templates(**data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ops-templates", "namespace": NS},
            "data": data}


def mailbox_receiver() -> dict:
    return {"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "MailboxReceiver",
            "metadata": {"name": "ops", "namespace": NS, "labels": {"type": "global"}},
            "spec": {"tmplText": {"name": "ops-templates"}}}


async def test_configmap_templates_are_followed_live_and_a_broken_one_is_an_event(apiserver: FakeApiServer,
                                                                                kubeconfig: Path) -> None:
    box = Mailbox()
    host = plugin_host([box])
    register_channel_kinds(apiserver, host)
    apiserver.apply(templates(**{"nm.default.subject": "v1 {{ status }}"}))
    apiserver.apply(mailbox_receiver())
    source = KubernetesSource(kinds_for(host.channels, rolebindings=False), NS, kubeconfig=kubeconfig,
                              debounce=0.05, backoff=Backoff(initial=0.05, cap=0.3))

    async def subject() -> str:
        await manager.submit(AlertGroup(alerts=(alert(namespace="demo"),)))
        await manager.drain(5)
        return box.got["ops"]["subject"]

    settings = ManagerSettings(tenant_resolver="namespace", dedup_window=0)
    async with Manager(source, host=host, settings=settings) as manager:
        await manager.wait_ready(5)
        assert await subject() == "v1 firing"

        apiserver.apply(templates(**{"nm.default.subject": "v2 {{ status | upper }}"}))
        await wait_until(lambda: manager.snapshot.configmaps[(NS, "ops-templates")].data["nm.default.subject"]
                         .startswith("v2"), what="the ConfigMap change")
        assert await subject() == "v2 FIRING"

        apiserver.apply(templates(**{"nm.default.subject": "v3 {{ status | upper }"}))
        await wait_until(lambda: [e for e in apiserver.events(NS) if e["involvedObject"]["kind"] == "ConfigMap"],
                         what="an Event on the broken ConfigMap")
        assert await subject() == "[FIRING] TestAlert: something happened in demo", "the built-in look meanwhile"
    [event] = [e for e in apiserver.events(NS) if e["involvedObject"]["kind"] == "ConfigMap"]
    assert event["involvedObject"]["name"] == "ops-templates" and event["reason"] == "InvalidConfiguration"
    assert event["message"] == (f"ConfigMap {NS}/ops-templates key nm.default.subject, line 1: unexpected '}}'; "
                                "not used")


async def test_nm_render_kubernetes_reads_the_clusters_receivers_and_templates(apiserver: FakeApiServer,
                                                                              kubeconfig: Path) -> None:
    pytest.importorskip("nm_email")
    register_channel_kinds(apiserver, PluginHost())  # with the installed plugins, as `nm render` will load them
    apiserver.apply(templates(**{"ops.subject": "ops: {{ alerts | length }} alerts"}))
    apiserver.apply({"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "EmailReceiver",
                     "metadata": {"name": "ops", "namespace": NS, "labels": {"type": "global"}},
                     "spec": {"to": ["ops@example.com"], "subjectTemplate": "ops.subject",
                              "tmplText": {"name": "ops-templates"}}})
    apiserver.apply({"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": "EmailConfig",
                     "metadata": {"name": "mail", "namespace": NS, "labels": {"type": "default"}},
                     "spec": {"from": "nm@example.com", "smartHost": {"host": "127.0.0.1", "port": 25}}})
    with anyio.fail_after(60):  # the fake API server serves from this event loop: the process must not block it
        shown = await anyio.run_process([sys.executable, "-m", "nmcore", "render", "--kubernetes", "--kubeconfig",
                                         str(kubeconfig), "ops", "--format", "subject"], cwd=REPO, check=False)
    assert (shown.returncode, shown.stdout.decode()) == (0, "ops: 2 alerts\n"), shown.stderr.decode()
