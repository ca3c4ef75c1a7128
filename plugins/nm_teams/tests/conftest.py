"""A fake of a Teams Workflows webhook ("Send webhook alerts to a channel") on 127.0.0.1, as it behaves.

The trigger checks its workflow ID and `sig` (401 without or with a wrong one, 404 for a deleted workflow, 409
when the workflow is turned off, 429 with `Retry-After` when throttled) and answers 202 Accepted; then the
flow runs and posts each Adaptive Card attachment to the channel, or fails in the run history, as the real
one does, when a card is not an Adaptive Card or the message is over Teams' 28 KB limit.
"""

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import nm_teams
import pytest
from aiohttp import web

from nmcore.testing import running_sender, serving

WORKFLOW, SIG = "b840a60a611b4d3287be6d76fe1930e2", "Kx9-uQm3Zs0_never-show-this-sig"
MAX_MESSAGE = 28_000


@attrs.define
class Card:
    content: dict[str, Any]

    @property
    def texts(self) -> list[str]:
        """Every TextBlock's text and every fact as `title: value`, in order (containers included)."""
        found: list[str] = []

        def walk(elements: list[dict[str, Any]]) -> None:
            for element in elements:
                if element.get("type") == "TextBlock":
                    found.append(element["text"])
                elif element.get("type") == "FactSet":
                    found.extend(f"{f['title']}: {f['value']}" for f in element["facts"])
                walk(element.get("items", []))

        walk(self.content.get("body", []))
        return found

    @property
    def mentioned(self) -> list[str]:
        """Who Teams notifies: entities whose text appears in the card."""
        text = "\n".join(self.texts)
        return [e["mentioned"]["id"] for e in self.content.get("msteams", {}).get("entities", [])
                if e.get("type") == "mention" and e.get("text") in text]


@attrs.define
class FakeWorkflows:
    workflows: dict[str, str] = attrs.field(factory=lambda: {WORKFLOW: SIG})
    """Workflow ID → its trigger's sig."""
    disabled: set[str] = attrs.field(factory=set)
    throttle: int = 0
    """Answer this many calls with 429 and Retry-After, once `throttle_after` more were handled."""
    throttle_after: int = 0
    throttle_wait: int = 2
    posted: list[Card] = attrs.field(factory=list)
    failed_runs: list[str] = attrs.field(factory=list)
    raw: list[str] = attrs.field(factory=list)
    """The bodies the flow posted, as sent: what Teams' size limit measures."""
    url: str = ""

    def rate_limit(self, retry_after: int) -> None:
        self.throttle, self.throttle_after, self.throttle_wait = 1, 0, retry_after

    def texts(self) -> list[str]:
        return list(self.raw)

    def webhook_url(self, workflow: str = WORKFLOW, sig: str | None = None) -> str:
        sig = self.workflows.get(workflow, "x") if sig is None else sig
        return (f"{self.url}/powerautomate/automations/direct/workflows/{workflow}/triggers/manual/paths/invoke"
                f"?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}")

    async def invoke(self, request: web.Request) -> web.Response:
        workflow = request.match_info["workflow"]
        if "sig" not in request.query:
            return _error(401, "DirectApiAuthorizationRequired",
                          "The request must be authenticated only by Shared Access scheme.")
        if workflow not in self.workflows:
            return _error(404, "WorkflowNotFound", f"The workflow '{workflow}' could not be found.")
        if request.query["sig"] != self.workflows[workflow]:
            return _error(401, "DirectApiInvalidAuthorizationSignature",
                          "The provided authorization signature is not valid.")
        if workflow in self.disabled:
            return _error(409, "WorkflowTriggerIsNotEnabled", f"The workflow '{workflow}' is not enabled.")
        if self.throttle and self.throttle_after:
            self.throttle_after -= 1
        elif self.throttle:
            self.throttle -= 1
            return _error(429, "WorkflowRequestsThrottled",
                          f"Rate limit is exceeded. Try again in {self.throttle_wait} seconds.",
                          headers={"Retry-After": str(self.throttle_wait)})
        raw = await request.read()
        self._run(raw)
        return web.Response(status=202)

    def _run(self, raw: bytes) -> None:
        """The flow, after the 202: post each card, or fail in the run history."""
        body = json.loads(raw)
        attachments = body.get("attachments")
        if not isinstance(attachments, list) or not attachments:
            self.failed_runs.append("the 'foreach' expression '@triggerBody()?['attachments']' is of type 'Null'")
            return
        if len(raw) > MAX_MESSAGE:
            self.failed_runs.append(f"RequestEntityTooLarge: the message is {len(raw)} bytes")
            return
        for attachment in attachments:
            if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
                self.failed_runs.append("the attachment is not an Adaptive Card")
                return
            self.posted.append(Card(attachment["content"]))
        self.raw.append(raw.decode())


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


@pytest.fixture
async def teams() -> AsyncIterator[FakeWorkflows]:
    fake = FakeWorkflows()
    app = web.Application()
    app.router.add_post("/powerautomate/automations/direct/workflows/{workflow}/triggers/manual/paths/invoke",
                        fake.invoke)
    async with serving(app) as fake.url:
        yield fake


@pytest.fixture
async def sender() -> AsyncIterator[nm_teams.TeamsSender]:
    async with running_sender(nm_teams.TeamsSender, "teams") as teams_sender:
        yield teams_sender


@pytest.fixture
def seed() -> Callable[..., str]:
    """`seed_yaml`, for tests (conftest is not importable under --import-mode=importlib)."""
    return seed_yaml


def seed_yaml(webhook_url: str, *, mentions: str = "[]", global_webhook_url: str | None = None) -> str:
    """Shaped like the seed's manifests: a tenant receiver with its own webhook in a Secret, and a global
    receiver posting through the default TeamsConfig's webhook."""
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: test-user-teams, namespace: kubesphere-monitoring-system, labels: {{user: test-user}}}}
stringData: {{webhook: "{webhook_url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsReceiver
metadata:
  name: test-user-teams
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: tenant, user: test-user}}
spec:
  webhook: {{valueFrom: {{secretKeyRef: {{name: test-user-teams, key: webhook}}}}}}
  mentionedUsers: {mentions}
---
apiVersion: v1
kind: Secret
metadata: {{name: default-teams, namespace: kubesphere-monitoring-system}}
stringData: {{webhook: "{global_webhook_url or webhook_url}"}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsConfig
metadata:
  name: default-teams-config
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: default}}
spec:
  webhook: {{valueFrom: {{secretKeyRef: {{name: default-teams, key: webhook}}}}}}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: TeamsReceiver
metadata:
  name: global-teams
  namespace: kubesphere-monitoring-system
  labels: {{app: notification-manager, type: global}}
spec: {{}}
"""
