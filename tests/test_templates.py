"""Operators' own templates (`--templates DIR`): used where given, found broken at start-up with file and line,
never the reason an alert is lost (a template failing on a real notification falls back to the built-in look), and
run in a sandbox that a hostile template cannot escape or stall."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from nmcore.alerts import AlertGroup, Notification
from nmcore.manager import Manager
from nmcore.render import SAMPLE, DefaultRenderer, TemplateProblem
from nmcore.templatechoice import TemplateSettings
from nmcore.templating import builtins
from nmcore.testing import ScriptedChannel, alert, scripted_manifests

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[1]


def templates(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.j2").write_text(text)
    return folder


def test_own_templates_replace_only_the_formats_they_name(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", text="{{ alerts | length }} alert(s) for {{ tenant }}")
    rendered, builtin = DefaultRenderer(folder).render(SAMPLE), DefaultRenderer().render(SAMPLE)
    assert rendered.text == "2 alert(s) for alice\n"
    assert (rendered.subject, rendered.markdown, rendered.html) == (builtin.subject, builtin.markdown, builtin.html)


def test_an_own_subject_is_one_line_and_heads_the_builtin_formats(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", subject="{{ status | upper }}\n {{ alerts[0].labels.pod }}\r\nBcc: x")
    rendered = DefaultRenderer(folder).render(SAMPLE)
    assert rendered.subject == "FIRING web-1 Bcc: x", "one line, whatever the template writes"
    assert rendered.text.startswith("FIRING web-1 Bcc: x\n") and "<title>FIRING web-1 Bcc: x</title>" in rendered.html


def test_own_templates_can_build_on_the_builtin_ones(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", markdown='*Cluster prod*\n{% include "nm.default.markdown" %}')
    builtin = DefaultRenderer().render(SAMPLE).markdown
    assert DefaultRenderer(folder).render(SAMPLE).markdown == "*Cluster prod*\n" + builtin


def test_html_templates_are_autoescaped(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", html="<p>{{ alerts[0].labels.pod }}</p>")
    notification = Notification(receiver="r", channel="email", tenant="", alerts=(alert(pod="<script>x</script>"),))
    assert DefaultRenderer(folder).render(notification).html == "<p>&lt;script&gt;x&lt;/script&gt;</p>"


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("text", "line one\n{% for a in alerts %}\n{{ a.status }", "text.j2:3: unexpected '}'"),
    ("subject", "{{ status | tranlsate }}", "subject.j2:1: No filter named 'tranlsate'."),
    ("html", "{{ alerts[0].labels.items() | first | first / 2 }}",
     "html.j2:1: fails on a sample notification: TypeError: unsupported operand type(s) for /: 'str' and 'int'"),
    ("text", "{{ notification.alerts | length }}",
     "text.j2: unknown name 'notification' (a template sees: alerts, common_annotations, common_labels, "
     "external_url, group_labels, is_test, language, message, namespace_suffix, receiver, receiver_name, status, "
     "subject, tenant, translate)"),
])
def test_a_broken_template_is_refused_at_start_with_file_line_and_reason(
        tmp_path: Path, name: str, text: str, problem: str) -> None:
    folder = templates(tmp_path / "t", **{name: text})
    with pytest.raises(TemplateProblem) as raised:
        DefaultRenderer(folder)
    assert str(raised.value) == f"{folder}/{problem}"


async def test_a_template_failing_on_a_real_notification_falls_back_and_the_alert_arrives(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = templates(tmp_path / "t", text='{% if receiver.endswith("/b") %}{{ 1 // 0 }}{% endif %}'
                                            'custom for {{ receiver }}')
    channel = ScriptedChannel()
    async with Manager.from_yaml(scripted_manifests("a", "b"), plugins=[channel], renderer=DefaultRenderer(folder)) as m:
        await m.submit(AlertGroup(alerts=(alert(namespace="demo"),)))
        await m.drain(5)
    texts = dict(channel.texts)
    assert texts["a"] == "custom for ScriptedReceiver/kubesphere-monitoring-system/a\n"
    assert texts["b"].startswith("[FIRING] TestAlert"), "the built-in look, not nothing"
    assert all(o.ok for o in m.outcomes) and len(m.outcomes) == 2
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"template text ({folder}/text.j2) failed on a notification: ZeroDivisionError" in record.getMessage()
    [problem] = m.template_status("ScriptedReceiver/kubesphere-monitoring-system/b")
    assert "ZeroDivisionError: integer division or modulo by zero (line 1); sent with the built-in text" in problem
    assert m.template_status("ScriptedReceiver/kubesphere-monitoring-system/a") == []


def nm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nmcore", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def test_nm_validate_and_nm_run_refuse_a_broken_template_naming_it(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", subject="{{ status | tranlsate }}")
    validate = nm("validate", "examples/quickstart", "--templates", folder)
    assert validate.returncode == 1
    assert validate.stdout.strip() == f"{folder}/subject.j2:1: No filter named 'tranlsate'."
    run = nm("run", "--config-dir", "examples/quickstart", "--no-state", "--listen", "127.0.0.1:0",
             "--templates", folder)
    assert run.returncode == 2 and f"nm run: {folder}/subject.j2:1: No filter named 'tranlsate'." in run.stderr
    assert nm("validate", "examples/quickstart", "--templates", templates(tmp_path / "ok", text="x")).returncode == 0


@pytest.mark.parametrize(("text", "reason"), [
    ('{{ "".__class__.__mro__[1].__subclasses__() }}', "SecurityError: access to attribute '__class__'"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
     "SecurityError: the template loops too much (over 200,000 steps in one message)"),
    ('{{ "x" * 1000000000 }}', "SecurityError: the template repeats a value into more than 100,000 items"),
    ("{{ 9 ** 9999999 }}", "SecurityError: the template raises a number to a power over 64"),
    ('{{ "{:>999999999}".format(1) }}', "SecurityError: the template asks for a format width over 9999"),
    ('{{ "%999999999d" % 1 }}', "SecurityError: the template asks for a format width over 9999"),
])
def test_a_template_cannot_escape_the_sandbox_or_stall_the_process(tmp_path: Path, text: str, reason: str) -> None:
    """Tenants write templates: one must not reach Python's internals, or keep the event loop (and every other
    tenant's messages) busy, or fill the memory. Each is refused when loaded, with the reason."""
    with pytest.raises(TemplateProblem) as raised:
        DefaultRenderer(templates(tmp_path / "t", text=text))
    assert f"text.j2:1: fails on a sample notification: {reason}" in str(raised.value)


def test_the_builtin_templates_are_reachable_by_name(tmp_path: Path) -> None:
    folder = templates(tmp_path / "t", **{"team.text": 'Team A\n{% include "nm.default.text" %}'})
    settings = TemplateSettings(template="team.text")
    rendered = DefaultRenderer(folder, settings=settings).render(SAMPLE)
    builtin = DefaultRenderer().render(SAMPLE)
    assert rendered.text == "Team A\n" + builtin.text
    assert rendered.template_names["text"] == "team.text" and rendered.template_names["html"] == "nm.default.html"
    for name in ("nm.default.subject", "nm.default.text", "nm.default.markdown", "nm.default.html",
                 "nm.default.post"):
        assert name in builtins()
