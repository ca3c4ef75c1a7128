"""The default HTML email as a browser shows it (headless Chromium): it renders, the alert's labels and links are
there, and it fits a phone's width without scrolling sideways, in English and in zh-cn."""

import urllib.parse
from pathlib import Path

import attrs
import pytest

from nmcore.render import SAMPLE, DefaultRenderer
from nmcore.templatechoice import TemplateSettings
from tests.chromium import CHROMIUM, PHONE, Page, dump_dom, ink, layout_width, screenshot

pytestmark = [pytest.mark.chromium,
              pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)")]


def email_html(language: str) -> str:
    return DefaultRenderer(settings=TemplateSettings(language=language)).render(SAMPLE).html


SILENCE = "http://alertmanager.example.com:9093/#/silences/new?filter=" + urllib.parse.quote(
    '{alertname="KubePodCrashLooping",container="app",namespace="team-a",pod="web-1",severity="warning"}', safe="")


@pytest.mark.parametrize(("language", "words"), [
    ("English", {"labels": ["pod", "web-1", "namespace", "team-a", "severity", "warning"], "status": "[FIRING]",
                 "message": "Pod team-a/web-1 (app) is restarting 3 times / 5 minutes.",
                 "links": {"Runbook": "https://runbooks.example.com/KubePodCrashLooping",
                           "Source": "http://prometheus.example.com/graph?g0.expr=kube_pod_restarts",
                           "Silence": SILENCE, "Open Alertmanager": "http://alertmanager.example.com:9093"}}),
    ("zh-cn", {"labels": ["容器组", "web-1", "项目", "team-a", "级别", "warning"], "status": "[告警中]",
               "message": "容器组 team-a/web-1 反复重启。",
               "links": {"处理手册": "https://runbooks.example.com/KubePodCrashLooping",
                         "查看来源": "http://prometheus.example.com/graph?g0.expr=kube_pod_restarts",
                         "静默此告警": SILENCE, "打开 Alertmanager": "http://alertmanager.example.com:9093"}}),
])
def test_the_default_email_renders_with_its_labels_and_links_and_fits_a_phone(
        tmp_path: Path, language: str, words: dict) -> None:  # type: ignore[type-arg]
    document = email_html(language)
    page = Page(dump_dom(document, tmp_path))

    for label in words["labels"]:
        assert label in page.text, f"{label!r} is shown"
    assert words["status"] in page.text and words["message"] in page.text
    for text, href in words["links"].items():
        assert (text, href) in page.links, f"link {text!r}"

    scroll, inner = layout_width(document, tmp_path)
    assert inner == PHONE[0] and scroll <= inner, f"{scroll}px of content in a {inner}px wide phone screen"
    shot = screenshot(document, tmp_path / "email.png", tmp_path)
    assert ink(shot) > 0.05, "the screenshot shows the message, not a blank page"


def test_the_width_check_sees_a_page_that_does_not_fit(tmp_path: Path) -> None:
    """The measurement itself can fail: a long unbreakable value without the built-in's wrapping overflows."""
    wide = "<!doctype html><html><body><table><tr><td style='white-space:nowrap'>" + "x" * 200 + \
        "</td></tr></table></body></html>"
    scroll, inner = layout_width(wide, tmp_path)
    assert scroll > inner == PHONE[0]
    long_value = {**SAMPLE.alerts[0].labels, "image": "registry.example.com/team-a/" + "very-long-name-" * 12 + ":v1"}
    notification = attrs.evolve(SAMPLE, alerts=(attrs.evolve(SAMPLE.alerts[0], labels=long_value),))
    scroll, inner = layout_width(DefaultRenderer().render(notification).html, tmp_path)
    assert scroll <= inner, "the built-in look wraps even a 200-character label value"
