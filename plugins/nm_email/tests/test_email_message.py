"""What arrives in the mailbox: Chinese text intact, headers that no label value can add to."""

import email
import email.header
import email.policy
from types import SimpleNamespace

import pytest
from nm_email.message import compose
from nm_email.schema import mailbox

from nmcore.testing import alert

pytestmark = pytest.mark.anyio

INJECTION = "x\r\nBcc: evil@attacker.example\r\nX-Injected: yes"


def receiver_yaml(port: int, to: str) -> str:
    return f"""
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailConfig
metadata: {{name: mail, labels: {{type: default}}}}
spec:
  from: "告警中心 <nmcore@xyz.com>"
  smartHost: {{host: 127.0.0.1, port: {port}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: EmailReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec:
  to: {to}
"""


OPS = "EmailReceiver/kubesphere-monitoring-system/ops"


def crlf_to_lf(text: str) -> str:
    return text.replace("\r\n", "\n")


async def test_chinese_subject_body_and_names_round_trip(mail_server, sender, request_for):
    server = await mail_server(tls=None, auth_required=False)
    chinese = alert(namespace="演示项目", pod="数据库-0", alertname="磁盘空间不足",
                    annotations={"summary": "节点 node-1 的磁盘使用率超过 90%", "description": "请尽快清理日志文件。"})
    request = request_for(receiver_yaml(server.port, "['张三 <zhang@xyz.com>', ops@xyz.com]"), OPS, alerts=(chinese,))

    await sender.send(request)

    [received] = server.received
    assert received.content.isascii()  # every non-ASCII character travelled encoded (RFC 2047, QP/base64)
    message = received.message()
    assert "磁盘空间不足" in message["Subject"] and message["Subject"] == request.message.subject
    assert message["From"].addresses[0].display_name == "告警中心"
    assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [
        ("张三", "zhang@xyz.com"), ("", "ops@xyz.com")]
    assert crlf_to_lf(message.get_body(("plain",)).get_content()) == request.message.text
    html = message.get_body(("html",)).get_content()
    assert crlf_to_lf(html).rstrip("\n") == crlf_to_lf(request.message.html).rstrip("\n")
    assert "节点 node-1 的磁盘使用率超过 90%" in html and "请尽快清理日志文件。" in html
    assert sorted(received.rcpt_tos) == ["ops@xyz.com", "zhang@xyz.com"]


async def test_line_breaks_in_labels_and_annotations_add_no_header(mail_server, sender, request_for):
    server = await mail_server(tls=None, auth_required=False)
    hostile = alert(alertname=f"Disk{INJECTION}", namespace=f"demo{INJECTION}", pod=INJECTION,
                    annotations={"summary": f"full{INJECTION}"})
    request = request_for(receiver_yaml(server.port, "[ops@xyz.com]"), OPS, alerts=(hostile,))

    await sender.send(request)

    [received] = server.received
    assert received.rcpt_tos == ("ops@xyz.com",)
    message = received.message()
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert sorted(set(message.keys())) == ["Content-Type", "Date", "From", "MIME-Version", "Message-ID", "Subject",
                                           "To"]
    assert "\n" not in message["Subject"] and "Bcc: evil@attacker.example" in message["Subject"]
    assert "X-Injected: yes" in message.get_body(("plain",)).get_content()  # the text is kept, as text


def test_compose_keeps_even_a_multi_line_subject_on_one_line():
    """The core renders single-line subjects; compose defends anyway, without relying on that."""
    rendered = SimpleNamespace(subject=f"[FIRING] {INJECTION}", text="body\n", markdown="body\n", html="<p>body</p>")
    message = compose(mailbox("nm@xyz.com"), [mailbox("ops@xyz.com")], rendered)
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None and parsed["X-Injected"] is None
    assert parsed["Subject"] == "[FIRING] x Bcc: evil@attacker.example X-Injected: yes"


@pytest.mark.parametrize("message", [
    "Pod dev/web-1 (busybox-3jb7u6) is restarting 1.07 times / 5 minutes, see http://grafana.example.com/d/abc",
    "crash http://alertmanager.example.com:9093/#/alerts?receiver=kubesphere-monitoring-system \"quoted\" text",
    "容器组 dev/web-1 正在反复重启：过去五分钟内重启了 1.07 次，请检查 EmailReceiver/kubesphere-monitoring-system/x",
    "mixed naïve text with =?utf-8?q?lookalike?= an encoded word inside and more words to make it long",
])
async def test_a_long_subject_reads_back_exactly_as_rendered(mail_server, sender, request_for, message):
    """Folding a long Subject must not put the break right after `Subject:` (clients then show a leading space)
    nor change a single character, in ASCII or Chinese."""
    server = await mail_server(tls=None, auth_required=False)
    request = request_for(receiver_yaml(server.port, "[ops@xyz.com]"), OPS,
                          alerts=(alert(alertname="KubePodCrashLooping", annotations={"message": message}),))
    assert len(request.message.subject) > 70

    await sender.send(request)

    [received] = server.received
    lines = received.content.split(b"\r\n\r\n")[0].decode("ascii").split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith(" "))
    subject_lines = lines[start:end]
    assert subject_lines[0].startswith("Subject: ") and subject_lines[0] != "Subject: ", "never folded at once"
    assert all(len(line) <= 78 or " " not in line.strip() for line in subject_lines), subject_lines
    assert received.message()["Subject"] == request.message.subject
    legacy = email.message_from_bytes(received.content)  # the compat32 parser many scripts still use
    unfolded = str(legacy["Subject"]).replace("\r\n", "")  # RFC 5322 unfolding
    decoded = str(email.header.make_header(email.header.decode_header(unfolded)))
    assert decoded == request.message.subject and not decoded.startswith(" ")


async def test_tmpl_type_text_sends_plain_text_only_and_subject_template_names_the_subject(
        mail_server, sender, request_for):
    server = await mail_server(tls=None, auth_required=False)
    manifests = receiver_yaml(server.port, "[ops@xyz.com]") + (
        "  tmplType: text\n  subjectTemplate: '{{ alerts | length }} for {{ receiver_name }}'\n")
    request = request_for(manifests, OPS)

    await sender.send(request)

    message = server.received[0].message()
    assert message.get_content_type() == "text/plain" and message["Subject"] == "1 for ops"
    assert message.get_content().replace("\r\n", "\n") == request.message.text
