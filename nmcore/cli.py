"""`nm`: run the manager, validate manifests, explain routing, list plugins."""

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from nmcore.ingest import PayloadError, parse_payload
from nmcore.manifests import documents_from_paths
from nmcore.plugins import PluginError, PluginHost
from nmcore.snapshot import DEFAULT_NAMESPACE, build_snapshot
from nmcore.tenancy import TenantOptions

log = logging.getLogger("nmcore")


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _tenant_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant-resolver", default="rbac",
                        help="who can access a namespace: rbac (RoleBindings, default), kubesphere, namespace, "
                             "or a plugin's resolver")
    parser.add_argument("--kubesphere-url", default="http://127.0.0.1:19094",
                        help="the KubeSphere tenant API, for --tenant-resolver kubesphere")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                        help="namespace of the configuration objects (and default for manifests without one)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nm", description="nmcore: multi-tenant notifications for Kubernetes")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the manager: receive alerts on /api/v2/alerts and deliver them")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--config-dir", type=Path, help="a folder of manifests, reloaded when files change")
    run.add_argument("--listen", type=_listen, default=("0.0.0.0", 19093), help="HOST:PORT (default 0.0.0.0:19093)")
    run.add_argument("--grace", type=float, default=10.0, help="seconds to finish sends in flight on SIGTERM")
    _tenant_arguments(run)

    validate = commands.add_parser("validate", help="check manifests; every problem on its own line")
    validate.add_argument("paths", nargs="+", type=Path, help="folders or files of manifests")
    validate.add_argument("--namespace", default=DEFAULT_NAMESPACE)

    route = commands.add_parser("route", help="for each alert in a payload: who gets it, and why not the others")
    route.add_argument("--config-dir", type=Path, required=True)
    route.add_argument("payload", type=Path, help="an Alertmanager webhook body or a JSON array of alerts")
    _tenant_arguments(route)

    commands.add_parser("plugins", help="the installed channels and the plugins that provide them")
    return parser


def _host() -> PluginHost:
    return PluginHost()


def cmd_run(args: argparse.Namespace) -> int:
    from nmcore.manager import Manager
    from nmcore.server import serve
    from nmcore.sources import FolderSource

    if not args.config_dir.is_dir():
        print(f"nm run: --config-dir {args.config_dir} is not a folder", file=sys.stderr)
        return 2
    options = TenantOptions(kubesphere_url=args.kubesphere_url)
    manager = Manager(FolderSource(args.config_dir), host=_host(), tenant_resolver=args.tenant_resolver,
                      tenant_options=options, default_namespace=args.namespace)
    host, port = args.listen
    anyio.run(serve, manager, host, port, args.grace)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    host = _host()
    documents, problems = documents_from_paths(args.paths)
    snapshot = build_snapshot(documents, host.channels, default_namespace=args.namespace, problems=problems)
    for problem in snapshot.problems:
        print(problem)
    print(f"{len(documents)} manifests: {len(snapshot.targets)} receivers can send, {len(snapshot.skipped)} cannot, "
          f"{len(snapshot.problems)} problems", file=sys.stderr)
    return 1 if snapshot.problems else 0


def cmd_route(args: argparse.Namespace) -> int:
    from nmcore.routing import Router

    host = _host()
    documents, problems = documents_from_paths([args.config_dir])
    snapshot = build_snapshot(documents, host.channels, default_namespace=args.namespace, problems=problems)
    try:
        parsed = parse_payload(json.loads(args.payload.read_text()))
    except (OSError, ValueError, PayloadError) as exc:
        print(f"nm route: {args.payload}: {exc}", file=sys.stderr)
        return 2
    for problem in parsed.rejected:
        print(f"nm route: {args.payload}: alert rejected: {problem}", file=sys.stderr)
    router = Router(host, host.tenant_resolver(args.tenant_resolver, TenantOptions(kubesphere_url=args.kubesphere_url)))

    async def explain_all() -> None:
        for alert in parsed.group.alerts:
            print(json.dumps(await router.explain(alert, snapshot), ensure_ascii=False))

    anyio.run(explain_all)
    return 0


def cmd_plugins(_: argparse.Namespace) -> int:
    host = _host()
    for name, registered in sorted(host.channels.items()):
        spec, plugin = registered.spec, registered.plugin
        print(f"{name:10} {spec.config_kind}/{spec.receiver_kind:20} {plugin.distribution} {plugin.version}"
              f"  {spec.description}")
    for failure in host.failures:
        print(f"FAILED     {failure.name}: {failure.distribution} {failure.version}: {failure.error}")
    return 1 if host.failures else 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "route": cmd_route, "plugins": cmd_plugins}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except PluginError as exc:
        print(f"nm {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
