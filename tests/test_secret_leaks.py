"""No credential the configuration holds leaves `nm run` or reaches its state, in any encoding.

`nm run` (a real process, at DEBUG) sends to an endpoint that refuses every request and echoes what it got:
the request target with its query, the Authorization header, the credential decoded, URL-encoded and in
base64. The credentials are a Secret's bearer token and basic-auth password, an inline bearer token, and a
URL's own `user:password@` and `?token=`. Then every way out is read (`tests.leakcheck`): the log,
`/api/v2/verify` for each receiver, `/api/v2/status`, `/metrics`, the history (`/api/v2/history`, `nm history`),
the operator's page `/ui`, the console API's GETs, `/api/v2/route` and `nm route`, `nm deliveries`, and the
bytes of every file of the state dir. `test_secret_leaks_channels.py` does the same for the channel plugins.
"""

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from aiohttp import web

from tests.conftest import WebhookSink
from tests.leakcheck import admin_answers, b64, cli_answers, deliveries, forbidden, found_leaks, state_files
from tests.support import nm_run, wait_for

GV = "notification.kubesphere.io/v1alpha1"

TOKEN = "Bearer-Tok/en+1=="
PASSWORD = "p@ss w0rd/+x"
INLINE = "inline-T0ken-xyz/+"
URL_PASSWORD = "url-pa55word"
QUERY_TOKEN = "q/tok+value"
PAIRS = (f"nm-user:{PASSWORD}", f"hook-user:{URL_PASSWORD}")


FORBIDDEN = forbidden((TOKEN, PASSWORD, INLINE, URL_PASSWORD, QUERY_TOKEN, *PAIRS))


class EchoServer:
    """Refuses every request (400, or 500 for /basic so that one stays pending) and says what it received."""

    def __init__(self) -> None:
        self.requests = 0

    async def echo(self, request: web.Request) -> web.Response:
        self.requests += 1
        auth = request.headers.get("Authorization", "")
        scheme, _, credential = auth.partition(" ")
        decoded = base64.b64decode(credential).decode() if scheme == "Basic" else credential
        user, _, password = decoded.partition(":")
        text = (f"refused {request.path_qs} with {auth}: credential {decoded} (user {user}, password {password}), "
                f"urlencoded {quote(decoded, safe='')} {quote_plus(password)}, base64 {b64(decoded)} {b64(password)}")
        return web.Response(status=500 if request.path == "/basic" else 400, text=text)


def manifests(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    secret_ref = "{{valueFrom: {{secretKeyRef: {{name: hook-secrets, key: {key}}}}}}}"

    def receiver(name: str, url: str, http_config: str = "") -> str:
        spec = f'url: "{url}"' + (f", httpConfig: {http_config}" if http_config else "")
        return f"""---
apiVersion: {GV}
kind: WebhookReceiver
metadata: {{name: {name}, labels: {{type: global}}}}
spec: {{{spec}}}
"""

    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: hook-secrets}}
stringData: {{token: "{TOKEN}", password: "{PASSWORD}"}}
""" + receiver("bearer-hook", f"{base}/bearer", "{bearerToken: " + secret_ref.format(key="token") + "}") \
        + receiver("basic-hook", f"{base}/basic",
                   "{basicAuth: {username: nm-user, password: " + secret_ref.format(key="password") + "}}") \
        + receiver("inline-hook", f"{base}/inline", f'{{bearerToken: {{value: "{INLINE}"}}}}') \
        + receiver("query-hook", f"http://hook-user:{URL_PASSWORD}@127.0.0.1:{port}/query?token="
                                 f"{quote(QUERY_TOKEN, safe='')}&n=1")


@pytest.fixture
def echo() -> Iterator[tuple[EchoServer, WebhookSink]]:
    server = EchoServer()
    with WebhookSink(handler=server.echo) as sink:
        yield server, sink


def test_no_credential_leaves_the_process_in_any_form(tmp_path: Path, echo: tuple[EchoServer, WebhookSink]) -> None:
    echo_server, sink = echo
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    (config / "hooks.yaml").write_text(manifests(sink.port))
    alert = [{"labels": {"alertname": "Leak", "namespace": "demo"}}]
    with nm_run(tmp_path, "--config-dir", str(config), "--state-dir", str(state), log_level="DEBUG") as nm:
        url = nm.url
        assert httpx.post(f"{url}/api/v2/alerts", json=alert, timeout=10).status_code == 200
        wait_for(lambda: echo_server.requests >= 4, "a send to every receiver")
        answers = [httpx.post(f"{url}/api/v2/verify", json={"receiver": name}, timeout=30).text
                   for name in ("bearer-hook", "basic-hook", "inline-hook", "query-hook")]
        wait_for(lambda: _settled(state), "the first attempts recorded")
        wait_for(lambda: len(httpx.get(f"{url}/api/v2/history", timeout=10).json()["history"]) == 3,
                 "the dead letters' history written")
        outputs = admin_answers(url, alert)
    outputs |= cli_answers(state, config, alert, tmp_path) | state_files(state)
    outputs["log"] = nm.log_text()
    outputs["verify"] = "\n".join(answers)

    assert all("refused" in answer for answer in answers), answers  # the endpoint's words did come back
    for where in ("nm deliveries --json", "history", "nm history --json", "ui"):
        assert "refused /" in outputs[where], f"{where} quotes the endpoint"
    leaked = found_leaks(outputs, FORBIDDEN)
    assert not leaked, "\n".join(f"{where}: {hit}" for where, hits in leaked.items() for hit in hits)


def _settled(state: Path) -> bool:
    """Three dead letters and the one pending delivery with its last error, as `nm deliveries` reads them."""
    found = deliveries(state)
    return len(found.get("dead_letters", [])) == 3 and any(
        (p.get("last_error") or "").startswith("webhook") for p in found.get("pending", []))
