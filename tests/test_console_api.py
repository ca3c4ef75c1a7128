"""The KubeSphere console's HTTP API over a real socket, with the Go original's paths and bodies: verify a Receiver
being edited (not saved), send alerts now, and the cache dumps, never showing a credential's value."""

from collections.abc import AsyncIterator

import anyio
import attrs
import httpx
import nm_email
import pytest
import uvicorn
import yaml
from aiohttp import web

from nmcore.manager import Manager
from nmcore.server import _Server, create_app
from nmcore.testing import serving
from nmcore.verify import ALERTNAME
from tests.conftest import WebhookSink
from tests.v2support import DEFAULT, GLOBAL, V2, rolebinding, secret, smtp_server, tenant, v2

pytestmark = pytest.mark.anyio

INLINE_PASSWORD = "inline-pw-5150"


def saved(sink: WebhookSink, smtp_port: int) -> str:
    return (v2("Config", "default-config", DEFAULT, email={
                "from": "nm@example.com", "smartHost": {"host": "127.0.0.1", "port": smtp_port}})
            + v2("Config", "bob-config", tenant("bob"), email={
                "from": "bob@example.com", "smartHost": {"host": "127.0.0.1", "port": smtp_port}})
            + v2("Receiver", "alice", tenant("alice"), webhook={
                "url": sink.url("alice-saved"), "httpConfig": {"bearerToken": {"value": INLINE_PASSWORD}}},
                 email={"to": ["alice@example.com"]})
            + v2("Receiver", "ops", GLOBAL, webhook={"url": sink.url("ops")})
            + secret("hook-token", token="secret-token-77") + rolebinding("demo", "alice"))


@attrs.frozen
class Api:
    client: httpx.AsyncClient
    sink: WebhookSink
    mails: list
    smtp_port: int


@pytest.fixture
async def api(sink: WebhookSink) -> AsyncIterator[Api]:
    with smtp_server() as (port, smtp):
        manager = Manager.from_yaml(saved(sink, port), plugins=[nm_email])
        server = _Server(uvicorn.Config(create_app(manager), host="127.0.0.1", port=0, log_config=None,
                                        lifespan="off"))
        async with manager, anyio.create_task_group() as tasks:
            tasks.start_soon(server.serve)
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.01)
            url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield Api(client, sink, smtp.messages, port)
            server.should_exit = True


def receiver_object(name: str, labels: dict, **spec: object) -> dict:
    return {"apiVersion": V2, "kind": "Receiver", "metadata": {"name": name, "labels": labels}, "spec": spec}


async def test_verify_sends_to_the_unsaved_receiver_only_with_the_channels_verdict(api: Api) -> None:
    client, sink, mails = api.client, api.sink, api.mails
    body = {"receiver": receiver_object("being-edited", tenant("alice"), webhook={"url": sink.url("edited")})}
    answer = await client.post("/api/v2/verify", json=body)
    assert answer.status_code == 200
    assert answer.json()["Status"] == 200 and answer.json()["Message"] == "Verify successfully"
    [result] = answer.json()["results"]
    assert (result["receiver"], result["ok"]) == ("Receiver/being-edited:webhook", True)
    [delivered] = sink.bodies("edited")
    assert [a["labels"]["alertname"] for a in delivered["alerts"]] == [ALERTNAME]
    assert [r["path"] for r in sink.received] == ["/edited"] and mails == [], "nobody else got anything"


async def test_verify_with_the_config_given_or_the_one_selection_would_choose(api: Api) -> None:
    client, mails = api.client, api.mails
    edited = receiver_object("new-mail", tenant("alice"), email={"to": ["new@example.com"]})
    chosen = await client.post("/api/v2/verify", json={"receiver": edited})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["results"][0]["config"] == "Config/default-config:email"
    given = {"apiVersion": V2, "kind": "Config", "metadata": {"name": "typed-in", "labels": tenant("alice")},
             "spec": {"email": {"from": "typed@example.com", "smartHost": {"host": "127.0.0.1",
                                                                          "port": api.smtp_port}}}}
    with_config = await client.post("/api/v2/verify", json={"receiver": edited, "config": given})
    assert with_config.status_code == 200, with_config.text
    assert with_config.json()["results"][0]["config"] == "Config/typed-in:email"
    assert [m["From"] for _, m in mails] == ["nm@example.com", "typed@example.com"]
    assert all(to == ["new@example.com"] for to, _ in mails)


async def test_another_tenants_config_is_refused_as_selection_refuses_it(api: Api) -> None:
    client, mails = api.client, api.mails
    edited = receiver_object("x", tenant("alice"), email={"to": ["x@example.com"]})
    bobs = {"apiVersion": V2, "kind": "Config", "metadata": {"name": "bob-config", "labels": tenant("bob")},
            "spec": {"email": {"from": "bob@example.com", "smartHost": {"host": "127.0.0.1", "port": 25}}}}
    answer = await client.post("/api/v2/verify", json={"receiver": edited, "config": bobs})
    assert answer.status_code == 400 and answer.json()["Status"] == 400
    assert "belongs to tenant 'bob'" in answer.json()["Message"] and mails == []


@pytest.mark.parametrize(("body", "message"), [
    ({"receiver": receiver_object("x", {"team": "a"}, webhook={"url": "http://x"})}, "unknown tenant"),
    ({"receiver": receiver_object("x", GLOBAL, webhook={"url": "http://x", "service": {"name": "a",
                                                                                        "namespace": "b"}})},
     "give url or service, not both @ $.receiver.spec.webhook"),
    ({"receiver": receiver_object("x", GLOBAL, pager={"to": "me"})},
     "unknown channel block 'pager'"),
    ({"receiver": receiver_object("x", GLOBAL, dingtalk={})},
     "no plugin provides the 'dingtalk' channel: pip install nm-dingtalk @ $.receiver.spec.dingtalk"),
])
async def test_a_receiver_that_cannot_be_used_gets_a_located_400(api: Api, body: dict, message: str) -> None:
    client, sink = api.client, api.sink
    answer = await client.post("/api/v2/verify", json=body)
    assert answer.status_code == 400 and message in answer.json()["Message"], answer.text
    assert sink.received == []


async def test_a_failed_send_answers_400_with_the_channels_verdict_and_no_secret(api: Api) -> None:
    client = api.client

    async def reject(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"token {request.headers['Authorization'].split()[-1]} is revoked")

    app = web.Application()
    app.router.add_post("/hook", reject)
    async with serving(app) as base:
        for token in ({"value": "typed-token-42"},
                      {"valueFrom": {"secretKeyRef": {"name": "hook-token", "key": "token"}}}):
            edited = receiver_object("x", GLOBAL, webhook={"url": f"{base}/hook", "httpConfig": {"bearerToken": token}})
            answer = await client.post("/api/v2/verify", json={"receiver": edited})
            assert answer.status_code == 400 and "HTTP 401" in answer.json()["Message"]
            assert "<redacted> is revoked" in answer.json()["Message"]
            assert "typed-token-42" not in answer.text and "secret-token-77" not in answer.text


async def test_notifications_sends_the_alerts_given_now(api: Api) -> None:
    client, sink = api.client, api.sink
    alert = {"status": "firing", "labels": {"alertname": "KubePodCrashLooping", "namespace": "pp1"},
             "annotations": {"message": "restarting"}, "startsAt": "2020-02-26T07:05:04.989876849Z"}
    body = {"receiver": receiver_object("now", GLOBAL, webhook={"url": sink.url("now")}),
            "alert": {"receiver": "Critical", "status": "firing", "alerts": [alert]}}
    answer = await client.post("/api/v2/notifications", json=body)
    assert answer.status_code == 200 and answer.json()["Message"] == "Send alerts successfully"
    [delivered] = sink.bodies("now")
    assert [a["labels"]["alertname"] for a in delivered["alerts"]] == ["KubePodCrashLooping"]
    by_name = await client.post("/api/v2/notifications", json={"receiver": "ops", "alert": {"alerts": [alert]}})
    assert by_name.status_code == 200 and len(sink.bodies("ops")) == 1
    missing = await client.post("/api/v2/notifications", json={"receiver": "ops"})
    assert missing.status_code == 400 and missing.json() == {"Status": 400, "Message": "alert is nil", "results": []}


async def test_the_cache_dumps_filter_by_tenant_type_and_name_and_hide_credentials(api: Api) -> None:
    client = api.client
    everything = (await client.get("/receivers")).json()
    assert sorted(everything) == ["email/alice", "webhook/alice", "webhook/ops"]
    assert everything["webhook/ops"]["tenantID"] == "notification-manager/type/global"
    assert everything["email/alice"]["to"] == ["alice@example.com"]
    assert everything["email/alice"]["type"] == "email" and everything["email/alice"]["enable"] is True
    assert sorted((await client.get("/receivers", params={"tenant": "alice", "type": "webhook"})).json()) == [
        "webhook/alice"]
    assert sorted((await client.get("/receivers", params={"user": "global"})).json()) == ["webhook/ops"]
    configs = (await client.get("/configs", params={"type": "email"})).json()
    assert sorted(configs) == ["email/bob-config", "email/default-config"]
    assert everything["webhook/alice"]["httpConfig"]["bearerToken"] == {"value": "<redacted>"}
    assert configs["email/default-config"]["tenantID"] == "notification-manager/type/default"
    [alice_mail] = (await client.get("/receiverWithConfig", params={"name": "alice", "type": "email"})).json()
    assert alice_mail["config"]["name"] == "default-config" and alice_mail["tenantID"] == "alice"
    dumps = [(await client.get(path)).text for path in ("/receivers", "/configs", "/receiverWithConfig")]
    assert not any(INLINE_PASSWORD in text for text in dumps)


async def test_the_original_documentations_verify_body_works(api: Api) -> None:
    """The request of docs/api/_index.md, its placeholders filled in (its trailing commas are not JSON; its
    authUsername and authPassword left out: the test's SMTP server has no TLS, and nm never logs in without it)."""
    client, mails = api.client, api.mails
    body = yaml.safe_load(f"""
config:
  apiVersion: notification.kubesphere.io/v2beta2
  kind: Config
  metadata: {{name: test-user-config, labels: {{app: notification-manager, type: default}}}}
  spec:
    email:
      from: sender@example.com
      requireTLS: false
      smartHost: {{host: 127.0.0.1, port: {api.smtp_port}}}
receiver:
  apiVersion: notification.kubesphere.io/v2beta2
  kind: Receiver
  metadata: {{name: test-user-receiver, labels: {{app: notification-manager, type: global}}}}
  spec:
    email:
      to: [someone@example.com]
""")
    answer = await client.post("/api/v2/verify", json=body)
    assert answer.json()["Message"] == "Verify successfully", answer.text
    assert [to for to, _ in mails] == [["someone@example.com"]]


async def test_an_unsaved_tenant_receiver_naming_a_secret_it_does_not_own_is_refused_unsent(api: Api) -> None:
    """The console's objects follow the ownership rule of saved ones: alice's edited Receiver may not carry the
    administrator's Secret (no user label) to her URL."""
    edited = receiver_object("x", tenant("alice"), webhook={"url": api.sink.url("alice"), "httpConfig": {
        "bearerToken": {"valueFrom": {"secretKeyRef": {"name": "hook-token", "key": "token"}}}}})
    answer = await api.client.post("/api/v2/verify", json={"receiver": edited})
    assert answer.status_code == 400, answer.text
    message = answer.json()["Message"]
    assert "belongs to no tenant" in message and "alice's objects may use only Secrets labelled user: alice" in message
    assert "@ $.receiver.spec.httpConfig.bearerToken" in answer.json()["Message"]
    assert api.sink.received == [] and "secret-token-77" not in answer.text
