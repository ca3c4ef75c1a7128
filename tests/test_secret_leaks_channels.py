"""No credential of the channel plugins leaves `nm run` or reaches its state, in any encoding.

One `nm run` (a real process, at DEBUG) holds a v2beta2 Receiver for each of the seven newer channels (DingTalk
robot and conversation, Feishu robot and app, SMS through each of its four providers, Discord, Telegram,
Pushover, Teams), WeChat Work receivers (a v1alpha1 WechatConfig's application, a v2beta2 `wechat` Config's,
a group robot), Slack ones (v1alpha1: a bot token, an incoming webhook; v2beta2 Slack cannot be pointed at a
local API) and email ones (v1alpha1, over plain SMTP with `allowInsecureAuth`: AUTH PLAIN, LOGIN and CRAM-MD5),
every credential from one Secret, every API pointed at one loopback echo server (and two loopback SMTP servers).
The echo refuses every message (4xx, or HTTP 200 with WeChat's `errcode` or Slack's `ok: false`; Telegram's
500, so that delivery stays pending and retried) in the shape its API refuses, and says back the credentials
the request carried: the Secret's values where they travel (a URL's token, query value or path, a body field,
a header, an SMTP AUTH line) and the ones derived from them (DingTalk's and Feishu's HMAC signatures, the SMS
providers' request signatures, the tokens the token APIs issued, AUTH PLAIN's base64 blob, CRAM-MD5's digest).
Request n to an API echoes them plain, URL-encoded or in base64 (n mod 3); the token APIs, called about once,
echo all three at once.

Three alerts each reach every receiver (so history, dead letters and the state hold every form), then
`/api/v2/verify` three times per receiver (so its answers do), once more for the plugins that cut a reply before
quoting it with the echo padded so the cut falls inside a credential, and the console's verify once with a
Receiver object. Then every way out is read: the log, the verify answers, /api/v2/status, /metrics,
/api/v2/history, the history webhook's posts, /ui, the console API's GETs, POST /api/v2/route, `nm deliveries`,
`nm history`, `nm route`, `nm validate` and every byte of the state dir, for every form of every value the echo
saw and every Secret value, and for the first 10 characters of each (what a cut would leave); and the echo's
words must have come back, so a missing redaction would be seen.
"""

import base64
import json
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import pytest
import yaml
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from tests.conftest import WebhookSink
from tests.leakcheck import (
    admin_answers,
    b64,
    cli_answers,
    deliveries,
    forbidden,
    found_leaks,
    prefixes,
    state_files,
)
from tests.support import free_port, nm_run, wait_for
from tests.v2support import DEFAULT, GLOBAL, NS, from_secret, secret, v2

SECRET = "channel-secrets"
SHAPES: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("plain", lambda v: v), ("url", lambda v: quote(v, safe="")), ("b64", b64))
TOKEN_APIS = ("dingtalk gettoken", "feishu token", "wechat gettoken", "wechat-v2 gettoken")
CUTS = {"telegram": 120, "discord": 120, "pushover": 120, "aliyun": 300, "wechat robot": 200, "slack webhook": 200}
"""Where these plugins cut a refusal's text before quoting it (a reply that is not their API's JSON; Aliyun's
Message; the core's `excerpt` of an HTTP error's body): the padded echo puts a credential across that point, 12
characters of it before."""
ALERTS = 3
VERIFIES = 3

# Every credential the Secret holds; each has characters that URL-encoding changes, where its API allows them.
TELEGRAM_TOKEN = "7212345678:AAE-Leak_Telegram0123456789abcdefgh"
DISCORD_TOKEN = "Disc0rd-Leak_Token-abcdefghijklmnop"
TEAMS_SIG = "T3ams-Leak_Sig-0123456789abcdef"
PUSHOVER_TOKEN = "aLeakPushoverAppToken012345678"
DINGTALK_TOKEN = "dingLeakAccessToken0123456789abcdef"
VALUES = {
    "telegram-token": TELEGRAM_TOKEN,
    "pushover-token": PUSHOVER_TOKEN,
    "dingtalk-secret": "SECding+Leak/Secret=01",
    "dingtalk-appkey": "dingLeakKey01",
    "dingtalk-appsecret": "ding/Sec+Leak=1",
    "feishu-secret": "feishu+Sign/Leak=01",
    "feishu-appid": "cli_leakapp01",
    "feishu-appsecret": "feishu/App+Leak=",
    "aliyun-id": "LTAIleakKey0001",
    "aliyun-secret": "aliyun/Leak+Sec=01",
    "tencent-id": "AKIDleakTencent01",
    "tencent-key": "tencent/Leak+Key=01",
    "huawei-key": "huaweiLeakKey01",
    "huawei-secret": "huawei/Leak+Sec=01",
    "aws-id": "AKIALEAKAWSKEY01",
    "aws-secret": "aws/Leak+Secret=Key01",
    "wechat-secret": "wechat/Corp+Secret=Leak01",
    "wechat-v2-secret": "wechatV2/Corp+Sec=Leak",
    "slack-token": "xoxb-1234567890-Leak0123456789-abcdefSLACK",
    "email-password": "smtp/Leak+Pass=word01",
    "email-login-password": "smtpLogin/Leak+Pw=1",
    "email-cram-secret": "cram/Leak+Secret=01",
}
WECHAT_CORP = "wwLeakCorp0000001"
"""The corp ID is no credential (it is in the WechatConfig): not echoed, though gettoken's query carries it."""
EMAIL_USER = "leak-user"


def webhooks(base: str) -> dict[str, str]:
    """The Secret's webhook URLs: each one is a credential, by its token, query value or path."""
    return {
        "discord-webhook": f"{base}/discord/api/webhooks/123456789012345678/{DISCORD_TOKEN}",
        "teams-webhook": f"{base}/teams/workflows/0a1b2c3d4e/triggers/manual/paths/invoke?api-version=2016-06-01"
                         f"&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={TEAMS_SIG}",
        "dingtalk-webhook": f"{base}/dingtalk/robot/send?access_token={DINGTALK_TOKEN}",
        "feishu-webhook": f"{base}/feishu/open-apis/bot/v2/hook/f3ishu-Leak-Hook-0123456789ab",
        "wechat-robot-webhook": f"{base}/wechat/cgi-bin/webhook/send?key=wxLeakRobotKey-0123-4567-89ab",
        "slack-webhook": f"{base}/slack/services/T0LEAK0001/B0LEAK0001/sl4ckLeakHookSecret0123456789",
    }


RECEIVERS = {  # receiver name → the APIs its send reaches (the echo's name for each)
    "leak-telegram": ("telegram",), "leak-discord": ("discord",), "leak-teams": ("teams",),
    "leak-pushover": ("pushover",), "leak-dingtalk": ("dingtalk robot", "dingtalk chat/send"),
    "leak-feishu": ("feishu robot", "feishu batch_send"), "leak-sms-aliyun": ("aliyun",),
    "leak-sms-tencent": ("tencent",), "leak-sms-huawei": ("huawei",), "leak-sms-aws": ("aws",),
    "leak-wechat": ("wechat message/send",), "leak-wechat-v2": ("wechat-v2 message/send",),
    "leak-wechat-robot": ("wechat robot",),
    "leak-slack": ("slack",), "leak-slack-webhook": ("slack webhook",),
    "leak-email-plain": ("smtp PLAIN",), "leak-email-login": ("smtp LOGIN",), "leak-email-cram": ("smtp CRAM-MD5",),
}
PENDING = "leak-telegram"
"""Its API answers 500: the delivery stays pending, retried."""


def ref(key: str) -> dict[str, Any]:
    return from_secret(SECRET, key)


def v1(kind: str, name: str, labels: dict[str, str], **spec: Any) -> str:
    """One notification.kubesphere.io/v1alpha1 object as YAML (a document of its own)."""
    body = {"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": NS, "labels": labels}, "spec": spec}
    return "---\n" + yaml.safe_dump(body, sort_keys=False)


def v1_ref(key: str) -> dict[str, str]:
    """A v1alpha1 SecretKeySelector of the Secret."""
    return {"name": SECRET, "key": key}


def manifests(base: str, smtp_ports: tuple[int, int]) -> str:
    sms = {
        "aliyun": {"signName": "KubeSphere", "templateCode": "SMS_1", "accessKeyId": ref("aliyun-id"),
                   "accessKeySecret": ref("aliyun-secret"), "url": f"{base}/sms/aliyun/"},
        "tencent": {"sign": "KubeSphere", "templateID": "1234", "smsSdkAppid": "1400000000",
                    "secretId": ref("tencent-id"), "secretKey": ref("tencent-key"), "url": f"{base}/sms/tencent/"},
        "huawei": {"url": f"{base}/sms/huawei/batchSendSms/v1", "signature": "KubeSphere", "templateId": "t1",
                   "sender": "8821", "appKey": ref("huawei-key"), "appSecret": ref("huawei-secret")},
        "aws": {"region": "us-east-1", "accessKeyId": ref("aws-id"), "secretAccessKey": ref("aws-secret"),
                "url": f"{base}/sms/aws/"},
    }
    text = secret(SECRET, **VALUES, **webhooks(base))
    text += v2("Config", "leak-telegram", DEFAULT,
               telegram={"telegramTokenSecret": ref("telegram-token"), "apiUrl": f"{base}/telegram"})
    text += v2("Config", "leak-pushover", DEFAULT,
               pushover={"pushoverTokenSecret": ref("pushover-token"), "apiUrl": f"{base}/pushover/1"})
    text += v2("Config", "leak-dingtalk", DEFAULT, dingtalk={"conversation": {
        "appkey": ref("dingtalk-appkey"), "appsecret": ref("dingtalk-appsecret"), "apiUrl": f"{base}/dingtalk/"}})
    text += v2("Config", "leak-feishu", DEFAULT, feishu={
        "appID": ref("feishu-appid"), "appSecret": ref("feishu-appsecret"), "apiUrl": f"{base}/feishu/open-apis/"})
    for provider, settings in sms.items():
        text += v2("Config", f"leak-sms-{provider}", {**DEFAULT, "provider": provider},
                   sms={"defaultProvider": provider, "providers": {provider: settings}})
        text += v2("Receiver", f"leak-sms-{provider}", GLOBAL, sms={
            "phoneNumbers": ["13612345678"], "smsConfigSelector": {"matchLabels": {"provider": provider}}})
    text += v2("Receiver", "leak-telegram", GLOBAL, telegram={"channels": ["-1001000000001"]})
    text += v2("Receiver", "leak-pushover", GLOBAL, pushover={"profiles": [{"userKey": "u" * 30}]})
    text += v2("Receiver", "leak-discord", GLOBAL, discord={"webhook": ref("discord-webhook")})
    text += v2("Receiver", "leak-teams", GLOBAL, teams={"webhook": ref("teams-webhook")})
    text += v2("Receiver", "leak-dingtalk", GLOBAL, dingtalk={
        "chatbot": {"webhook": ref("dingtalk-webhook"), "secret": ref("dingtalk-secret")},
        "conversation": {"chatids": ["chat-leak-0001"]}})
    text += v2("Receiver", "leak-feishu", GLOBAL, feishu={
        "chatbot": {"webhook": ref("feishu-webhook"), "secret": ref("feishu-secret")}, "user": ["ou_leak0001"]})
    return text + wechat_slack_email(base, smtp_ports)


def wechat_slack_email(base: str, smtp_ports: tuple[int, int]) -> str:
    """WeChat Work (v1alpha1 and v2beta2), Slack (v1alpha1: v2beta2's has no apiUrl) and email (v1alpha1: only it
    may log in without TLS) receivers; `smtp_ports`: a server offering PLAIN and CRAM-MD5, one offering LOGIN."""
    hosts = {"plain": smtp_ports[0], "cram": smtp_ports[0], "login": smtp_ports[1]}
    auth = {"plain": {"authPassword": v1_ref("email-password")}, "cram": {"authSecret": v1_ref("email-cram-secret")},
            "login": {"authPassword": v1_ref("email-login-password")}}
    text = v1("WechatConfig", "leak-wechat", {**DEFAULT, "leak": "wechat"}, wechatApiUrl=f"{base}/wechat/cgi-bin/",
              wechatApiSecret=v1_ref("wechat-secret"), wechatApiCorpId=WECHAT_CORP, wechatApiAgentId="1000002")
    text += v1("WechatReceiver", "leak-wechat", GLOBAL, wechatConfigSelector={"matchLabels": {"leak": "wechat"}},
               toUser="leak-user1 | leak-user2")
    text += v2("Config", "leak-wechat-v2", {**DEFAULT, "leak": "wechat-v2"}, wechat={
        "wechatApiUrl": f"{base}/wechat-v2/cgi-bin/", "wechatApiCorpId": WECHAT_CORP, "wechatApiAgentId": "1000003",
        "wechatApiSecret": ref("wechat-v2-secret")})
    text += v2("Receiver", "leak-wechat-v2", GLOBAL, wechat={
        "wechatConfigSelector": {"matchLabels": {"leak": "wechat-v2"}}, "toUser": ["leak-user3"]})
    text += v2("Receiver", "leak-wechat-robot", GLOBAL, wechat={"chatbot": {"webhook": ref("wechat-robot-webhook")}})
    text += v1("SlackConfig", "leak-slack", {**DEFAULT, "leak": "slack"}, slackTokenSecret=v1_ref("slack-token"),
               apiUrl=f"{base}/slack/api")
    text += v1("SlackReceiver", "leak-slack", GLOBAL, slackConfigSelector={"matchLabels": {"leak": "slack"}},
               channels=["leak-auth", "leak-echo"])
    text += v1("SlackReceiver", "leak-slack-webhook", GLOBAL, webhookUrl=ref("slack-webhook"))
    for login, port in hosts.items():
        text += v1("EmailConfig", f"leak-email-{login}", {**DEFAULT, "leak": f"email-{login}"},
                   smartHost={"host": "127.0.0.1", "port": port}, **{"from": "nm@example.com"},
                   authUsername=EMAIL_USER, allowInsecureAuth=True, **auth[login])
        text += v1("EmailReceiver", f"leak-email-{login}", GLOBAL, to=["ops@example.com"],
                   emailConfigSelector={"matchLabels": {"leak": f"email-{login}"}})
    return text


Found = list[tuple[str, str]]
"""(what, value) of each credential a request carried, in the order the echo says them."""


def _header_parts(header: str, *patterns: tuple[str, str]) -> Found:
    return [(what, m.group(1)) for what, pattern in patterns if (m := re.search(pattern, header))]


class ChannelEcho:
    """Every channel's API at once, refusing every message in its API's shape and saying back the credentials the
    request carried (see the module's docstring); token APIs refuse their first request and issue a token to the
    next ones. Keeps every credential value it saw, and what the history webhook posted."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.seen: set[str] = set()
        self.issued: set[str] = set()
        self.history_posts: list[str] = []
        self.padded = False
        """Refuse with a long text, a credential where the plugin cuts it (`CUTS`)."""
        self._lock = threading.Lock()

    def values(self) -> set[str]:
        with self._lock:
            return self.seen | self.issued

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        path = request.path
        if path == "/history-hook":
            with self._lock:
                self.history_posts.append(raw.decode())
            return web.Response(text="ok")
        api, found = _carried(request, raw)
        if api is None:
            return web.Response(status=404, text=f"nothing at {path}")
        number = self.heard(api, found)
        if api in TOKEN_APIS and number > 0:
            return self._issue(api)
        if self.padded and api in CUTS:
            what, value = found[-1]
            head = f"refused {api}: {what} "
            echo = head + "x" * (CUTS[api] - 12 - len(head) - 1) + " " + value
            if api == "aliyun":
                return _refusal(api, echo)
            return web.Response(status=400, content_type="text/html", text=echo)  # a proxy's page, say
        return _refusal(api, self.echo(api, found, number))

    def heard(self, api: str, found: Found) -> int:
        """Keep what a request to `api` carried; return how many requests to it came before."""
        with self._lock:
            number = self.requests[api]
            self.requests[api] += 1
            self.seen.update(value for _, value in found)
        return number

    @staticmethod
    def echo(api: str, found: Found, number: int) -> str:
        """The refusal's words: the credentials said back in the request's shape (every shape to a token API)."""
        shapes = SHAPES if api in TOKEN_APIS else (SHAPES[number % len(SHAPES)],)
        return f"refused {api}: " + "; ".join(f"{shape} " + ", ".join(f"{what} {encode(value)}" for what, value in found)
                                              for shape, encode in shapes)

    def _issue(self, api: str) -> web.Response:
        token = f"issued-{api.split()[0]}-{secrets.token_hex(8)}"
        with self._lock:
            self.issued.add(token)
        if api == "dingtalk gettoken" or api.startswith("wechat"):
            return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})


def _carried(request: web.Request, raw: bytes) -> tuple[str | None, Found]:
    """Which API a request is for, and the credentials it carried."""
    path, query, headers = request.path, request.query, request.headers

    def body() -> dict[str, Any]:
        return json.loads(raw) if raw else {}

    def form() -> dict[str, str]:
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))

    if path.startswith("/telegram/bot"):
        return "telegram", [("token", path.split("/")[2].removeprefix("bot"))]
    if path.startswith("/discord/api/webhooks/"):
        return "discord", [("token", path.rsplit("/", 1)[-1])]
    if path.startswith("/teams/"):
        return "teams", [("sig", query.get("sig", ""))]
    if path.startswith("/pushover/"):
        return "pushover", [("token", body().get("token", ""))]
    if path == "/dingtalk/robot/send":
        return "dingtalk robot", [("access_token", query.get("access_token", "")), ("sign", query.get("sign", ""))]
    if path == "/dingtalk/gettoken":
        return "dingtalk gettoken", [("key", query.get("appkey", "")), ("secret", query.get("appsecret", ""))]
    if path == "/dingtalk/chat/send":
        return "dingtalk chat/send", [("access_token", query.get("access_token", ""))]
    if path.startswith("/feishu/open-apis/bot/v2/hook/"):
        return "feishu robot", [("hook", path.rsplit("/", 1)[-1]), ("sign", body().get("sign", ""))]
    if path == "/feishu/open-apis/auth/v3/tenant_access_token/internal":
        return "feishu token", [("id", body().get("app_id", "")), ("secret", body().get("app_secret", ""))]
    if path == "/feishu/open-apis/message/v4/batch_send/":
        return "feishu batch_send", [("token", headers.get("Authorization", "").removeprefix("Bearer "))]
    if path == "/sms/aliyun/":
        fields = form()
        return "aliyun", [("id", fields.get("AccessKeyId", "")), ("sig", fields.get("Signature", ""))]
    if path == "/sms/tencent/":
        return "tencent", _header_parts(headers.get("Authorization", ""), ("id", r"Credential=([^/,\s]+)/"),
                                        ("sig", r"Signature=(\w+)"))
    if path == "/sms/huawei/batchSendSms/v1":
        return "huawei", _header_parts(headers.get("X-WSSE", ""), ("user", r'Username="([^"]+)"'),
                                       ("digest", r'PasswordDigest="([^"]+)"'))
    if m := re.fullmatch(r"/(wechat(?:-v2)?)/cgi-bin/(gettoken|message/send|webhook/send)", path):
        if m[2] == "gettoken":
            return f"{m[1]} gettoken", [("secret", query.get("corpsecret", ""))]
        if m[2] == "message/send":
            return f"{m[1]} message/send", [("access_token", query.get("access_token", ""))]
        return "wechat robot", [("key", query.get("key", ""))]
    if path == "/slack/api/chat.postMessage":
        # The first channel gets Slack's bare `invalid_auth`, which quotes nothing; the second a refusal that does.
        api = "slack invalid_auth" if body().get("channel") == "leak-auth" else "slack"
        return api, [("token", headers.get("Authorization", "").removeprefix("Bearer "))]
    if path.startswith("/slack/services/"):
        return "slack webhook", [("hook", path.rsplit("/", 1)[-1])]
    if path == "/sms/aws/":
        return "aws", _header_parts(headers.get("Authorization", ""), ("id", r"Credential=([^/,\s]+)/"),
                                    ("sig", r"Signature=(\w+)"))
    return None, []


def _refusal(api: str, echo: str) -> web.Response:
    """A refusal as `api` answers one, `echo` where its error text goes."""
    if api == "telegram":
        return web.json_response({"ok": False, "error_code": 500, "description": echo}, status=500)
    if api == "discord":
        return web.json_response({"message": echo, "code": 50035}, status=400)
    if api == "teams":
        return web.json_response({"error": {"code": "InvalidRequestContent", "message": echo}}, status=400)
    if api == "pushover":
        return web.json_response({"status": 0, "errors": [echo], "request": "r1"}, status=400)
    if api.startswith("dingtalk"):
        code = {"dingtalk robot": 310000, "dingtalk gettoken": 40089}.get(api, 33012)
        return web.json_response({"errcode": code, "errmsg": echo}, status=400)
    if api.startswith("feishu"):
        code = {"feishu robot": 19021, "feishu token": 10014}.get(api, 99991672)
        return web.json_response({"code": code, "msg": echo}, status=400)
    if api == "aliyun":
        return web.json_response({"Code": "SignatureDoesNotMatch", "Message": echo}, status=400)
    if api.startswith("wechat"):  # WeChat Work refuses with HTTP 200 and an errcode
        code = 93000 if api == "wechat robot" else 40001
        return web.json_response({"errcode": code, "errmsg": f"invalid credential, {echo}, hint: [1700000000_1]"})
    if api == "slack invalid_auth":
        return web.json_response({"ok": False, "error": "invalid_auth"})
    if api == "slack":
        return web.json_response({"ok": False, "error": "invalid_arguments",
                                  "response_metadata": {"messages": [f"[ERROR] {echo}"]}})
    if api == "slack webhook":
        return web.Response(status=400, text=f"invalid_payload {echo}")
    if api == "aws":
        return web.Response(status=403, content_type="text/xml", text=(
            "<ErrorResponse><Error><Type>Sender</Type><Code>SignatureDoesNotMatch</Code>"
            f"<Message>{echo}</Message></Error></ErrorResponse>"))
    return web.Response(status=401, text=echo)  # Tencent and Huawei: a gateway's plain refusal, quoted as it is


class SmtpEcho:
    """An aiosmtpd handler refusing every AUTH (535) with the echo's words: what the AUTH exchange carried (AUTH
    PLAIN's base64 blob and the password in it; LOGIN's password; CRAM-MD5's answer and the digest in it)."""

    def __init__(self, echo: ChannelEcho) -> None:
        self._echo = echo

    async def handle_AUTH(self, server: SMTP, session: Any, envelope: Any, args: list[str]) -> str:
        mechanism = args[0].upper()
        if mechanism == "PLAIN":
            token = args[1] if len(args) > 1 else ""
            found = [("token", token), ("password", base64.b64decode(token).rpartition(b"\0")[2].decode())]
        else:
            challenge = "Password:" if mechanism == "LOGIN" else f"<{secrets.token_hex(8)}@leak.test>"
            answer = await server.challenge_auth(challenge)
            text = answer.decode() if isinstance(answer, bytes) else ""
            found = ([("password", text)] if mechanism == "LOGIN"
                     else [("response", b64(text)), ("digest", text.partition(" ")[2])])
        api = f"smtp {mechanism}"
        return "535 5.7.8 " + self._echo.echo(api, found, self._echo.heard(api, found))

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        """Only so that EHLO offers CRAM-MD5: `handle_AUTH` answers every AUTH first."""
        return AuthResult(success=False)


@pytest.fixture
def echo() -> Iterator[tuple[ChannelEcho, WebhookSink, tuple[int, int]]]:
    """The echo, its HTTP server, and two SMTP servers: one offering PLAIN and CRAM-MD5, one LOGIN only."""
    server = ChannelEcho()
    controllers = [Controller(SmtpEcho(server), hostname="127.0.0.1", port=free_port(), auth_require_tls=False,
                              auth_exclude_mechanism=exclude) for exclude in (["LOGIN"], ["PLAIN", "CRAM-MD5"])]
    for controller in controllers:
        controller.start()
    try:
        with WebhookSink(handler=server.handle) as sink:
            yield server, sink, (controllers[0].port, controllers[1].port)
    finally:
        for controller in controllers:
            controller.stop()


def alerts(number: int) -> list[dict]:
    return [{"labels": {"alertname": f"ChannelLeak{number}", "namespace": "demo", "severity": "critical"}}]


def _settled(state: Path) -> dict | None:
    """The deliveries once every receiver but the pending one has its dead letters, and the pending one its error."""
    found = deliveries(state)
    dead = Counter(d["receiver"].split("/")[-1].split(":")[0] for d in found.get("dead_letters", []))
    pending = [d for d in found.get("pending", []) if "refused telegram" in (d.get("last_error") or "")]
    done = all(dead[name] == ALERTS for name in RECEIVERS if name != PENDING) and len(pending) == ALERTS
    return found if done else None


def test_no_channel_credential_leaves_the_process_in_any_form(
        tmp_path: Path, echo: tuple[ChannelEcho, WebhookSink, tuple[int, int]]) -> None:
    echo_server, sink, smtp_ports = echo
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    base = f"http://127.0.0.1:{sink.port}"
    (config / "channels.yaml").write_text(manifests(base, smtp_ports))
    with nm_run(tmp_path, "--config-dir", str(config), "--state-dir", str(state),
                "--history-webhook", f"{base}/history-hook", log_level="DEBUG") as nm:
        url = nm.url
        status = httpx.get(f"{url}/api/v2/status", timeout=10).json()
        assert status["problems"] == [] and status["cannot_send"] == [], status
        assert len(status["receivers"]) == len(RECEIVERS), status["receivers"]
        for number in range(ALERTS):
            assert httpx.post(f"{url}/api/v2/alerts", json=alerts(number), timeout=10).status_code == 200
        stored = wait_for(lambda: _settled(state), "every receiver's deliveries refused and recorded")
        wait_for(lambda: len(httpx.get(f"{url}/api/v2/history?limit=1000", timeout=10).json()["history"])
                 >= ALERTS * (len(RECEIVERS) - 1), "the history written")
        verified = {name: [httpx.post(f"{url}/api/v2/verify", json={"receiver": name}, timeout=30).json()
                           for _ in range(VERIFIES)] for name in RECEIVERS}
        echo_server.padded = True
        cut = {name: httpx.post(f"{url}/api/v2/verify", json={"receiver": name}, timeout=30).json()
               for name in ("leak-telegram", "leak-discord", "leak-pushover", "leak-sms-aliyun", "leak-wechat-robot",
                            "leak-slack-webhook")}
        echo_server.padded = False
        console = httpx.post(f"{url}/api/v2/verify", timeout=30, json={"receiver": {
            "metadata": {"name": "console-discord", "labels": GLOBAL},
            "spec": {"discord": {"webhook": ref("discord-webhook")}}}})
        outputs = admin_answers(url, alerts(0))
        wait_for(lambda: sum(len(json.loads(post)["history"]) for post in echo_server.history_posts)
                 >= ALERTS * (len(RECEIVERS) - 1), "the history webhook's posts")
    outputs |= cli_answers(state, config, alerts(0), tmp_path) | state_files(state)
    outputs["log"] = nm.log_text()
    outputs["history webhook"] = "\n".join(echo_server.history_posts)
    outputs["console verify"] = console.text
    outputs |= {f"verify {name}": json.dumps(answers) for name, answers in verified.items()}
    outputs |= {f"verify {name} (cut)": json.dumps(answer) for name, answer in cut.items()}

    # The echo's words came back everywhere the refusals are told, so a leak would have been seen.
    for name, answers in verified.items():
        for answer in answers:
            assert not answer["ok"] and "<redacted>" in answer["error"], (name, answer)
            for api in RECEIVERS[name]:
                assert f"refused {api}" in answer["error"], (name, api, answer)
    for name, answer in cut.items():
        assert not answer["ok"] and f"refused {RECEIVERS[name][0]}: " in answer["error"], (name, answer)
    assert "refused discord" in console.text and "<redacted>" in console.text, console.text
    assert all("channel 'leak-auth': invalid_auth: Slack does not accept the token" in answer["error"]
               for answer in verified["leak-slack"]), verified["leak-slack"]
    for dead in stored["dead_letters"]:
        assert "refused " in dead["reason"] and "<redacted>" in dead["reason"], dead
    outputs["state dir"] = "\n".join(text for where, text in outputs.items() if where.startswith("state file"))
    for where in ("log", "history", "nm history --json", "history webhook", "ui", "state dir"):
        assert all(f"refused {api}" in outputs[where] for apis in RECEIVERS.values() for api in apis
                   if api != "telegram"), where
    assert "refused telegram" in outputs["nm deliveries --json"]
    for api in TOKEN_APIS:  # all three forms fit in what the error quotes
        assert re.search(f"refused {api}: plain .*; url .*; b64 (\\w+ <redacted>, )?secret <redacted>[),]",
                         outputs["history"]), api
    assert echo_server.issued, "the token APIs issued tokens, which the echo said back"

    values = {*VALUES.values(), *webhooks(base).values(), *echo_server.values()}
    not_urls = {value for value in values if "://" not in value}
    leaked = found_leaks(outputs, forbidden(values) | prefixes(not_urls))
    assert not leaked, "\n".join(f"{where}: {hit}" for where, hits in leaked.items() for hit in hits)
