"""Configuration problems as Kubernetes Events on the object at fault, so `kubectl describe` shows them.

Each problem is posted once, in the background: a slow or failing API server never holds up a reload. The
Event's name is derived from the object's uid and the message, so a problem seen again (after it was fixed
and broken again, or by a restarted nmcore) updates its Event instead of adding another one.
"""

import hashlib
import logging
import os
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from nmcore.snapshot import Problem

log = logging.getLogger(__name__)

REASON = "InvalidConfiguration"
MAX_MESSAGE = 1024
QUEUE_SIZE = 1000


CLUSTER_EVENTS_NAMESPACE = "default"
"""Where Kubernetes wants the Events of cluster-scoped objects (v2beta2 kinds), as it keeps those of Nodes."""


class EventRecorder:
    """Posts problems about objects in `namespace` (where nmcore may create Events) and about cluster-scoped
    objects (v2beta2), whose Events go to "default"; problems about other namespaces' objects are only logged."""

    def __init__(self, namespace: str, component: str = "nmcore"):
        self.namespace = namespace
        self.component = component
        self.instance = os.environ.get("POD_NAME") or socket.gethostname()
        self._send, self._receive = anyio.create_memory_object_stream[tuple[Problem, Mapping[str, Any]]](QUEUE_SIZE)

    def report(self, problem: Problem, obj: Mapping[str, Any]) -> None:
        if (obj.get("metadata") or {}).get("namespace") not in (self.namespace, "", None):
            return
        try:
            self._send.send_nowait((problem, obj))
        except anyio.WouldBlock:
            log.warning("too many configuration problems to post as Events; not posting: %s", problem)

    async def run(self, client: ApiClient) -> None:
        api = CoreV1Api(client)
        async with self._receive:
            async for problem, obj in self._receive:
                await self._post(api, problem, obj)

    async def _post(self, api: CoreV1Api, problem: Problem, obj: Mapping[str, Any]) -> None:
        event = event_for(problem, obj, self.component, self.instance)
        name, namespace = event["metadata"]["name"], event["metadata"]["namespace"]
        try:
            try:
                await api.create_namespaced_event(namespace, event)  # type: ignore[arg-type] # dicts are fine
            except ApiException as exc:
                if exc.status != 409:
                    raise
                await api.patch_namespaced_event(name, namespace, {
                    "message": event["message"], "lastTimestamp": event["lastTimestamp"]})
        except Exception as exc:
            status = getattr(exc, "status", None)
            log.warning("could not post Event %s on %s: %s", name, problem.origin,
                        f"HTTP {status} {getattr(exc, 'reason', '')}" if status else exc)


def event_for(problem: Problem, obj: Mapping[str, Any], component: str, instance: str) -> dict[str, Any]:
    """A core v1 Warning Event about `obj`, named after the object so `kubectl get events` groups them; one
    about a cluster-scoped object goes to the "default" namespace, as Kubernetes requires."""
    meta = obj["metadata"]
    digest = hashlib.sha256(f"{meta.get('uid', '')}\0{problem.message}".encode()).hexdigest()[:16]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name'][:200]}.{digest}",
                     "namespace": meta.get("namespace") or CLUSTER_EVENTS_NAMESPACE},
        "involvedObject": {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": meta["name"],
            "namespace": meta.get("namespace", ""),
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "reason": REASON,
        "message": problem.message[:MAX_MESSAGE],
        "type": "Warning",
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": instance,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
