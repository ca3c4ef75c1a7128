"""The built-in look, as a new user reads it: nothing they wrote is dropped, nothing is said twice, Chinese stays
Chinese, the test mail is short, and every alert links back to Alertmanager."""

import urllib.parse

import attrs
import pytest

from nmcore.alerts import Alert, Notification
from nmcore.render import DefaultRenderer
from nmcore.resources import ObjectMeta, Resource
from nmcore.snapshot import Target
from nmcore.templatechoice import TemplateSettings
from nmcore.verify import verification_notification


def rendered(*alerts: Alert, language: str = "English", external_url: str = "http://am.example.com:9093"):  # type: ignore[no-untyped-def]
    notification = Notification(receiver="EmailReceiver/ns/ops", channel="email", tenant="", alerts=alerts,
                                external_url=external_url)
    return DefaultRenderer(settings=TemplateSettings(language=language)).render(notification)


def crash(**annotations: str) -> Alert:
    return Alert(labels={"alertname": "KubePodCrashLooping", "namespace": "dev", "pod": "web-1"},
                 annotations=annotations, generator_url="http://prometheus.example.com/graph?g0.expr=up")


def test_runbook_url_and_summary_are_shown_alongside_message() -> None:
    message = rendered(crash(message="Pod dev/web-1 is crash looping", summary="A pod restarts often",
                             runbook_url="https://runbooks.example.com/crash"))
    for body in (message.text, message.markdown, message.html):
        assert "Pod dev/web-1 is crash looping" in body and "A pod restarts often" in body
        assert "https://runbooks.example.com/crash" in body
    assert 'href="https://runbooks.example.com/crash"' in message.html
    assert message.text.count("Pod dev/web-1 is crash looping") == 2, "in the subject line and the alert, not thrice"


def test_the_namespace_is_not_repeated_when_the_message_names_it() -> None:
    assert rendered(crash(message="Pod dev/web-1 is crash looping")).subject == \
        "[FIRING] KubePodCrashLooping: Pod dev/web-1 is crash looping"
    assert rendered(crash(message="Pod web-1 is crash looping")).subject == \
        "[FIRING] KubePodCrashLooping: Pod web-1 is crash looping in dev"
    assert rendered(crash(message="Pod web-1 on device sda is full")).subject.endswith(" in dev"), \
        "'dev' inside 'device' is not the namespace"


@pytest.mark.parametrize("language", ["English", "zh-cn"])
def test_a_chinese_subject_gets_no_english_words(language: str) -> None:
    subject = rendered(crash(summaryCn="容器组 web-1 反复重启"), language=language).subject
    assert " in " not in subject and "容器组 web-1 反复重启" in subject
    assert subject in ("[FIRING] KubePodCrashLooping: 容器组 web-1 反复重启（dev）",
                       "[告警中] KubePodCrashLooping: 容器组 web-1 反复重启（项目 dev）")


def test_zh_cn_with_one_setting_prefers_the_chinese_annotation_and_translates_the_terms() -> None:
    message = rendered(crash(message="Pod web-1 is crash looping", summaryCn="容器组 web-1 反复重启"), language="zh-cn")
    assert message.subject == "[告警中] KubePodCrashLooping: 容器组 web-1 反复重启（项目 dev）"
    assert "项目 = dev" in message.text and "容器组 = web-1" in message.text and "查看来源" in message.text
    assert "消息: Pod web-1 is crash looping" in message.text, "the English message is still shown, as a detail"
    assert '<html lang="zh-CN">' in message.html and "静默此告警" in message.html


def test_the_test_mail_has_a_short_subject_that_says_test() -> None:
    receiver = Resource(kind="EmailReceiver", metadata=ObjectMeta(name="global-email-receiver",
                                                                  namespace="kubesphere-monitoring-system"), spec=None)
    notification = verification_notification(Target(receiver, None, "email"))
    subject = DefaultRenderer().render(notification).subject
    assert subject == "[TEST] nmcore test notification for global-email-receiver" and len(subject) < 70
    zh = DefaultRenderer(settings=TemplateSettings(language="zh-cn")).render(notification).subject
    assert zh == "[测试] nmcore 发给 global-email-receiver 的测试通知"


def test_every_alert_links_back_to_alertmanager_its_source_and_a_silence() -> None:
    alert = crash(message="Pod dev/web-1 is crash looping")
    message = rendered(alert)
    silence = ("http://am.example.com:9093/#/silences/new?filter="
               + urllib.parse.quote('{alertname="KubePodCrashLooping",namespace="dev",pod="web-1"}', safe=""))
    for body in (message.text, message.markdown, message.html):
        assert "http://prometheus.example.com/graph?g0.expr=up" in body
        assert silence in body and "http://am.example.com:9093" in body
    assert f'href="{silence}"' in message.html and '>Silence</a>' in message.html
    assert 'href="http://prometheus.example.com/graph?g0.expr=up"' in message.html
    quiet = rendered(alert, external_url="")
    assert "silences/new" not in quiet.html + quiet.text, "no externalURL, no silence link"


def test_only_http_links_become_links() -> None:
    hostile = attrs.evolve(crash(runbook_url="javascript:alert(1)"), generator_url="javascript:alert(2)")
    html = rendered(hostile).html
    assert 'href="javascript' not in html and "javascript:alert(1)" not in html
