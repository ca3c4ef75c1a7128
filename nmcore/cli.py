"""`nm`: run the manager, validate manifests, explain routing, test-send, list plugins, inspect deliveries."""

import argparse
import contextlib
import datetime
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio
import httpx

from nmcore.access import read_secret_file
from nmcore.errors import NmcoreError, PayloadError, StoreNotFound, TemplateProblem
from nmcore.history import OUTCOMES
from nmcore.ingest import decode_payload, parse_payload
from nmcore.logflood import RepeatLimiter
from nmcore.manifests import documents_from_paths
from nmcore.plugins import PluginHost
from nmcore.render import DefaultRenderer
from nmcore.resources import ConfigMapKeySelector
from nmcore.snapshot import DEFAULT_NAMESPACE, DISABLED, Document, Problem, Snapshot, build_snapshot
from nmcore.store import DeadLetter, Job
from nmcore.storeurl import MEMORY, StoreLocation, open_store, parse_store_url, state_dir_location
from nmcore.storeurl import inspect as inspect_store
from nmcore.templatechoice import FORMATS, TemplateSettings
from nmcore.tenancy import TenantOptions

log = logging.getLogger("nmcore")

DEFAULT_STATE_DIR = os.environ.get("NM_STATE_DIR") or "/var/lib/nmcore"


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


def _non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return number


def _positive_seconds(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {value}")
    return number


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return int(value)


def _state_dir_argument(parser: argparse.ArgumentParser, default: str | None) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state-dir", metavar="DIR", default=default,
                       help="the state dir of nm run (default: $NM_STATE_DIR or /var/lib/nmcore; "
                            f"now {DEFAULT_STATE_DIR})")
    _store_argument(where, default)


def _store_argument(group: argparse._MutuallyExclusiveGroup, default: str | None) -> None:
    group.add_argument("--store", metavar="URL", default=default,
                       help="postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=...] (a database any number "
                            "of replicas share) or sqlite:///PATH/TO/FILE.db (default: $NM_STORE if set, else the "
                            "state dir); prefer $NM_STORE for a URL with a password: arguments show in ps")


def _store_location(args: argparse.Namespace) -> StoreLocation:
    """--store, or --state-dir, or $NM_STORE, or the default state dir: an explicit option wins."""
    if getattr(args, "no_state", False):
        return StoreLocation("memory")
    if args.store:
        return parse_store_url(args.store)
    if args.state_dir is None and os.environ.get("NM_STORE"):
        return parse_store_url(os.environ["NM_STORE"])
    return state_dir_location(args.state_dir or DEFAULT_STATE_DIR)


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
    parser.add_argument("--log-format", default="text", choices=["text", "json"],
                        help="json: one object per line (time, level, logger, message), for log collectors")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the manager: receive alerts on /api/v2/alerts and deliver them")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--config-dir", type=Path, help="a folder of manifests, reloaded when files change")
    source.add_argument("--kubernetes", action="store_true",
                        help="watch the custom resources, Secrets and RoleBindings in the cluster (in-cluster "
                             "config in a pod, else --kubeconfig or $KUBECONFIG); needs nmcore[kubernetes]")
    run.add_argument("--kubeconfig", type=Path, help="with --kubernetes: the kubeconfig file to use")
    run.add_argument("--listen", type=_listen, default=("0.0.0.0", 19093), help="HOST:PORT (default 0.0.0.0:19093)")
    run.add_argument("--grace", type=float, default=10.0,
                     help="seconds to finish HTTP requests in flight on SIGTERM (sends in flight always finish, "
                          "each within its channel's timeout)")
    state = run.add_mutually_exclusive_group()
    state.add_argument("--state-dir", metavar="DIR",
                       help="where accepted alerts wait until delivered, in a SQLite file that survives crashes "
                            f"and restarts (default: $NM_STATE_DIR or /var/lib/nmcore; now {DEFAULT_STATE_DIR}). "
                            f"{MEMORY!r} keeps nothing across restarts")
    state.add_argument("--no-state", action="store_true", help=f"the same as --state-dir {MEMORY}")
    _store_argument(state, None)
    run.add_argument("--lease", type=_positive_seconds, default=30.0, metavar="SECONDS",
                     help="with a PostgreSQL store: a replica's claim on the deliveries it sends lasts this long "
                          "unless renewed; a dead replica's work is taken over after it (default %(default)g)")
    run.add_argument("--store-connections", type=_positive, default=8, metavar="N",
                     help="with a PostgreSQL store: the most connections one replica opens, plus one that "
                          "listens for the others' work (default %(default)s)")
    run.add_argument("--max-pending", type=int, default=100_000, metavar="N",
                     help="deliveries pending beyond which POST /api/v2/alerts answers 503 with Retry-After, "
                          "so Alertmanager retries later (default %(default)s)")
    run.add_argument("--dedup-window", type=_non_negative, default=300.0, metavar="SECONDS",
                     help="a notification whose alerts were all last accepted for its receiver in the same "
                          "statuses within this time (e.g. an Alertmanager HA pair's copy) is dropped; a re-fire is "
                          "not; 0 turns it off (default %(default)g)")
    run.add_argument("--retry-deadline", type=_non_negative, default=24 * 3600.0, metavar="SECONDS",
                     help="transient failures are retried with backoff for this long after the delivery was "
                          "first due (accepted, or its batch released), then it is dead-lettered "
                          "(default %(default)g)")
    run.add_argument("--cluster", default="", metavar="NAME",
                     help="label alerts that have no `cluster` label with this one (several clusters, one nm)")
    run.add_argument("--sends-per-receiver", type=_positive, default=4, metavar="N",
                     help="sends in flight to one receiver at a time (default %(default)s); more for one busy "
                          "receiver that can take it (a firing is still never delivered after its resolved)")
    run.add_argument("--fallback-after", type=_non_negative, default=0.0, metavar="SECONDS",
                     help="a delivery still failing this long after it was first due also goes to its fallback "
                          "receiver, once, while it is retried (default: the NotificationManager's "
                          "spec.fallback.after; without one, only dead letters fall back)")
    run.add_argument("--history-max-age", type=_non_negative, default=30 * 86400.0, metavar="SECONDS",
                     help="keep delivery history this long; 0: no age limit (default %(default)g, 30 days)")
    run.add_argument("--history-max-entries", type=int, default=1_000_000, metavar="N",
                     help="keep at most N history entries, the oldest pruned first; 0: no count limit "
                          "(default %(default)s)")
    run.add_argument("--no-history", action="store_true", help="keep no delivery history")
    run.add_argument("--history-webhook", default="", metavar="URL",
                     help="also POST every history entry (delivered or dead) here, in batches, as "
                          '{"history": [...]}; overrides the NotificationManager\'s spec.history.webhook')
    _templates_argument(run)
    _tenant_arguments(run)
    _access_arguments(run)

    validate = commands.add_parser("validate", help="check manifests; every problem on its own line")
    validate.add_argument("paths", nargs="+", type=Path, help="folders or files of manifests")
    validate.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    validate.add_argument("--tenant-resolver", default="rbac",
                          help="the resolver nm run will use: with rbac (default), a tenant receiver whose user no "
                               "RoleBinding names is a warning")
    _templates_argument(validate)

    route = commands.add_parser("route", help="for each alert in a payload: who gets it, and why not the others; "
                                              "exit 1 if an alert was rejected")
    where = route.add_mutually_exclusive_group(required=True)
    where.add_argument("--config-dir", type=Path, help="route with the manifests in this folder, here")
    where.add_argument("--url", help="ask a running nm (e.g. http://localhost:19093) to route with its live "
                                     "configuration and tenant resolver")
    route.add_argument("payload", help="a file with an Alertmanager webhook body or a JSON array of alerts "
                                       "(- for stdin)")
    route.add_argument("--at", type=_moment, help="with --config-dir: route as at this RFC 3339 time (which "
                                                  "Silences are active then; default now)")
    _token_argument(route)
    _tenant_arguments(route)

    silences = commands.add_parser("silences", help="every Silence: whether it mutes now (until when, or when it "
                                                    "starts) and whose receivers")
    where = silences.add_mutually_exclusive_group(required=True)
    where.add_argument("--config-dir", type=Path, help="the manifests in this folder")
    where.add_argument("--url", help="ask a running nm (e.g. http://localhost:19093)")
    silences.add_argument("--at", type=_moment, help="with --config-dir: as at this RFC 3339 time (default now)")
    silences.add_argument("--all", action="store_true", help="also the ones not active now")
    silences.add_argument("--json", action="store_true", help="one JSON object per Silence")
    silences.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    _token_argument(silences)

    verify = commands.add_parser("verify", help="send a test notification to receivers now and say whether each "
                                                "arrived: the answer to 'configured, but nothing arrives'")
    target = verify.add_mutually_exclusive_group(required=True)
    target.add_argument("--config-dir", type=Path, help="send with the manifests in this folder, from here")
    target.add_argument("--url", help="ask a running nm (e.g. http://localhost:19093) to send with its configuration")
    verify.add_argument("receivers", nargs="*", metavar="RECEIVER",
                        help="name, Kind/name or Kind/namespace/name (default: every receiver)")
    _token_argument(verify)
    verify.add_argument("--json", action="store_true", help="one JSON object per receiver")
    verify.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    _templates_argument(verify)

    render = commands.add_parser("render", help="show a receiver's message for a payload (or a sample) in every "
                                                "format it is sent in, as amtool template render does; sends nothing")
    where = render.add_mutually_exclusive_group(required=True)
    where.add_argument("--config-dir", type=Path, help="the manifests (receivers, ConfigMaps) in this folder")
    where.add_argument("--kubernetes", action="store_true", help="the cluster's configuration (--kubeconfig)")
    render.add_argument("--kubeconfig", type=Path, help="with --kubernetes: the kubeconfig file to use")
    render.add_argument("receivers", nargs="*", metavar="RECEIVER",
                        help="name, Kind/name or Kind/namespace/name (default: every receiver)")
    render.add_argument("--payload", type=Path, help="an Alertmanager webhook body or a JSON array of alerts "
                                                     "(default: a sample of two alerts, firing and resolved)")
    render.add_argument("--format", action="append", default=[], choices=FORMATS,
                        help="only this format, printed raw (repeatable; default: the formats the channel sends)")
    render.add_argument("--namespace", default=DEFAULT_NAMESPACE)
    _templates_argument(render)
    convert = commands.add_parser("convert", help="v1alpha1 manifests into the equivalent v2beta2 ones, or back; "
                                                   "says what cannot be converted (exit 1 then)")
    convert.add_argument("paths", nargs="+", type=Path, help="folders or files of manifests")
    convert.add_argument("--to", required=True, choices=["v2beta2", "v1alpha1"])
    convert.add_argument("--out", type=Path, metavar="DIR", help="write one file per object here (default: stdout)")
    convert.add_argument("--namespace", default=DEFAULT_NAMESPACE,
                         help="nm's namespace: where v1alpha1 objects without one live, and v2beta2 blocks go back to")

    commands.add_parser("plugins", help="the installed channels and the plugins that provide them")

    crds = commands.add_parser("crds", help="write the CustomResourceDefinitions of every installed channel's kinds")
    crds.add_argument("--dir", type=Path, default=Path("deploy/crds"), help="where (default deploy/crds)")
    crds.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")

    deliveries = commands.add_parser("deliveries", help="the pending and dead-lettered deliveries in a state dir "
                                                        "or a PostgreSQL store")
    _state_dir_argument(deliveries, None)
    deliveries.add_argument("--limit", type=int, default=50, metavar="N",
                            help="list at most N pending and N dead, oldest first; 0 for all (default %(default)s)")
    deliveries.add_argument("--json", action="store_true", help="everything as one JSON object")
    actions = deliveries.add_subparsers(dest="action", metavar="{redrive}")
    redrive = actions.add_parser("redrive", help="move dead letters back to pending: a running nm run delivers "
                                                 "them within seconds, otherwise the next start does")
    _state_dir_argument(redrive, argparse.SUPPRESS)
    redrive.add_argument("--all", action="store_true", help="every dead letter")
    redrive.add_argument("ids", nargs="*", metavar="ID", help="the dead letters to move (ids from nm deliveries)")
    _history_parser(commands)
    return parser


def _history_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    history = commands.add_parser("history", help="who got which notification: finished deliveries, newest first")
    _state_dir_argument(history, None)
    history.add_argument("--receiver", metavar="Kind/namespace/name")
    history.add_argument("--tenant", metavar="USER")
    history.add_argument("--alertname", metavar="NAME")
    history.add_argument("--fingerprint", metavar="FP")
    history.add_argument("--since", metavar="TIME", help="Unix seconds, ISO 8601, or an age such as 2h or 7d")
    history.add_argument("--until", metavar="TIME")
    history.add_argument("--outcome", choices=OUTCOMES)
    history.add_argument("--limit", type=int, default=50, metavar="N", help="at most N entries (default 50)")
    history.add_argument("--json", action="store_true", help="a JSON array, every attempt and withheld receiver")


def _access_arguments(run: argparse.ArgumentParser) -> None:
    from nmcore.netpolicy import DEFAULT_DENIED

    access = run.add_argument_group("who may reach nm, and where receivers may send")
    access.add_argument("--intake-token-file", type=Path, metavar="FILE",
                        help="POST /api/v2/alerts needs `Authorization: Bearer <the file's content>` (Alertmanager: "
                             "http_config.authorization.credentials_file)")
    access.add_argument("--intake-basic-auth-file", type=Path, metavar="FILE",
                        help="or HTTP basic auth with the file's user:password (Alertmanager: http_config.basic_auth)")
    access.add_argument("--admin-listen", type=_listen, metavar="HOST:PORT",
                        help="serve /api/v2/verify and /api/v2/status here only (the intake then answers 404 for "
                             "them); without it they are on the intake and want its credentials")
    access.add_argument("--admin-token-file", type=Path, metavar="FILE",
                        help="the admin endpoints need `Authorization: Bearer <the file's content>`")
    access.add_argument("--deny-networks", default=",".join(DEFAULT_DENIED), metavar="CIDR,...",
                        help="receivers may not connect to these networks, checked on the address dialled "
                             "(default %(default)s: metadata services); nm's own listeners are always denied")
    access.add_argument("--header-timeout", type=_non_negative, default=10.0, metavar="SECONDS",
                        help="a connection that has not sent its request headers within this is closed (default "
                             "%(default)g)")
    access.add_argument("--body-timeout", type=_non_negative, default=30.0, metavar="SECONDS",
                        help="a request whose body has not arrived within this gets 408 (default %(default)g)")
    access.add_argument("--max-connections", type=_positive, default=1000, metavar="N",
                        help="open connections at most (lowered to fit the open-files limit); beyond it the oldest "
                             "idle one is closed (default %(default)s)")


def _templates_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--templates", type=Path, metavar="DIR",
                        help="your own Jinja2 templates, NAME.j2 each: subject.j2, text.j2, markdown.j2, html.j2 "
                             "replace that format for every receiver; any NAME can be used by receivers' "
                             "`template` fields (the built-in ones are nm.default.subject, nm.default.html, ...); "
                             "checked at start")
    parser.add_argument("--templates-configmap", metavar="[NAMESPACE/]NAME[:KEY]",
                        help="a ConfigMap of global templates, one per key (the NotificationManager's template.text)")
    parser.add_argument("--language", default="English",
                        help="the language of messages: English (default), zh-cn (built in), or one of a "
                             "--language-pack; a receiver's `language` field overrides it")
    parser.add_argument("--language-pack", action="append", default=[], metavar="[NAMESPACE/]NAME",
                        help="a ConfigMap of language packs in the Go original's format (repeatable)")


def _configmap_ref(text: str) -> ConfigMapKeySelector:
    """`[namespace/]name[:key]` as a ConfigMap reference."""
    where, _, key = text.partition(":")
    namespace, _, name = where.rpartition("/")
    if not name:
        raise argparse.ArgumentTypeError(f"expected [NAMESPACE/]NAME[:KEY], got {text!r}")
    return ConfigMapKeySelector(name=name, namespace=namespace, key=key)


def _renderer(args: argparse.Namespace) -> DefaultRenderer:
    """The renderer the template flags describe; a broken --templates file raises TemplateProblem naming it."""
    settings = TemplateSettings(
        language=args.language, language_pack=tuple(map(_configmap_ref, args.language_pack)),
        text=_configmap_ref(args.templates_configmap) if args.templates_configmap else None)
    return DefaultRenderer(args.templates, settings=settings, default_namespace=args.namespace)


def _host() -> PluginHost:
    return PluginHost()


def cmd_run(args: argparse.Namespace) -> int:
    from nmcore.access import credentials_from_files
    from nmcore.delivery import RetryPolicy
    from nmcore.history import Retention
    from nmcore.httpguard import ConnectionLimits, connection_cap, raise_open_files_limit
    from nmcore.manager import Manager
    from nmcore.netpolicy import NetworkPolicy
    from nmcore.server import ListenError, serve
    from nmcore.settings import ManagerSettings
    from nmcore.sources import ConfigSource, FolderSource

    host = _host()
    source: ConfigSource
    if args.kubernetes:
        try:
            from nmcore.kube import KubernetesSource
        except ModuleNotFoundError as exc:
            print(f"nm run --kubernetes: {exc.name} is missing: pip install 'nmcore[kubernetes]'", file=sys.stderr)
            return 2
        source = KubernetesSource.for_channels(host.channels, rolebindings=args.tenant_resolver == "rbac",
                                               namespace=args.namespace, kubeconfig=args.kubeconfig)
    elif not args.config_dir.is_dir():
        print(f"nm run: --config-dir {args.config_dir} is not a folder", file=sys.stderr)
        return 2
    else:
        source = FolderSource(args.config_dir)
    location = _store_location(args)
    if location.kind == "memory":
        log.warning("no state dir: alerts accepted but not yet delivered are lost when nm stops")
    try:
        intake_auth = credentials_from_files(token_file=args.intake_token_file,
                                             basic_auth_file=args.intake_basic_auth_file)
        admin_auth = credentials_from_files(token_file=args.admin_token_file, what="--admin")
        own = [args.listen] + ([args.admin_listen] if args.admin_listen else [])
        policy = NetworkPolicy.of(args.deny_networks, own)
    except ValueError as exc:
        print(f"nm run: {exc}", file=sys.stderr)
        return 2
    cap = connection_cap(args.max_connections, raise_open_files_limit())
    if cap < args.max_connections:
        log.warning("--max-connections %d lowered to %d to fit the open-files limit", args.max_connections, cap)
    limits = ConnectionLimits(header_timeout=args.header_timeout, body_timeout=args.body_timeout, max_connections=cap)
    store = open_store(location, per_receiver=args.sends_per_receiver, lease=args.lease,
                       pool_size=args.store_connections)
    settings = ManagerSettings(
        tenant_resolver=args.tenant_resolver, tenant_options=TenantOptions(kubesphere_url=args.kubesphere_url),
        default_namespace=args.namespace, max_pending=args.max_pending, dedup_window=args.dedup_window,
        per_receiver=args.sends_per_receiver, cluster=args.cluster, retry=RetryPolicy(deadline=args.retry_deadline),
        history=not args.no_history, history_webhook=args.history_webhook, fallback_after=args.fallback_after,
        history_retention=Retention(max_age=args.history_max_age, max_entries=args.history_max_entries),
        network_policy=policy)
    manager = Manager(source, settings=settings, host=host, store=store, renderer=_renderer(args))
    listen_host, port = args.listen
    try:
        anyio.run(functools.partial(serve, manager, listen_host, port, args.grace, admin_listen=args.admin_listen,
                                    intake_auth=intake_auth, admin_auth=admin_auth, limits=limits))
    except ListenError as exc:
        print(f"nm run: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    host = _host()
    documents, problems = documents_from_paths(args.paths)
    snapshot = build_snapshot(documents, host.channels, default_namespace=args.namespace, problems=problems,
                              unloaded_plugin=host.unloaded_plugin)
    for problem in snapshot.problems:
        print(problem)
    try:
        renderer = _renderer(args)
        template_problems = [str(p) for p in renderer.prepare(snapshot)]
    except TemplateProblem as exc:
        template_problems = [str(exc)]
    else:
        if args.templates is not None:
            _note_own_layouts(args.templates, renderer, snapshot)
    for problem_text in template_problems:
        print(problem_text)
    warnings = snapshot.access_warnings if args.tenant_resolver == "rbac" else ()
    for warning in warnings:  # on stderr: stdout stays one problem per line
        print(f"warning: {warning}", file=sys.stderr)
    faults = [p for p in snapshot.problems if not p.notice]
    notes = len(snapshot.problems) - len(faults)
    print(f"{len(documents)} manifests: {len(snapshot.targets)} receivers can send, {len(snapshot.skipped)} cannot, "
          f"{len(faults) + len(template_problems)} problems" + (f", {notes} notes" if notes else "")
          + (f", {_plural(len(warnings), 'warning')}" if warnings else ""), file=sys.stderr)
    return 1 if faults or template_problems else 0


def _note_own_layouts(folder: Path, renderer: DefaultRenderer, snapshot: Snapshot) -> None:
    """Say which of the operator's templates a channel that lays out its own messages ignores (not a problem:
    the receivers still send, with the channel's own layout)."""
    ignored = sorted(fmt for fmt in renderer.settings.formats if fmt != "subject")
    if not ignored:
        return
    for name, registered in sorted(snapshot.channels.items()):
        receivers = sum(1 for target in snapshot.targets.values() if target.channel == name)
        if registered.spec.own_layout and receivers:
            files = ", ".join(f"{fmt}.j2" for fmt in ignored)
            print(f"{folder}: note: {files} not used by the {name} channel ({receivers} receivers): it lays out "
                  f"its own messages, only subject.j2 applies to it")


def cmd_route(args: argparse.Namespace) -> int:
    try:
        body = sys.stdin.buffer.read() if args.payload == "-" else Path(args.payload).read_bytes()
        explanations, rejected = (_route_remote(args.url, body, args.token_file) if args.url
                                  else _route_local(args, body))
    except LookupError as exc:
        print(f"nm route: {exc}", file=sys.stderr)
        return 2
    except (OSError, PayloadError) as exc:
        print(f"nm route: {args.payload}: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"nm route: {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    for problem in rejected:
        print(f"nm route: {args.payload}: alert rejected: {problem}", file=sys.stderr)
    for explanation in explanations:
        print(json.dumps(explanation, ensure_ascii=False))
    return 1 if rejected else 0


def _route_local(args: argparse.Namespace, body: bytes) -> tuple[list[dict], Sequence[str]]:
    from nmcore.routing import Router

    host = _host()
    documents, problems = documents_from_paths([args.config_dir])
    snapshot = build_snapshot(documents, host.channels, default_namespace=args.namespace, problems=problems,
                              unloaded_plugin=host.unloaded_plugin)
    parsed = decode_payload(body)
    router = Router(host, host.tenant_resolver(args.tenant_resolver, TenantOptions(kubesphere_url=args.kubesphere_url)),
                    clock=(lambda: args.at) if args.at is not None else time.time)

    async def explain_all() -> list[dict]:
        return [await router.explain(alert, snapshot) for alert in parsed.group.alerts]

    return anyio.run(explain_all), parsed.rejected


def _token_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-file", type=Path, metavar="FILE",
                        help="with --url: the admin token (--admin-token-file of that nm run), sent as a bearer token")


def _admin_headers(token_file: Path | None) -> dict[str, str]:
    """The Authorization header for a running nm's admin endpoints, from `--token-file` (none without one)."""
    if token_file is None:
        return {}
    return {"Authorization": f"Bearer {read_secret_file(token_file, '--token-file').decode()}"}


def _route_remote(url: str, body: bytes, token_file: Path | None) -> tuple[list[dict], Sequence[str]]:
    """The same explanation, from a running nm's POST /api/v2/route."""
    with _quiet_http():
        reply = httpx.post(f"{url.rstrip('/')}/api/v2/route", content=body, timeout=60,
                           headers={"Content-Type": "application/json", **_admin_headers(token_file)})
    if reply.status_code == 400:
        raise PayloadError(reply.json()["error"])
    answer = _admin_answer(url, reply)
    return answer["alerts"], answer["rejected"]


def _moment(text: str) -> float:
    """An RFC 3339 time (`2026-03-01T22:30:00Z`; no zone: UTC) as seconds since the epoch."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time such as 2026-03-01T22:30:00Z") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)).timestamp()


def cmd_silences(args: argparse.Namespace) -> int:
    from nmcore.routing import silences_report

    if args.url:
        try:
            with _quiet_http():
                reply = httpx.get(f"{args.url.rstrip('/')}/api/v2/silences", timeout=30,
                                  headers=_admin_headers(args.token_file))
            report = _admin_answer(args.url, reply)["silences"]
        except httpx.HTTPError as exc:
            print(f"nm silences: {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        except LookupError as exc:
            print(f"nm silences: {exc}", file=sys.stderr)
            return 2
    else:
        host = _host()
        documents, problems = documents_from_paths([args.config_dir])
        snapshot = build_snapshot(documents, host.channels, default_namespace=args.namespace, problems=problems,
                                  unloaded_plugin=host.unloaded_plugin)
        for problem in snapshot.problems:
            if problem.object.startswith("Silence/"):
                print(f"nm silences: {problem}", file=sys.stderr)
        report = silences_report(snapshot, args.at if args.at is not None else time.time())
    shown = [s for s in report if s["active"] or args.all]
    for silence in shown:
        if args.json:
            print(json.dumps(silence, ensure_ascii=False))
        else:
            state = "ACTIVE" if silence["active"] else "idle  "
            print(f"{state}  Silence {silence['silence']} ({silence['when']}): mutes alerts matching "
                  f"{silence['matcher']} for {silence['mutes']}")
    if not shown and not args.json:
        print("no Silence is active" if report else "no Silences")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        results = _verify_remote(args) if args.url else anyio.run(_verify_local, args)
    except LookupError as exc:
        print(f"nm verify: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"nm verify: {args.url}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    for result in results:
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        via = f"  via {result['config']}" if result["config"] else ""
        if result["ok"]:
            print(f"ok    {result['receiver']}{via}  ({result['seconds'] * 1000:.0f} ms)")
        else:
            print(f"FAIL  {result['receiver']}{via}: {result['error']}")
        for warning in result["warnings"]:
            print(f"      warning: {warning}")
    return 0 if all(r["ok"] for r in results) else 1


async def _verify_local(args: argparse.Namespace) -> list[dict]:
    """Every receiver checked concurrently with this folder's manifests; unknown names fail before any send."""
    from nmcore.manager import Manager
    from nmcore.settings import ManagerSettings
    from nmcore.sources import StaticSource
    from nmcore.verify import find_receiver

    if not args.config_dir.is_dir():
        raise LookupError(f"--config-dir {args.config_dir} is not a folder")
    manager = Manager(StaticSource(*documents_from_paths([args.config_dir])), host=_host(),
                      settings=ManagerSettings(default_namespace=args.namespace),
                      renderer=_renderer(args))
    async with manager:
        await manager.wait_ready(10)
        refs = [find_receiver(manager.snapshot, name) for name in args.receivers] or sorted(
            r.ref for r in manager.snapshot.receivers if manager.snapshot.skipped.get(r.ref) != DISABLED)
        results: dict[str, dict] = {}

        async def check(ref: str) -> None:
            results[ref] = (await manager.verify(ref)).to_json()

        async with anyio.create_task_group() as tasks:
            for ref in refs:
                tasks.start_soon(check, ref)
    return [results[ref] for ref in refs]


@contextlib.contextmanager
def _quiet_http() -> Iterator[None]:
    """httpx logs one INFO line per request: it would drown what the command prints."""
    quiet = logging.getLogger("httpx")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        yield
    finally:
        quiet.setLevel(level)


def _verify_remote(args: argparse.Namespace) -> list[dict]:
    with _quiet_http(), httpx.Client(base_url=args.url, timeout=90, headers=_admin_headers(args.token_file)) as client:
        names = args.receivers
        if not names:
            status = _admin_answer(args.url, client.get("/api/v2/status"))
            names = sorted(r["receiver"] for r in status["receivers"] + status["cannot_send"]
                           if r.get("reason") != DISABLED)
        return [_admin_answer(args.url, client.post("/api/v2/verify", json={"receiver": name})) for name in names]


def cmd_render(args: argparse.Namespace) -> int:
    from nmcore.preview import preview
    from nmcore.verify import find_receiver

    host = _host()
    group = None
    if args.payload is not None:
        try:
            parsed = parse_payload(json.loads(args.payload.read_text()))
        except (OSError, ValueError, PayloadError) as exc:
            print(f"nm render: {args.payload}: {exc}", file=sys.stderr)
            return 2
        group = parsed.group
    if args.kubernetes:
        snapshot = anyio.run(_kubernetes_snapshot, args, host)
    elif not args.config_dir.is_dir():
        print(f"nm render: --config-dir {args.config_dir} is not a folder", file=sys.stderr)
        return 2
    else:
        documents, problems = documents_from_paths([args.config_dir])
        snapshot = build_snapshot(documents, host.channels, default_namespace=args.namespace, problems=problems)
    renderer = _renderer(args)
    renderer.prepare(snapshot)
    try:
        refs = [find_receiver(snapshot, name) for name in args.receivers] or sorted(snapshot.targets)
    except LookupError as exc:
        print(f"nm render: {exc}", file=sys.stderr)
        return 2
    for ref in refs:
        target = snapshot.targets.get(ref)
        if target is None:
            print(f"nm render: {ref} cannot send: {snapshot.skipped.get(ref, 'not configured')}", file=sys.stderr)
            return 1
        shown = preview(renderer, snapshot, target, group, tuple(args.format))
        if args.format:  # raw, for a browser or a diff
            for problem in shown.problems:
                print(f"nm render: {ref}: {problem}", file=sys.stderr)
            print("\n".join(text for _, _, text in shown.parts))
        else:
            print("\n".join(shown.lines()) + "\n")
    return 0


async def _kubernetes_snapshot(args: argparse.Namespace, host: PluginHost) -> "Snapshot":
    """The cluster's configuration as listed once (no watching: a render is a moment's look)."""
    from nmcore.kube import KubernetesSource

    source = KubernetesSource.for_channels(host.channels, rolebindings=False, namespace=args.namespace,
                                           kubeconfig=args.kubeconfig, post_events=False)
    listed: list[Snapshot] = []

    def publish(documents: Sequence[Document], problems: Sequence[Problem]) -> Snapshot:
        listed.append(build_snapshot(documents, host.channels, default_namespace=args.namespace,
                                     problems=problems))
        tasks.cancel_scope.cancel()
        return listed[-1]

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(source.run, publish)
    return listed[0]


def cmd_convert(args: argparse.Namespace) -> int:
    import yaml

    from nmcore.convert import convert

    documents, problems = documents_from_paths(args.paths)
    for problem in problems:
        print(f"nm convert: {problem}", file=sys.stderr)
    result = convert(documents, _host().channels, args.to, args.namespace)
    if args.out is None:
        print(yaml.safe_dump_all(result.manifests, sort_keys=False, allow_unicode=True), end="")
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        for manifest in result.manifests:
            meta = manifest.get("metadata") or {}
            name = "-".join(p for p in (manifest.get("kind", "object").lower(), meta.get("namespace"),
                                        meta.get("name", "unnamed")) if p)
            (args.out / f"{name}.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True),
                                                    encoding="utf-8")
    for note in result.notes:
        print(f"nm convert: {note}", file=sys.stderr)
    print(f"{len(result.manifests)} manifests written, {len(result.notes)} things not converted", file=sys.stderr)
    return 1 if result.notes or problems else 0


def _admin_answer(url: str, response: httpx.Response) -> dict:
    """An admin endpoint's JSON answer; LookupError saying what to change when it is not there or refused."""
    if response.status_code == 401:
        raise LookupError(f"{url} wants credentials for its admin endpoints: give --token-file (the file of its "
                          "--admin-token-file, or of its --intake-token-file)")
    if response.status_code == 404:
        try:
            raise LookupError(response.json()["error"])  # an unknown receiver, with its "did you mean"
        except (ValueError, KeyError, TypeError):
            raise LookupError(f"{url} does not serve {response.request.url.path}: give the --admin-listen address "
                              "of that nm run") from None
    return response.raise_for_status().json()


def cmd_plugins(_: argparse.Namespace) -> int:
    host = _host()
    for name, registered in sorted(host.channels.items()):
        spec, plugin = registered.spec, registered.plugin
        print(f"{name:10} {spec.config_kind}/{spec.receiver_kind:20} {plugin.distribution} {plugin.version}"
              f"  {spec.description}")
        print(f"{'':10} limits: {spec.limits.describe()}")
        if spec.own_layout:
            print(f"{'':10} templates: lays out its own messages; of --templates only subject.j2 applies "
                  "(a receiver's own `template` or `tmplText` replaces the layout)")
        if spec.v2beta2 is not None:
            print(f"{'':10} v2beta2: the {spec.v2beta2.name!r} block of Config and Receiver")
    for failure in host.failures:
        print(f"FAILED     {failure.name}: {failure.distribution} {failure.version}: {failure.error}")
    return 1 if host.failures else 0


def _describe(job: Job) -> dict:
    return {
        "id": job.id,
        "receiver": job.receiver,
        "status": job.notification.status,
        "alerts": [{"status": a.status, "labels": dict(a.labels)} for a in job.notification.alerts],
        "accepted": job.created,
        "attempts": job.attempts,
        "batch": job.batch if job.waiting else None,
    }


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def next_tries(pending: Sequence[Job]) -> list[float]:
    """When each pending job (oldest first) can be tried at the earliest: its own retry time, but never before
    the earlier jobs of its receiver, which its lane sends first. A job waiting in its batch goes when the batch
    does, at the latest when its own wait is over, and holds up no other job."""
    blocked: dict[str, float] = {}
    earliest = []
    for job in pending:
        if job.waiting:
            earliest.append(job.not_before)
            continue
        at = max(job.not_before, blocked.get(job.receiver, 0.0))
        blocked[job.receiver] = at
        earliest.append(at)
    return earliest


def _next_try(job: Job, at: float, now: float) -> str:
    if at <= now:
        return ", due now" if job.attempts or job.waiting else ""
    left = at - now
    when = f"{left:.1f}s" if left < 60 else f"{int(left) // 60}m{int(left) % 60:02d}s" if left < 3600 else (
        _duration(left))
    if job.waiting:
        return f", waiting in its batch (batchMaxWait) for at most {when} more"
    behind = " (behind an earlier delivery to this receiver)" if at > job.not_before else ""
    return f", next try in {when}{behind}"


def _print_deliveries(counts: dict[str, tuple[int, int]], pending: list[Job], dead: list[DeadLetter]) -> None:
    now = time.time()
    total_pending, total_dead = (sum(c[i] for c in counts.values()) for i in (0, 1))
    print(f"{total_pending} pending, {_plural(total_dead, 'dead letter')}")
    for receiver, (waiting, buried) in counts.items():
        print(f"  {receiver}: {waiting} pending, {buried} dead")

    def summary(job: Job) -> str:
        alerts = job.notification.alerts
        names = sorted({a.labels.get("alertname", "") for a in alerts} - {""})
        named = ", ".join(names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
        what = f"{job.notification.status}, {_plural(len(alerts), 'alert')}" if alerts else "unreadable"
        return (f"{job.id}  {job.receiver}  {what}{': ' + named if named else ''}, "
                f"accepted {_duration(now - job.created)} ago")

    if pending:
        print("\npending, oldest first:")
    for job, next_try in zip(pending, next_tries(pending), strict=True):
        print(f"  {summary(job)}, {_plural(job.attempts, 'attempt')}{_next_try(job, next_try, now)}")
        if job.last_error:
            print(f"      last error: {job.last_error}")
    if len(pending) < total_pending:
        print(f"  ... and {total_pending - len(pending)} more (--limit 0 lists all)")
    if dead:
        print("\ndead letters, oldest first (nm deliveries redrive ID... or --all puts them back to pending):")
    for letter in dead:
        print(f"  {summary(letter.job)}, dead for {_duration(now - letter.buried)} after "
              f"{_plural(letter.job.attempts, 'attempt')}")
        print(f"      reason: {letter.reason}")
    if len(dead) < total_dead:
        print(f"  ... and {total_dead - len(dead)} more (--limit 0 lists all)")


def cmd_deliveries(args: argparse.Namespace) -> int:
    location = _store_location(args)
    try:
        with inspect_store(location) as store:
            if args.action == "redrive":
                if not args.all and not args.ids:
                    print("nm deliveries redrive: give --all or the IDs of dead letters", file=sys.stderr)
                    return 2
                moved = store.redrive(None if args.all else args.ids)
                print(f"{_plural(len(moved), 'dead letter')} moved back to pending")
                missing = sorted(set(args.ids) - set(moved))
                for job_id in missing:
                    print(f"nm deliveries redrive: no dead letter {job_id}", file=sys.stderr)
                return 1 if missing else 0
            limit = args.limit or None
            counts, pending, dead = store.counts(), store.pending(limit), store.dead(limit)
    except StoreNotFound as exc:
        print(f"nm deliveries: {exc}", file=sys.stderr)
        return 1
    where = {"state_file": location.where} if location.kind == "sqlite" else {"store": location.where}
    if args.json:
        print(json.dumps({
            **where,
            "receivers": {r: {"pending": p, "dead": d} for r, (p, d) in counts.items()},
            "pending": [{**_describe(j), "not_before": j.not_before, "next_try": at, "last_error": j.last_error}
                        for j, at in zip(pending, next_tries(pending), strict=True)],
            "dead_letters": [{**_describe(d.job), "reason": d.reason, "buried": d.buried} for d in dead],
        }, indent=2, ensure_ascii=False))
    else:
        print(f"{location.where}: ", end="")
        _print_deliveries(counts, pending, dead)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from nmcore.history import query_from

    filters = {k: str(v) for k in ("receiver", "tenant", "alertname", "fingerprint", "since", "until", "outcome",
                                   "limit") if (v := getattr(args, k)) is not None}
    try:
        query = query_from(filters)
        location = _store_location(args)
        if location.kind == "memory":
            raise ValueError("an in-memory state is only visible to its own process")
    except ValueError as exc:
        print(f"nm history: {exc}", file=sys.stderr)
        return 2
    try:
        with inspect_store(location) as store:
            entries = store.history(query)
    except StoreNotFound as exc:
        print(f"nm history: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("no deliveries match")
        return 0
    rows = [("FINISHED", "OUTCOME", "RECEIVER", "TENANT", "ALERTS", "TRIES", "ID / ANSWER")]
    for e in entries:
        alerts = ", ".join(sorted({f"{a.alertname or '?'}[{a.status}]" for a in e.alerts}))
        finished = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e.finished))
        rows.append((finished, e.outcome, e.receiver, e.tenant or "-", alerts, str(len(e.attempts)),
                     e.id + (f"  {e.error}" if e.error else "")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def cmd_crds(args: argparse.Namespace) -> int:
    from nmcore.kube.crds import stale_crds, write_crds

    channels = _host().channels
    if args.check:
        stale = stale_crds(args.dir, channels)
        for name in stale:
            print(f"{args.dir}/{name}: stale; run `nm crds` to regenerate")
        return 1 if stale else 0
    for path in write_crds(args.dir, channels):
        print(path)
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "route": cmd_route, "silences": cmd_silences,
            "verify": cmd_verify,
            "render": cmd_render, "convert": cmd_convert, "plugins": cmd_plugins,
            "deliveries": cmd_deliveries, "history": cmd_history, "crds": cmd_crds}


def _configure_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s", timestamp="time",
                                           rename_fields={"levelname": "level", "name": "logger"},
                                           json_ensure_ascii=False))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RepeatLimiter())
    logging.basicConfig(level=level, handlers=[handler])


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _configure_logging(args.log_level, args.log_format)
    try:
        return COMMANDS[args.command](args)
    except NmcoreError as exc:  # every error nmcore raises on purpose says what to fix
        print(f"nm {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
