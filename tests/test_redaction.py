"""The pieces of redaction that the leak tests (test_secret_leaks*.py) rely on, one at a time: what a request carries
as credentials, a send's requests noted through the core's real HTTP client, a webhook URL's token in every form,
a reply's excerpt never ending inside a credential, and the console's view of a URL."""

import base64
import logging
from collections.abc import Iterator
from urllib.parse import quote

import anyio
import pytest
from aiohttp import web

from nmcore.console import public
from nmcore.httpclient import make_http_client
from nmcore.httpfailures import excerpt
from nmcore.redaction import (
    REDACTED,
    Scrubber,
    collecting,
    forms,
    note_secret,
    publish,
    request_secrets,
    withdraw,
)
from tests.conftest import WebhookSink

SIGV4 = ("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEKEY01/20240101/us-east-1/sns/aws4_request, "
         "SignedHeaders=content-type;host;x-amz-date, Signature=" + "5d" * 32)
WSSE = ('UsernameToken Username="huaweiAppKey01",PasswordDigest="ZGlnZXN0LW9mLWl0LWFsbA==",'
        'Nonce="66C92B11FF8A425FB8D4CCFE0ED9ED1F",Created="2024-01-01T00:00:00Z"')


@pytest.mark.parametrize(("url", "headers", "body", "content_type", "carried"), [
    ("https://oapi.dingtalk.com/robot/send?access_token=robotToken0123456789&timestamp=1700000000000"
     "&sign=ab%2Bcd%2Fef%3D%3D", [], b"", "", {"robotToken0123456789", "ab+cd/ef=="}),
    ("https://api.telegram.org/bot7212345678:AAE-token_part-0123456789/sendMessage", [], b"", "",
     {"7212345678:AAE-token_part-0123456789"}),
    ("https://open.feishu.cn/hook", [], b'{"msg_type": "post", "timestamp": "1", "sign": "c2lnbmVkLWJvZHk="}',
     "application/json", {"c2lnbmVkLWJvZHk="}),
    ("https://api.pushover.net/1/messages.json", [], b'{"token": "appTokenValue01", "user": "u", "message": "m"}',
     "application/json; charset=utf-8", {"appTokenValue01"}),
    ("https://dysmsapi.aliyuncs.com/", [], b"AccessKeyId=LTAIkey0001&SignName=KubeSphere&SignatureMethod=HMAC-SHA1"
     b"&Signature=c2lnL%2Bx%3D&TemplateParam=%7B%22code%22%3A%22the%20text%22%7D",
     "application/x-www-form-urlencoded", {"LTAIkey0001", "c2lnL+x="}),
    ("https://sns.us-east-1.amazonaws.com/", [("Authorization", SIGV4)], b"", "", {"AKIAEXAMPLEKEY01", "5d" * 32}),
    ("https://rtcsms.example/sms", [("X-WSSE", WSSE)], b"", "", {"huaweiAppKey01", "ZGlnZXN0LW9mLWl0LWFsbA=="}),
    ("https://open.feishu.cn/batch_send/", [("Authorization", "Bearer t-issuedToken0001")], b"", "",
     {"t-issuedToken0001"}),
    ("https://hooks.example/", [("Authorization", "Basic " + base64.b64encode(b"nm-user:pa55:word").decode())],
     b"", "", {"nm-user:pa55:word", "pa55:word"}),
])
def test_the_credentials_a_request_carries_are_found_and_its_message_is_not(
        url: str, headers: list[tuple[str, str]], body: bytes, content_type: str, carried: set[str]) -> None:
    found = set(request_secrets(url, [("Content-Type", content_type), *headers], body, content_type))
    assert carried <= found
    assert not found & {"post", "m", "the text", '{"code":"the text"}', "KubeSphere", "HMAC-SHA1"}


def test_nested_json_fields_are_searched_and_only_named_ones_taken() -> None:
    body = b'{"card": {"entities": [{"mentioned": {"id": "alice@example.com"}}], "auth": {"api_key": "nested-K3y-1"}}}'
    found = set(request_secrets("https://x.example/", [], body, "application/json"))
    assert "nested-K3y-1" in found and "alice@example.com" not in found


@pytest.fixture
def echo_server() -> Iterator[WebhookSink]:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"refused: signature {request.headers.get('X-Signature', '')} "
                                             f"token {request.query.get('access_token', '')}")

    with WebhookSink(handler=refuse) as server:
        yield server


@pytest.fixture
def scrubbed_log() -> Iterator[tuple[logging.Logger, list[logging.LogRecord]]]:
    """A logger whose records are kept, with the process's record factory installed as `nm run` installs it."""
    owner = logging.Filter()  # any object that can be weakly referenced, as a Manager is
    publish(owner, Scrubber())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield log, records
    finally:
        log.removeHandler(handler)
        withdraw(owner)


@pytest.mark.anyio
async def test_a_send_scrubs_what_its_own_requests_carried_and_only_those(
        echo_server: WebhookSink, scrubbed_log: tuple[logging.Logger, list[logging.LogRecord]]) -> None:
    """Two sends at once through the core's real HTTP client: each one's answer and log records lose the
    signature and token its requests carried, in every form, and neither sees the other's."""
    log, records = scrubbed_log
    answers: dict[str, tuple[str, str]] = {}
    client = make_http_client()

    async def send(name: str, signature: str, token: str) -> None:
        with collecting() as carried:
            response = await client.post(echo_server.url(name), params={"access_token": token},
                                         headers={"X-Signature": signature})
            await anyio.sleep(0.01)  # let the other send's request in meanwhile
            log.info("the service said %s", response.text)
            answers[name] = (response.text, carried.scrub(f"{response.text} / {quote(signature, safe='')} / "
                                                          f"{base64.b64encode(token.encode()).decode()}"))

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(send, "a", "sig+A/derived==", "issued-token-aaaa")
            tasks.start_soon(send, "b", "sig+B/derived==", "issued-token-bbbb")
    finally:
        await client.aclose()
    for name in ("a", "b"):
        raw, scrubbed = answers[name]
        assert f"sig+{name.upper()}/derived==" in raw and f"issued-token-{name * 4}" in raw  # the echo came back
        assert scrubbed == f"refused: signature {REDACTED} token {REDACTED} / {REDACTED} / {REDACTED}"
    other = answers["a"][0].replace("A/", "B/").replace("aaaa", "bbbb")
    with collecting() as outside:
        assert outside.scrub(other) == other  # a send noting nothing hides nothing
    logged = [r.getMessage() for r in records]
    assert logged == [f"the service said refused: signature {REDACTED} token {REDACTED}"] * 2


def test_a_credential_a_send_notes_itself_is_hidden_from_it_in_every_form(
        scrubbed_log: tuple[logging.Logger, list[logging.LogRecord]]) -> None:
    """What a send derives without the core's HTTP client (AUTH PLAIN's line, a CRAM-MD5 answer) and notes is
    hidden from its text and from log records made during it, in every form; outside a send noting does nothing."""
    log, records = scrubbed_log
    blob = base64.b64encode(b"\0nm\0Pass/w0rd+1").decode()
    note_secret(blob)  # no send: nothing to note it for
    with collecting() as carried:
        assert carried.scrub(blob) == blob  # what was noted before the send is not the send's
        note_secret(blob, "1e394d0ae724960b4c457862e1b0b3c3", "")
        for form in forms(blob):
            assert carried.scrub(f"refused {form};") == f"refused {REDACTED};", form
        assert carried.scrub("refused 1e394d0ae724960b4c457862e1b0b3c3") == f"refused {REDACTED}"
        log.info("the server said 535 %s", blob)
    log.info("after the send: %s", blob)
    assert [r.getMessage() for r in records] == [f"the server said 535 {REDACTED}", f"after the send: {blob}"]


def test_a_webhook_urls_token_is_hidden_in_every_form() -> None:
    """A Discord webhook's token (the URL's last segment) in base64 or URL-encoded, as an echo may quote it."""
    token = "Disc0rd-Leak_Token-abcdefghijklmnop"
    scrubber = Scrubber(forms(f"https://discord.com/api/webhooks/123456789012345678/{token}"))
    for form in forms(token):
        assert scrubber.scrub(f"got {form}.") == f"got {REDACTED}.", form


@pytest.mark.parametrize("credential", ["7212345678:AAE-Leak_Telegram0123456789", "c2lnbmF0dXJlLW9mLWl0==",
                                        "https://hook.example/x?token=abcdef0123"])
def test_an_excerpt_never_ends_inside_a_credential(credential: str) -> None:
    """Cut anywhere inside it, no part of it is kept: the scrubber hides only whole values."""
    for before in range(1, len(credential)):  # the cut (at 199 characters, then "…") leaves `before` of it
        padding = "x" * (198 - before)
        assert excerpt(f"{padding} {credential} and more") == f"{padding}…", before


def test_the_console_shows_a_url_without_its_query_values_password_or_token() -> None:
    shown = public({"url": "https://hook-user:pw0rd-123@hooks.example/T0123456789ABCDEFG/in?token=q%2Ftok%2Bv&n=1"})
    assert shown == {"url": f"https://hook-user:{REDACTED}@hooks.example/{REDACTED}/in?token={REDACTED}&n={REDACTED}"}
