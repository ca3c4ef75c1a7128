"""nmcore inside another program: configuration built in code, a channel registered in code, alerts fed
directly. No HTTP server, no files, no Kubernetes.

    python examples/embed.py
"""

import anyio
import attrs

from nmcore import Alert, AlertGroup, Document, Manager, PluginHost, StaticSource
from nmcore.sdk import ChannelSpec, LabelSelector, RegisterChannel, SendRequest, hookimpl


@attrs.frozen(kw_only=True)
class ConsoleConfig:
    prefix: str = ">>"


@attrs.frozen(kw_only=True)
class ConsoleReceiver:
    config_selector: LabelSelector | None = None


class ConsoleChannel:
    """A channel of this program's own: prints each notification. A real one would call a service."""

    def __init__(self) -> None:
        self.printed: list[str] = []

    @hookimpl
    def nmcore_register_channels(self, register: RegisterChannel) -> None:
        register(ChannelSpec(name="console", config_kind="ConsoleConfig", receiver_kind="ConsoleReceiver",
                             config_schema=ConsoleConfig, receiver_schema=ConsoleReceiver,
                             make_sender=lambda context: self, description="prints notifications"))

    async def send(self, request: SendRequest[ConsoleConfig, ConsoleReceiver]) -> None:
        prefix = request.config.spec.prefix if request.config else ""
        line = f"{prefix} to {request.receiver.name} (tenant {request.notification.tenant or '-'}): " \
               f"{request.message.subject}"
        self.printed.append(line)
        print(line)

    async def aclose(self) -> None:
        pass


def resource(kind: str, name: str, labels: dict[str, str], spec: dict | None = None, **meta: str) -> Document:
    body = {"apiVersion": "notification.kubesphere.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "labels": labels, **meta}, "spec": spec or {}}
    return Document(f"embed:{kind}/{name}", body)


def rolebinding(namespace: str, user: str) -> Document:
    return Document(f"embed:RoleBinding/{namespace}", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": f"{user}-access", "namespace": namespace},
        "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": user}]})


async def main() -> list[str]:
    console = ConsoleChannel()
    documents = [
        resource("ConsoleConfig", "default", {"type": "default"}, {"prefix": "[ops]"}),
        resource("ConsoleReceiver", "ops", {"type": "global"}),
        resource("ConsoleReceiver", "alice", {"type": "tenant", "user": "alice"}),
        rolebinding("payments", "alice"),
    ]
    host = PluginHost(load_entrypoints=False, plugins=[console])
    async with Manager(StaticSource(documents), host=host) as manager:
        for namespace in ("payments", "search"):
            alert = Alert(labels={"alertname": "HighLatency", "namespace": namespace},
                          annotations={"summary": f"p99 latency above 2s in {namespace}"})
            await manager.submit(AlertGroup(alerts=(alert,)))
        await manager.drain(timeout=5)
    return console.printed


if __name__ == "__main__":
    anyio.run(main)
