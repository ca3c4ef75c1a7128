"""The README's "Writing a channel plugin" shows a whole channel that works: the module it shows is
examples/nm_ntfy's, as it is, and loaded from the README it sends through the Manager to a fake ntfy server,
split within its declared limit, with the token from a Secret. (The example's own tests run with the kit in
`nox -s plugin`.)"""

import json
import re
import types
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from nmcore import AlertGroup, Manager
from nmcore.testing import alert, serving

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
SHOWN = re.compile(r"```python\n# examples/nm_ntfy/nm_ntfy/__init__.py\n(.*?)```", re.S)


def readme_module() -> str:
    (source,) = SHOWN.findall((ROOT / "README.md").read_text())
    return source


def test_the_readme_shows_the_example_module_as_it_is() -> None:
    assert readme_module() == (ROOT / "examples" / "nm_ntfy" / "nm_ntfy" / "__init__.py").read_text()


def readme_channel() -> types.ModuleType:
    module = types.ModuleType("nm_ntfy")
    exec(compile(readme_module(), "README.md#nm_ntfy", "exec"), module.__dict__)
    return module


MANIFESTS = """
apiVersion: v1
kind: Secret
metadata: {{name: ntfy}}
stringData: {{token: tk_secret}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: NtfyConfig
metadata: {{name: default, labels: {{type: default}}}}
spec: {{server: "{url}", tokenSecret: {{name: ntfy, key: token}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: NtfyReceiver
metadata: {{name: ops, labels: {{type: global}}}}
spec: {{topics: [alerts]}}
"""


async def test_the_readme_channel_sends_through_the_manager() -> None:
    received: list[tuple[str, str, str]] = []

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        received.append((body["topic"], request.headers["Authorization"], body["message"]))
        return web.Response(text=json.dumps({"id": "m1", "event": "message"}), content_type="application/json")

    app = web.Application()
    app.router.add_post("/", publish)
    ntfy = readme_channel()
    alerts = [alert(namespace="demo", annotations={"summary": "x" * 300}, pod=f"p{i:03}") for i in range(30)]
    async with serving(app) as url, Manager.from_yaml(MANIFESTS.format(url=url), plugins=[ntfy]) as manager:
        await manager.submit(AlertGroup(alerts=tuple(alerts)))
        with anyio.fail_after(20):
            await manager.drain()
    assert [o.ok for o in manager.outcomes] == [True], [o.error for o in manager.outcomes]
    assert len(received) > 1, "a long notification is cut within the declared 4096 bytes"
    assert {(topic, auth) for topic, auth, _ in received} == {("alerts", "Bearer tk_secret")}
    assert all(len(body.encode()) <= 4096 for _, _, body in received)
    text = "".join(body for _, _, body in received)
    first_seen = [text.find(f"pod = p{i:03}") for i in range(30)]
    assert -1 not in first_seen and first_seen == sorted(first_seen), "every alert arrives, in order"
