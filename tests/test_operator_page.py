"""The operator's page in a real browser (Debian's headless Chromium, through tests/chromium.py): a failing
receiver is listed with its reason, the redrive button clicked moves a dead letter back to pending and it is
delivered, and the explain form shows routing's answer."""

import urllib.parse
from pathlib import Path

import anyio
import pytest

from nmcore.alerts import Alert, AlertGroup
from nmcore.delivery import RetryPolicy
from nmcore.manager import Manager
from nmcore.server import create_app
from nmcore.settings import ManagerSettings
from nmcore.testing import ScriptedChannel, scripted_manifests
from tests.chromium import CHROMIUM, browser
from tests.support import serving_app

pytestmark = [pytest.mark.anyio,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (.ci/run installs Debian's chromium)")]

UNSENDABLE = """---
apiVersion: notification.kubesphere.io/v1alpha1
kind: ScriptedReceiver
metadata: {name: orphan, labels: {type: tenant}}
spec: {}
"""


async def browse(url: str, profile: Path) -> str:
    """The page's DOM as Chromium rendered it (headless, --dump-dom), run off the event loop serving it."""
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--dump-dom", url]
    done = await anyio.run_process(command, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


async def test_the_page_shows_failures_redrives_and_explains(tmp_path: Path) -> None:
    channel = ScriptedChannel()
    channel.scripts["broken"] = ["permanent"]
    settings = ManagerSettings(dedup_window=0, retry=RetryPolicy(initial_delay=0.01, jitter=0))
    async with Manager.from_yaml(scripted_manifests("broken", "fine") + UNSENDABLE, plugins=[channel],
                                 settings=settings) as manager:
        await manager.submit(AlertGroup(alerts=(Alert(labels={"alertname": "DiskFull"}),)))
        await manager.drain(10)
        async with serving_app(create_app(manager)) as base:
            dom = await browse(f"{base}/ui", tmp_path / "p1")
            receivers = dom.split('id="receivers"')[1].split("</table>")[0]
            orphan = receivers.split("orphan")[1].split("</tr>")[0]
            assert "no: labelled type: tenant but has no user label" in orphan
            dead = await manager.store.dead_letters()
            assert len(dead) == 1 and f'id="redrive-{dead[0].job.id}"' in dom
            assert "DiskFull [firing]" in dom and "dead" in dom.split('id="history"')[1]

            form = dom.split(f'id="redrive-{dead[0].job.id}"')[0].rsplit("<form", 1)[1]
            assert 'method="post"' in form and 'action="/ui/redrive"' in form

            # The explain form is a GET: its URL is what the browser submits.
            query = urllib.parse.urlencode({"labels": "alertname=DiskFull namespace=demo", "status": "firing"})
            explained = await browse(f"{base}/ui?{query}", tmp_path / "p3")
            section = explained.split('id="explained"')[1]
            assert "ScriptedReceiver/kubesphere-monitoring-system/fine" in section and "yes" in section
            assert "orphan" in section and "no: receiver cannot send" in section
            escaped = await browse(f"{base}/ui?labels=alertname%3D%3Cscript%3Ex", tmp_path / "p4")
            assert "<script>x" not in escaped



async def test_the_redrive_button_clicked_in_chromium_delivers_the_dead_letter(tmp_path: Path) -> None:
    channel = ScriptedChannel()
    channel.scripts["broken"] = ["permanent"]  # once: the re-driven delivery goes through
    settings = ManagerSettings(dedup_window=0, retry=RetryPolicy(initial_delay=0.01, jitter=0))
    async with Manager.from_yaml(scripted_manifests("broken", "fine"), plugins=[channel],
                                 settings=settings) as manager:
        await manager.submit(AlertGroup(alerts=(Alert(labels={"alertname": "DiskFull"}),)))
        await manager.drain(10)
        [letter] = await manager.store.dead_letters()
        async with serving_app(create_app(manager)) as base, browser(tmp_path / "profile") as tab:
            await tab.open(f"{base}/ui")
            assert f"redrive-{letter.job.id}" in await tab.dom()
            await tab.click(f"#redrive-{letter.job.id}")
            assert (await tab.location()).startswith(f"{base}/ui?message=")
            page = await tab.dom()
            assert "1 dead letter(s) moved back to pending" in page
            with anyio.fail_after(10):
                while "broken" not in [name for name, _, _ in channel.sent]:
                    await anyio.sleep(0.01)
                await manager.drain()
            assert await manager.store.dead_letters() == []
            await tab.open(f"{base}/ui")
            assert f"redrive-{letter.job.id}" not in await tab.dom(), "no longer a dead letter on the page"
