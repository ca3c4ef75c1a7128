"""The SDK helpers channels share: local rate limits, resuming a half-delivered notification, recipient
batches, robot signatures and URL credentials kept out of text."""

import base64
import hashlib
import hmac
import logging

import httpx
import pytest

from nmcore.apierrors import ApiCodes
from nmcore.errors import PermanentError, TransientError
from nmcore.httpfailures import redact_http_logs, redact_url_secrets
from nmcore.progress import Progress
from nmcore.ratelimit import Rate, RateLimiter
from nmcore.robots import timestamp_signature, with_keyword
from nmcore.splitting import batches


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_destination_over_its_rate_gets_the_wait_until_a_slot_frees():
    clock = Clock()
    limiter = RateLimiter(Rate(20, 60.0), clock=clock)
    for second in range(20):
        clock.now = 1000.0 + second
        limiter.take("https://robot/a?access_token=t", "the robot")

    clock.now = 1030.0
    with pytest.raises(TransientError) as caught:
        limiter.take("https://robot/a?access_token=t", "the robot")
    assert caught.value.retry_after == pytest.approx(30.0)  # the first of the 20 leaves the window at 1060
    assert "20 per minute" in str(caught.value) and "access_token" not in str(caught.value)

    limiter.take("https://robot/b", "another robot")  # other destinations are not held
    clock.now = 1060.0
    limiter.take("https://robot/a?access_token=t", "the robot")


def test_the_strictest_of_several_rates_decides():
    clock = Clock()
    limiter = RateLimiter(Rate(5, 1.0), Rate(100, 60.0), clock=clock)
    for _ in range(5):
        limiter.take("hook", "the robot")
    with pytest.raises(TransientError, match="5 per second") as caught:
        limiter.take("hook", "the robot")
    assert 0 < caught.value.retry_after <= 1.0


@pytest.mark.anyio
async def test_a_retry_sends_only_the_messages_not_yet_delivered():
    progress = Progress()
    delivered: list[str] = []

    async def attempt(fail_at: str | None) -> None:
        with progress.notification("n1"):
            for text in ("part 1", "part 2", "part 3"):
                async def send(text: str = text) -> None:
                    if text == fail_at:
                        raise TransientError("refused")
                    delivered.append(text)
                await progress.once("n1", f"chat-1\0{text}", send)

    with pytest.raises(TransientError):
        await attempt(fail_at="part 2")
    await attempt(fail_at=None)

    assert delivered == ["part 1", "part 2", "part 3"]


@pytest.mark.anyio
async def test_after_success_or_a_permanent_failure_nothing_is_remembered():
    progress = Progress()
    sent: list[str] = []

    async def send() -> None:
        sent.append("x")

    with progress.notification("n1"):
        await progress.once("n1", "m", send)
    with progress.notification("n1"):  # the same alerts again later (a repeat): sent again
        await progress.once("n1", "m", send)
    with pytest.raises(PermanentError), progress.notification("n2"):
        await progress.once("n2", "m", send)
        raise PermanentError("bad secret")
    with progress.notification("n2"):
        await progress.once("n2", "m", send)
    assert sent == ["x"] * 4


def test_batches_pair_the_slices_of_each_kind():
    users = [f"u{i}" for i in range(450)]
    departments = ["d1", "d2"]

    got = list(batches((users, 200), (departments, 200)))

    assert [(len(u), len(d)) for u, d in got] == [(200, 2), (200, 0), (50, 0)]
    assert [x for u, _ in got for x in u] == users


def test_signatures_as_dingtalk_and_feishu_check_them():
    secret, ms, s = "SECfeedbeef", 1700000000123, 1700000000
    dingtalk = hmac.new(secret.encode(), f"{ms}\n{secret}".encode(), hashlib.sha256).digest()
    feishu = hmac.new(f"{s}\n{secret}".encode(), b"", hashlib.sha256).digest()

    assert timestamp_signature(secret, ms, keyed_by="secret") == base64.b64encode(dingtalk).decode()
    assert timestamp_signature(secret, s, keyed_by="string") == base64.b64encode(feishu).decode()


@pytest.mark.parametrize(("url", "hidden"), [
    ("https://open.feishu.cn/open-apis/bot/v2/hook/2b5c7e1d-96f3-4f6a-a0c1-8f3e21d4c9b0", "2b5c7e1d"),
    ("https://oapi.dingtalk.com/robot/send?access_token=c0ffee&timestamp=1&sign=a%2Bb", "c0ffee"),
    ("https://discord.com/api/webhooks/123456789012345678/abcDEF-ghi_jkl123456", "abcDEF"),
])
def test_url_credentials_are_hidden_in_text_and_in_httpx_logs(url, hidden, caplog):
    assert hidden not in redact_url_secrets(f"POST {url} failed")
    redact_http_logs()
    with caplog.at_level(logging.INFO, logger="httpx"):
        logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', url)
    assert hidden not in caplog.text and "<redacted>" in caplog.text


def test_api_paths_stay_readable():
    for url in ("https://open.feishu.cn/open-apis/auth/v3/tenant_access_token/internal",
                "https://open.feishu.cn/open-apis/message/v4/batch_send/", "https://oapi.dingtalk.com/chat/send"):
        assert redact_url_secrets(url) == url


def test_the_keywords_line_is_added_only_to_text_without_a_keyword():
    assert with_keyword("[FIRING] DiskFull on node-1", ["kubesphere", "告警"]) == (
        "[FIRING] DiskFull on node-1\n\n[Keywords] kubesphere, 告警")
    assert with_keyword("kubesphere: DiskFull", ["kubesphere"]) == "kubesphere: DiskFull"
    assert with_keyword("DiskFull", []) == "DiskFull"
    assert with_keyword("DiskFull", ["a", "b"], ",").endswith("[Keywords] a,b")


CODES = ApiCodes(vendor="Feishu", code_field="code", message_field="msg", transient={99991400: 1.0},
                 wait_header="x-ogw-ratelimit-reset", hints={19024: "list them in chatbot.keywords"})


def test_a_code_in_the_body_says_more_than_the_http_status():
    expired = httpx.Response(400, json={"code": 99991663, "msg": "Invalid access token"})
    assert CODES.reply(expired, "batch_send", "batch_send for ops")["code"] == 99991663  # the caller refreshes

    limited = httpx.Response(429, json={"code": 99991400, "msg": "request trigger frequency limit"},
                             headers={"x-ogw-ratelimit-reset": "52"})
    with pytest.raises(TransientError, match=r"^batch_send for ops: Feishu answered code 99991400") as caught:
        CODES.reply(limited, "batch_send", "batch_send for ops")
    assert caught.value.retry_after == 52.0


def test_server_errors_and_foreign_replies():
    with pytest.raises(TransientError, match="HTTP 502"):
        CODES.reply(httpx.Response(502, json={"code": 1500, "msg": "internal"}), "batch_send", "x")
    with pytest.raises(TransientError, match="HTTP 429") as caught:
        CODES.reply(httpx.Response(429, json={"code": 1, "msg": "slow down"}, headers={"Retry-After": "30"}), "s", "x")
    assert caught.value.retry_after == 30.0
    with pytest.raises(PermanentError, match="not a Feishu JSON reply: check the URL"):
        CODES.reply(httpx.Response(200, text="<html>login</html>"), "batch_send", "x")
    with pytest.raises(PermanentError, match=r"19024 \(Key Words Not Found\); list them in chatbot\.keywords"):
        CODES.answer(httpx.Response(200, json={"code": 19024, "msg": "Key Words Not Found"}), "robot", "robot of ops")
    assert CODES.answer(httpx.Response(200, json={"StatusCode": 0, "StatusMessage": "success"}), "robot", "x")
