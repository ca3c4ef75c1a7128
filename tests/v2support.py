"""Shared pieces of the v2beta2 tests: manifests written the way the KubeSphere console writes them, and a real
SMTP server (aiosmtpd in a thread) that keeps what it receives."""

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import yaml
from aiosmtpd.controller import Controller

from tests.support import free_port

V2 = "notification.kubesphere.io/v2beta2"
NS = "kubesphere-monitoring-system"


def v2(kind: str, name: str, labels: dict[str, str] | None = None, **spec: Any) -> str:
    """One v2beta2 object as YAML (a document of its own)."""
    body = {"apiVersion": V2, "kind": kind, "metadata": {"name": name, "labels": labels or {}}, "spec": spec}
    return "---\n" + yaml.safe_dump(body, sort_keys=False)


def tenant(user: str) -> dict[str, str]:
    return {"type": "tenant", "user": user}


GLOBAL = {"type": "global"}
DEFAULT = {"type": "default"}


def secret(name: str, namespace: str = NS, **values: str) -> str:
    body = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": values}
    return "---\n" + yaml.safe_dump(body, sort_keys=False)


def rolebinding(namespace: str, *users: str) -> str:
    body = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": f"{namespace}-viewers", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": u, "apiGroup": "rbac.authorization.k8s.io"} for u in users]}
    return "---\n" + yaml.safe_dump(body, sort_keys=False)


def from_secret(name: str, key: str, namespace: str | None = None) -> dict[str, Any]:
    ref = {"name": name, "key": key} | ({"namespace": namespace} if namespace else {})
    return {"valueFrom": {"secretKeyRef": ref}}


class _Keep:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, _Keep]]:
    """A real SMTP server on 127.0.0.1 (no TLS, no AUTH): its port and what it received."""
    keep = _Keep()
    controller = Controller(keep, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, keep
    finally:
        controller.stop()
