"""Per-receiver templates from ConfigMaps: the Go original's precedence, a tenant's look for that tenant only,
broken templates refused with their ConfigMap, key and line, and the receiver's status saying what it uses."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import attrs
import httpx
import pytest

from nmcore.alerts import AlertGroup
from nmcore.manager import Manager
from nmcore.resources import ConfigMapKeySelector
from nmcore.sdk import ChannelSpec, ReceiverTemplates, SendRequest, hookimpl
from nmcore.server import create_app
from nmcore.templatechoice import ChannelTemplateOptions, TemplateSettings, choose
from nmcore.testing import alert
from tests.support import serving_app

pytestmark = pytest.mark.anyio
NS = "kubesphere-monitoring-system"


@attrs.frozen(kw_only=True)
class MailboxConfig:
    pass


@attrs.frozen(kw_only=True)
class MailboxReceiver(ReceiverTemplates):
    subject_template: str | None = None
    title_template: str | None = None
    tmpl_type: Literal["html", "text"] | None = None


class Mailbox:
    """A channel like email (subject, text and html; template renders html by default) that keeps what it got."""

    def __init__(self) -> None:
        self.got: dict[str, dict[str, str]] = {}

    @hookimpl
    def nmcore_register_channels(self, register):  # type: ignore[no-untyped-def]
        register(ChannelSpec(name="mailbox", config_kind="MailboxConfig", receiver_kind="MailboxReceiver",
                             config_schema=MailboxConfig, receiver_schema=MailboxReceiver, make_sender=lambda _: self,
                             config_required=lambda _: False, body_format="html"))

    async def send(self, request: SendRequest) -> None:
        m = request.message
        self.got[request.receiver.name] = {"subject": m.subject, "title": m.title, "text": m.text, "html": m.html}

    async def aclose(self) -> None:
        pass


def tenant(user: str, namespace: str, spec: str = "{}") -> str:
    return f"""---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {user}-view, namespace: {namespace}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}}
subjects: [{{kind: User, name: {user}}}]
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: MailboxReceiver
metadata: {{name: {user}, labels: {{type: tenant, user: {user}}}}}
spec: {spec}
"""


def configmap(name: str, **data: str) -> str:
    body = "".join(f"  {key}: |\n" + "".join(f"    {line}\n" for line in text.splitlines()) for key, text in data.items())
    return f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata:\n{body}"


ALICE_TEMPLATES = configmap(
    "alice-templates",
    **{"nm.default.subject": "Team A: {{ alerts | length }} alert(s) {{ status }}",
       "team-a.html": "<h1>{{ subject }}</h1>{% for a in alerts %}<p>{{ a.labels.pod }}: {{ a.message }}</p>{% endfor %}"})


async def deliver(manifests: str, *alerts: Any, **options: Any) -> tuple[Mailbox, Manager]:
    box = Mailbox()
    async with Manager.from_yaml(manifests, plugins=[box], **options) as manager:
        await manager.submit(AlertGroup(alerts=alerts, external_url="http://am.example.com"))
        await manager.drain(5)
    assert all(o.ok for o in manager.outcomes)
    return box, manager


async def test_a_tenants_own_templates_change_only_that_tenants_messages() -> None:
    alice = "{template: team-a.html, tmplText: {name: alice-templates}}"
    manifests = ALICE_TEMPLATES + tenant("alice", "shared", alice) + tenant("bob", "shared")
    box, _ = await deliver(manifests, alert(namespace="shared", pod="web-1"))

    assert box.got["alice"]["subject"] == "Team A: 1 alert(s) firing", "her ConfigMap's nm.default.subject"
    assert box.got["alice"]["html"] == "<h1>Team A: 1 alert(s) firing</h1><p>web-1: something happened</p>"
    assert box.got["alice"]["text"].startswith("Team A: 1 alert(s) firing\n\n[FIRING] TestAlert"), \
        "formats she did not change keep the built-in look, under her subject"
    assert box.got["bob"]["subject"] == "[FIRING] TestAlert: something happened in shared", "bob: the built-in look"
    assert "Team A" not in box.got["bob"]["html"] and "<!doctype html>" in box.got["bob"]["html"]


async def test_a_receiver_picks_templates_by_name_and_type_and_language() -> None:
    spec = ('{template: nm.default.markdown, tmplType: text, subjectTemplate: "[{{ status | translate }}] '
            '{{ alerts[0].labels.pod }}", titleTemplate: short.title, tmplText: {name: t, key: short.title}, '
            'language: zh-cn}')
    box, _ = await deliver(configmap("t", **{"short.title": "{{ alerts | length }}!"}) + tenant("carol", "ns", spec),
                           alert(namespace="ns", pod="db-0"))
    got = box.got["carol"]
    assert got["subject"] == "[告警中] db-0" and got["title"] == "1!"
    assert got["text"].startswith("**[告警中] db-0**\n\n**[告警中] TestAlert**"), "tmplType text: template renders text"
    assert "容器组: `db-0`" in got["text"]


def test_precedence_is_receiver_then_channel_options_then_global_then_builtin() -> None:
    settings = TemplateSettings(template="global.body", formats={"subject": "global.subject"}, channels={
        "email": ChannelTemplateOptions(template="email.body", subject_template="email.subject")})
    own = MailboxReceiver(template="own.body", subject_template="own.subject", tmpl_type="text",
                          tmpl_text=ConfigMapKeySelector(name="cm"))

    assert choose(own, "email", "html", settings).names == {
        "subject": "own.subject", "title": "own.subject", "text": "own.body", "markdown": "nm.default.markdown",
        "html": "nm.default.html", "post": "nm.default.post"}
    bare = MailboxReceiver()
    chosen = choose(bare, "email", "html", settings)
    assert (chosen.names["subject"], chosen.names["html"], chosen.names["text"]) == (
        "email.subject", "email.body", "nm.default.text")
    assert chosen.fields["html"] == "options.email.template"
    chosen = choose(bare, "wechat", "markdown", settings)
    assert (chosen.names["subject"], chosen.names["markdown"]) == ("global.subject", "global.body")
    chosen = choose(bare, "wechat", "markdown", TemplateSettings())
    assert chosen.names["markdown"] == "nm.default.markdown" and chosen.fields["markdown"] == "built-in"
    assert chosen.language == "English" and choose(MailboxReceiver(language="zh-cn"), "x", "text", settings).language \
        == "zh-cn"


@attrs.frozen
class Served:
    manager: Manager
    url: str


@asynccontextmanager
async def serving(manager: Manager) -> AsyncIterator[Served]:
    async with manager, serving_app(create_app(manager)) as url:
        yield Served(manager, url)


async def status_of(url: str, receiver: str) -> list[str]:
    async with httpx.AsyncClient(base_url=url) as client:
        status = (await client.get("/api/v2/status")).json()
    [entry] = [r for r in status["receivers"] if r["receiver"] == receiver]
    return entry["template_problems"]  # type: ignore[no-any-return]


async def test_a_template_that_does_not_compile_is_refused_with_its_configmap_key_and_line() -> None:
    broken = configmap("alice-templates", **{"nm.default.subject": "fine {{ status }}",
                                             "nm.default.html": "<p>\n{% for a in alerts %}\n{{ a.labels.pod }\n"})
    manifests = broken + tenant("alice", "team-a", "{tmplText: {name: alice-templates}}")
    box = Mailbox()
    async with serving(Manager.from_yaml(manifests, plugins=[box])) as served:
        problems = [p for p in served.manager.snapshot.problems if p.object.startswith("ConfigMap/")]
        assert [(p.origin, p.object, p.message) for p in problems] == [(
            "inline.yaml#1", f"ConfigMap/{NS}/alice-templates",
            f"ConfigMap {NS}/alice-templates key nm.default.html, line 3: unexpected '}}'; not used")]
        assert await status_of(served.url, f"MailboxReceiver/{NS}/alice") == [
            f"template nm.default.html: ConfigMap {NS}/alice-templates key nm.default.html, line 3: unexpected '}}'; "
            "the built-in look is used instead"]
        await served.manager.submit(AlertGroup(alerts=(alert(namespace="team-a"),)))
        await served.manager.drain(5)
    assert box.got["alice"]["subject"] == "fine firing", "the keys that compile are used"
    assert box.got["alice"]["html"].startswith("<!doctype html>"), "the broken one falls back to the built-in look"


async def test_a_template_failing_on_a_real_notification_says_so_in_the_receivers_status() -> None:
    templates = configmap("t", **{"body": "{% if alerts[0].labels.boom %}{{ 1 // 0 }}{% endif %}{{ alerts[0].labels.pod }}"})
    manifests = templates + tenant("alice", "team-a", "{template: body, tmplType: text, tmplText: {name: t}}")
    box = Mailbox()
    async with serving(Manager.from_yaml(manifests, plugins=[box])) as served:
        receiver = f"MailboxReceiver/{NS}/alice"
        assert await status_of(served.url, receiver) == []
        await served.manager.submit(AlertGroup(alerts=(alert(namespace="team-a", pod="p"),)))
        await served.manager.drain(5)
        assert box.got["alice"]["text"] == "p\n" and await status_of(served.url, receiver) == []
        await served.manager.submit(AlertGroup(alerts=(alert(namespace="team-a", pod="q", boom="yes"),)))
        await served.manager.drain(5)
        assert box.got["alice"]["text"].startswith("[FIRING] TestAlert"), "sent, with the built-in look"
        [problem] = await status_of(served.url, receiver)
        assert (f"template body (ConfigMap {NS}/t key body) failed on a notification: ZeroDivisionError: integer "
                "division or modulo by zero (line 1); sent with the built-in text instead") in problem
        await served.manager.submit(AlertGroup(alerts=(alert(namespace="team-a", pod="r"),)))
        await served.manager.drain(5)
        assert box.got["alice"]["text"] == "r\n" and await status_of(served.url, receiver) == [], \
            "working again: the status clears"


async def test_unknown_names_and_missing_configmaps_are_located_problems() -> None:
    spec = "{template: team.htm, tmplText: {name: alice-templatez}, language: klingon}"
    manifests = configmap("alice-templates", **{"team.html": "x"}) + tenant("alice", "team-a", spec)
    box, manager = await deliver(manifests, alert(namespace="team-a"))
    messages = sorted(p.message for p in manager.snapshot.problems if p.object == f"MailboxReceiver/{NS}/alice")
    assert messages == [
        "$.spec.template: no template named 'team.htm'; the built-in html is used instead",
        f"$.spec.tmplText: ConfigMap 'alice-templatez' not found in namespace '{NS}' (did you mean "
        "'alice-templates'?); its messages use the global and built-in templates",
        "language: no language pack for 'klingon'; its messages stay in English"]
    assert box.got["alice"]["subject"] == "[FIRING] TestAlert: something happened in team-a"


async def test_language_packs_in_the_original_format_and_zh_cn_with_one_setting() -> None:
    pack = configmap("fr", fr="- name: fr\n  dictionary:\n    firing: EN COURS\n    pod: Pod (fr)")
    summary = {"summary": "disk full", "summaryCn": "磁盘已满"}
    manifests = pack + tenant("alice", "ns", "{language: fr}") + tenant("li", "ns", "{language: zh-cn}") + \
        tenant("bob", "ns")
    settings = TemplateSettings(language_pack=(ConfigMapKeySelector(name="fr"),))
    box, manager = await deliver(manifests, alert(namespace="ns", pod="x", annotations=summary),
                                 renderer=_renderer(settings))
    assert manager.snapshot.problems == ()
    assert box.got["alice"]["subject"] == "[EN COURS] TestAlert: disk full in ns"
    assert "Pod (fr) = x" in box.got["alice"]["text"]
    assert box.got["li"]["subject"] == "[告警中] TestAlert: 磁盘已满（项目 ns）", "summaryCn preferred for zh-cn"
    assert "告警名称" not in box.got["li"]["text"] and "容器组 = x" in box.got["li"]["text"]
    assert box.got["bob"]["subject"] == "[FIRING] TestAlert: disk full in ns"


def _renderer(settings: TemplateSettings) -> Any:
    from nmcore.render import DefaultRenderer

    return DefaultRenderer(settings=settings)
