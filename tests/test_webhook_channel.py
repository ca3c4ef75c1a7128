"""The built-in webhook channel against real HTTP(S) servers: body, auth, failure classes, TLS."""

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from nmcore.alerts import Alert, Notification
from nmcore.builtins.webhook import WebhookSender
from nmcore.channel import PermanentError, TransientError
from nmcore.testing import EndlessReply, alert, running_sender, send_request, serving, snapshot_from_yaml

pytestmark = pytest.mark.anyio
NS = "kubesphere-monitoring-system"


class Endpoint:
    def __init__(self) -> None:
        self.requests: list[tuple[dict, dict]] = []
        self.answer: tuple[int, dict[str, str]] = (200, {})

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        status, headers = self.answer
        return web.Response(status=status, headers=headers, text="nope" if status >= 300 else "ok")


def app_of(endpoint: Endpoint) -> web.Application:
    app = web.Application()
    app.router.add_post("/hook", endpoint.handle)
    return app


@pytest.fixture
async def endpoint() -> AsyncIterator[tuple[Endpoint, str]]:
    hook = Endpoint()
    async with serving(app_of(hook)) as base:
        yield hook, f"{base}/hook"


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:

    async with running_sender(WebhookSender, "webhook") as webhook:
        yield webhook


def receiver(url: str, http_config: str = "{}") -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: creds, labels: {{user: alice}}}}
stringData: {{token: tok-123, password: pw-456}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookReceiver
metadata: {{name: hook, labels: {{type: tenant, user: alice}}}}
spec: {{url: "{url}", httpConfig: {http_config}}}
"""


REF = f"WebhookReceiver/{NS}/hook"


async def test_posts_the_alertmanager_shape_with_receiver_and_tenant(endpoint, sender) -> None:  # type: ignore[no-untyped-def]
    hook, url = endpoint
    snapshot = snapshot_from_yaml(receiver(url, "{bearerToken: {valueFrom: {secretKeyRef: {name: creds, key: token}}}}"))
    await sender.send(send_request(snapshot, REF, [alert(namespace="team-a", pod="web-1")]))
    [(headers, body)] = hook.requests
    assert headers["Authorization"] == "Bearer tok-123"
    assert body["receiver"] == REF and body["tenant"] == "alice" and body["version"] == "4"
    assert body["alerts"][0]["labels"] == {"alertname": "TestAlert", "namespace": "team-a", "pod": "web-1"}
    assert body["commonLabels"]["namespace"] == "team-a"


label_maps = st.lists(st.dictionaries(st.sampled_from("abcde"), st.sampled_from("xyz"), max_size=5), min_size=1, max_size=6)


@given(maps=label_maps)
def test_common_labels_are_exactly_the_pairs_every_alert_has(maps: list[dict[str, str]]) -> None:
    notification = Notification(receiver=REF, channel="webhook", tenant="", alerts=tuple(
        Alert(labels=m, annotations=m) for m in maps))
    expected = {k: v for k, v in maps[0].items() if all(m.get(k) == v for m in maps)}
    assert notification.common_labels == expected == notification.common_annotations
    assert list(notification.common_labels) == [k for k in maps[0] if k in expected], "the first alert's order"


async def test_basic_auth(endpoint, sender) -> None:  # type: ignore[no-untyped-def]
    hook, url = endpoint
    auth = "{basicAuth: {username: nm, password: {valueFrom: {secretKeyRef: {name: creds, key: password}}}}}"
    await sender.send(send_request(snapshot_from_yaml(receiver(url, auth)), REF))
    assert hook.requests[0][0]["Authorization"] == "Basic bm06cHctNDU2"  # nm:pw-456


@pytest.mark.parametrize(("status", "headers", "error", "retry_after"), [
    (500, {}, TransientError, None),
    (503, {"Retry-After": "7"}, TransientError, 7.0),
    (429, {"Retry-After": "3"}, TransientError, 3.0),
    (404, {}, PermanentError, None),
    (401, {}, PermanentError, None),
])
async def test_non_2xx_answers_are_classified(endpoint, sender, status, headers, error, retry_after) -> None:  # type: ignore[no-untyped-def]
    hook, url = endpoint
    hook.answer = (status, headers)
    with pytest.raises(error) as failure:
        await sender.send(send_request(snapshot_from_yaml(receiver(url)), REF))
    assert f"answered HTTP {status}: nope" in str(failure.value)
    assert failure.value.retry_after == retry_after


async def test_an_unreachable_endpoint_is_transient(sender) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TransientError, match="unreachable"):
        await sender.send(send_request(snapshot_from_yaml(receiver("http://127.0.0.1:9/hook")), REF))


async def test_tls_is_verified_against_the_configured_root_ca(sender) -> None:  # type: ignore[no-untyped-def]
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    hook = Endpoint()
    async with serving(app_of(hook), tls=server_context) as base:
        url = f"{base}/hook"
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):  # self-signed: refused by default
            await sender.send(send_request(snapshot_from_yaml(receiver(url)), REF))
        pem = ca.cert_pem.bytes().decode().replace("\n", "\\n")
        await sender.send(send_request(snapshot_from_yaml(receiver(url, f'{{tlsConfig: {{rootCA: {{value: "{pem}"}}}}}}')), REF))
        await sender.send(send_request(snapshot_from_yaml(receiver(url, "{tlsConfig: {insecureSkipVerify: true}}")), REF))
        assert len(hook.requests) == 2


async def test_a_receivers_own_url_gets_only_its_own_credentials(endpoint, sender) -> None:  # type: ignore[no-untyped-def]
    hook, url = endpoint
    snapshot = snapshot_from_yaml(receiver(url) + """---
apiVersion: notification.kubesphere.io/v1alpha1
kind: WebhookConfig
metadata: {name: default, labels: {type: default}}
spec: {url: "http://ops.example", httpConfig: {bearerToken: {valueFrom: {secretKeyRef: {name: creds, key: token}}}}}
""")
    await sender.send(send_request(snapshot, REF))
    assert "Authorization" not in hook.requests[0][0]


REPLY_READ_BOUND = 32 * 1024 * 1024
"""What a bounded reader may have taken off a 10 GB reply: the bound plus what the sockets buffer in between."""


@pytest.mark.parametrize("status", [500, 200])
async def test_a_huge_reply_body_is_never_read_whole(sender, status) -> None:  # type: ignore[no-untyped-def]
    server = EndlessReply(status, content_type="text/plain")
    async with serving(server.app()) as base:
        request = send_request(snapshot_from_yaml(receiver(f"{base}/hook")), REF)
        if status == 500:
            with pytest.raises(TransientError) as failure:
                await sender.send(request)
            message = str(failure.value)
            assert message.startswith(f"webhook {base}/hook answered HTTP 500: garbage")
            assert len(message) < 300, "the error quotes a short excerpt of the body"
        else:
            await sender.send(request)  # delivered: the body of a 2xx is not needed
    assert server.requests == 1
    assert server.written < REPLY_READ_BOUND, f"{server.written:,} bytes of the reply were taken"
