"""Operators' own templates: used where given, found broken at start-up with file and line, and never the reason
an alert is lost (a template failing on a real notification falls back to the built-in look)."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from nmcore.alerts import AlertGroup, Notification
from nmcore.manager import Manager
from nmcore.render import SAMPLE, DefaultRenderer, TemplateProblem
from nmcore.testing import ScriptedChannel, alert, scripted_manifests

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]


def templates(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.j2").write_text(text)
    return folder


def test_own_templates_replace_only_the_formats_they_name(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", text="{{ notification.alerts | length }} alert(s) for {{ notification.tenant }}")
    rendered, builtin = DefaultRenderer(folder).render(SAMPLE), DefaultRenderer().render(SAMPLE)
    assert rendered.text == "2 alert(s) for alice\n"
    assert (rendered.subject, rendered.markdown, rendered.html) == (builtin.subject, builtin.markdown, builtin.html)


def test_an_own_subject_is_one_line_and_heads_the_builtin_formats(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", subject="{{ notification.status | upper }}\n {{ notification.alerts[0].labels.pod "
                                               "}}\r\nBcc: x")
    rendered = DefaultRenderer(folder).render(SAMPLE)
    assert rendered.subject == "FIRING web-1 Bcc: x", "one line, whatever the template writes"
    assert rendered.text.startswith("FIRING web-1 Bcc: x\n") and "<title>FIRING web-1 Bcc: x</title>" in rendered.html


def test_own_templates_can_build_on_the_builtin_ones(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", markdown='*Cluster prod*\n{% include "default/markdown.j2" %}')
    builtin = DefaultRenderer().render(SAMPLE).markdown
    assert DefaultRenderer(folder).render(SAMPLE).markdown == "*Cluster prod*\n" + builtin


def test_html_templates_are_autoescaped(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", html="<p>{{ notification.alerts[0].labels.pod }}</p>")
    notification = Notification(receiver="r", channel="email", tenant="", alerts=(alert(pod="<script>x</script>"),))
    assert DefaultRenderer(folder).render(notification).html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("text", "line one\n{% for a in notification.alerts %}\n{{ a.status }", "text.j2:3: unexpected '}'"),
    ("subject", "{{ notification.status | translate }}", "subject.j2:1: No filter named 'translate'."),
    ("html", "{{ notification.alerts[0].labels.items() | first | first / 2 }}",
     "html.j2: fails on a sample notification: TypeError: unsupported operand type(s) for /: 'str' and 'int' "
     "(line 1)"),
])
def test_a_broken_template_is_refused_at_start_with_file_line_and_reason(
        tmp_path: Path, name: str, text: str, problem: str) -> None:
    folder = templates(tmp_path / "t", **{name: text})
    with pytest.raises(TemplateProblem) as raised:
        DefaultRenderer(folder)
    assert str(raised.value) == f"{folder}/{problem}"


async def test_a_template_failing_on_a_real_notification_falls_back_and_the_alert_arrives(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = templates(tmp_path / "t", text='{% if notification.receiver.endswith("/b") %}{{ 1 // 0 }}{% endif %}'
                                            'custom for {{ notification.receiver }}')
    channel = ScriptedChannel()
    async with Manager.from_yaml(scripted_manifests("a", "b"), plugins=[channel], renderer=DefaultRenderer(folder)) as m:
        await m.submit(AlertGroup(alerts=(alert(namespace="demo"),)))
        await m.drain(5)
    texts = dict(channel.texts)
    assert texts["a"] == "custom for ScriptedReceiver/kubesphere-monitoring-system/a\n"
    assert texts["b"].startswith("[FIRING] TestAlert"), "the built-in look, not nothing"
    assert all(o.ok for o in m.outcomes) and len(m.outcomes) == 2
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "text.j2 failed for ScriptedReceiver/kubesphere-monitoring-system/b (ZeroDivisionError" in record.message


def nm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def test_nm_validate_and_nm_run_refuse_a_broken_template_naming_it(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", subject="{{ notification.status | translate }}")
    validate = nm("validate", "examples/quickstart", "--templates", folder)
    assert validate.returncode == 1
    assert validate.stdout.strip() == f"{folder}/subject.j2:1: No filter named 'translate'."
    run = nm("run", "--config-dir", "examples/quickstart", "--no-state", "--listen", "127.0.0.1:0",
             "--templates", folder)
    assert run.returncode == 2 and f"nm run: {folder}/subject.j2:1: No filter named 'translate'." in run.stderr
    assert nm("validate", "examples/quickstart", "--templates", templates(tmp_path / "ok", text="x")).returncode == 0
