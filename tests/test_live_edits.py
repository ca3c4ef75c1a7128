"""Editing the config folder of a running nm never leaves accepted alerts without their receivers: a file
rewritten in place (truncate, pause, write: `kubectl get ... > file`), an object that stops validating mid-edit,
and yet a real deletion still takes effect, after the removal delay."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest

from nmcore.manager import Manager
from nmcore.snapshot import Snapshot
from nmcore.sources import FolderSource
from nmcore.testing import plugin_host
from tests.conftest import WebhookSink
from tests.support import Nm, wait_for

NS = "kubesphere-monitoring-system"
HOOK = f"WebhookReceiver/{NS}/hook"


def receivers(url: str, *, extra: str = "") -> str:
    return f"""\
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: hook, labels: {{type: global}}}}
spec: {{url: "{url}"{extra}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: second, labels: {{type: global}}}}
spec: {{webhookConfigSelector: {{matchLabels: {{name: relay}}}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata: {{name: relay, labels: {{type: default, name: relay}}}}
spec: {{url: "{url}"}}
"""


@pytest.mark.parametrize("pause", [0.3, 1.5])
def test_a_file_rewritten_in_place_loses_no_alert_answered_200(tmp_path: Path, sink: WebhookSink, nm,  # type: ignore[no-untyped-def]
                                                               pause: float) -> None:
    config = tmp_path / "config"
    config.mkdir()
    manifest = config / "receivers.yaml"
    manifest.write_text(receivers(sink.url("hook")))
    server: Nm = nm(config, tmp_path / "state")
    accepted: list[str] = []

    def post(name: str) -> None:
        reply = httpx.post(f"{server.url}/api/v2/alerts", json=[{"labels": {"alertname": name}}], timeout=10)
        assert reply.status_code == 200
        accepted.append(name)

    post("Before")
    with manifest.open("w") as rewriting:  # the shell truncates the file, then the writer takes its time
        rewriting.flush()
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:
            post(f"During{len(accepted)}")
            time.sleep(0.05)
        rewriting.write(receivers(sink.url("hook")))
    post("After")
    expected = sorted(accepted)
    wait_for(lambda: sorted(a["labels"]["alertname"] for a in sink.alerts_by_path().get("/hook", [])) ==
             sorted(expected * 2), f"every accepted alert at both receivers ({len(expected)} each)")


async def reloaded(manager: Manager, condition: Callable[[Snapshot], bool], what: str) -> Snapshot:
    with anyio.fail_after(20):
        while not condition(manager.snapshot):
            await anyio.sleep(0.02)
    return manager.snapshot


@pytest.mark.anyio
async def test_an_object_that_stops_validating_keeps_its_last_good_version_and_the_log_names_who(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifest = tmp_path / "receivers.yaml"
    manifest.write_text(receivers("http://127.0.0.1:9/v1"))
    async with Manager(FolderSource(tmp_path, settle=0.05), host=plugin_host()) as manager:
        await manager.wait_ready(5)
        half_edited = receivers("http://127.0.0.1:9/v2", extra=", urll: typo").split("---")
        half_edited[2] = half_edited[2].replace('url: "http://127.0.0.1:9/v2"', "url: [http://127.0.0.1:9/v2]")
        manifest.write_text("---".join(half_edited))
        broken = await reloaded(manager, lambda s: bool(s.problems), "the broken edit")
        assert broken.targets[HOOK].receiver.spec.url == "http://127.0.0.1:9/v1", "the receiver kept its good version"
        assert broken.targets[f"WebhookReceiver/{NS}/second"].config.spec.url == "http://127.0.0.1:9/v1"
        messages = sorted(p.message for p in broken.problems)
        assert messages == [
            "expected a string, got a list @ $.spec.url; its last good version stays in force (receivers "
            f"affected: WebhookReceiver/{NS}/second)",
            f"unknown field 'urll' (did you mean 'url'?) @ $.spec; its last good version stays in force (receivers "
            f"affected: {HOOK})"]
        assert f"its last good version stays in force (receivers affected: {HOOK})" in caplog.text

        manifest.write_text(receivers("http://127.0.0.1:9/v3"))
        fixed = await reloaded(manager, lambda s: not s.problems, "the fixed edit")
        assert fixed.targets[HOOK].receiver.spec.url == "http://127.0.0.1:9/v3"


@pytest.mark.anyio
async def test_a_real_deletion_still_takes_effect_once_the_file_has_settled(tmp_path: Path) -> None:
    manifest = tmp_path / "receivers.yaml"
    manifest.write_text(receivers("http://127.0.0.1:9/"))
    (tmp_path / "other.yaml").write_text(receivers("http://127.0.0.1:9/").split("---")[0].replace("name: hook", "name: other"))
    async with Manager(FolderSource(tmp_path, settle=0.05, removal_delay=1.0), host=plugin_host()) as manager:
        await manager.wait_ready(5)
        first = manager.snapshot
        manifest.write_text(receivers("http://127.0.0.1:9/").split("---")[0])  # "second" and its config removed
        (tmp_path / "other.yaml").unlink()
        kept = await reloaded(manager, lambda s: s is not first, "the edit noticed")
        assert {HOOK, f"WebhookReceiver/{NS}/second", f"WebhookReceiver/{NS}/other"} <= set(kept.targets), (
            "not yet: it might be a partial write")
        gone = await reloaded(manager, lambda s: set(s.targets) == {HOOK}, "the removals applied")
        assert gone.configs == ()


def test_folder_source_logs_what_it_keeps_and_what_it_removes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="nmcore.sources")
    manifest = tmp_path / "receivers.yaml"
    manifest.write_text(receivers("http://127.0.0.1:9/"))
    source = FolderSource(tmp_path, removal_delay=10)
    assert len(source.load(now=100.0)[0]) == 3
    manifest.write_text("")
    assert len(source.load(now=101.0)[0]) == 3, "an emptied file takes nothing away at once"
    assert f"WebhookReceiver//hook is no longer in {manifest}: kept until the file has been unchanged for 10s" in (
        caplog.text)
    assert len(source.load(now=110.5)[0]) == 3
    assert source.load(now=111.0)[0] == [], "unchanged for 10 s: now it is a removal"
    assert f"WebhookReceiver//hook removed: gone from {manifest} for 10s" in caplog.text
