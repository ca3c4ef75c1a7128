"""The HTTP face of a manager: Alertmanager's webhook intake, test sends, health, readiness, metrics, status.

An ASGI app (Starlette) served by uvicorn. The intake answers 200 only once the alerts' jobs are stored,
503 with Retry-After when not ready, overloaded or stopping (Alertmanager retries 5xx), 4xx with a message
naming the problem for input that can never succeed.

On SIGTERM the listener stays open while the sends in flight finish: new requests get 503 and Retry-After
(Alertmanager retries them, at this instance's successor), not a refused connection.

The intake may require the credentials Alertmanager's `http_config` sends (nmcore.access). The admin endpoints
(verify, notifications, route, status, history, the console's API, /ui and its redrive) can have a listener of
their own (`--admin-listen`: then the intake answers 404 for them) and a token (`--admin-token-file`); without
either, they want the intake's credentials. Probes and metrics need none, on either listener.
"""

import logging
import signal
import socket
from collections.abc import Awaitable, Callable, Generator
from contextlib import contextmanager
from typing import Any

import anyio
import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nmcore import console
from nmcore.access import Credentials
from nmcore.errors import BadRequest, Busy, NotReady, PayloadError, StoreUnavailable, UnknownReceiver
from nmcore.history import query_from
from nmcore.httpguard import ConnectionLimits, guarded_protocol
from nmcore.ingest import Parsed, decode_payload, parse_payload
from nmcore.manager import Manager
from nmcore.routing import routers_report, silences_report
from nmcore.ui import ui_routes
from nmcore.verify import VerifyResult, find_receiver

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"status": status, "error": message}, status_code=status, headers=headers)


def _original(status: int, message: str, results: list[VerifyResult] = ()) -> JSONResponse:  # type: ignore[assignment]
    """The Go original's answer `{"Status", "Message"}` (what the console reads), with each channel's verdict."""
    return JSONResponse({"Status": status, "Message": message, "results": [r.to_json() for r in results]},
                        status_code=status)


async def _json_body(request: Request, limit: int) -> Any:
    body = await _read_body(request, limit)
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None


INLINE_PARSE_BYTES = 256 * 1024
"""Bodies larger than this are decoded and checked in a worker thread (a small one is quicker on the loop)."""

MAX_DISCARD_BYTES = 64 * 1024 * 1024
"""How much of a body over the limit is read and thrown away before answering 413, so that a client still
sending it reads the 413 rather than a connection reset (beyond this, the connection is cut)."""


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` (then read to its end, up to MAX_DISCARD_BYTES, and dropped)."""
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else 0
    if size > MAX_DISCARD_BYTES:
        return None
    body: bytearray | None = None if size > limit else bytearray()
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if body is not None:
            body += chunk
            if len(body) > limit:
                body = None
        if seen > MAX_DISCARD_BYTES:
            break
    return None if body is None else bytes(body)


async def _decode(body: bytes) -> Parsed:
    """The body checked as alerts; a large one in a worker thread, so the event loop keeps serving."""
    return await anyio.to_thread.run_sync(decode_payload, body) if len(body) > INLINE_PARSE_BYTES else (
        decode_payload(body))


Endpoint = Callable[[Request], Awaitable[Response]]


def _disconnect_tolerant(endpoint: Endpoint) -> Endpoint:
    """A client gone before its body arrived (it hung up, or the connection guard timed it out) is nothing to
    log a traceback for: there is no one left to answer."""

    async def tolerant(request: Request) -> Response:
        try:
            return await endpoint(request)
        except ClientDisconnect:
            return Response(status_code=408)

    return tolerant


def _refusal(credentials: Credentials) -> JSONResponse:
    return JSONResponse({"status": 401, "error": "missing or wrong credentials in Authorization"},
                        status_code=401, headers={"WWW-Authenticate": credentials.challenge()})


def _guarded(endpoint: Endpoint, credentials: Credentials | None) -> Endpoint:
    """`endpoint`, answering 401 with `WWW-Authenticate` to a request without `credentials` (if any are set)."""
    if not credentials:
        return endpoint

    async def guarded(request: Request) -> Response:
        if credentials.allows(request.headers.get("authorization", "")):
            return await endpoint(request)
        return _refusal(credentials)

    return guarded


class _RequireCredentials:
    """Every request to the wrapped app (the admin endpoints) must carry `credentials`."""

    def __init__(self, app: ASGIApp, credentials: Credentials):
        self.app, self.credentials = app, credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            if not self.credentials.allows(headers.get(b"authorization", b"").decode("latin-1")):
                await _refusal(self.credentials)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(manager: Manager, *, max_body_bytes: int = MAX_BODY_BYTES, intake_auth: Credentials | None = None,
               admin_auth: Credentials | None = None, intake: bool = True, admin: bool = True) -> Starlette:
    """The intake and the probes; the admin endpoints too unless `admin` is false (they are on their own
    listener, `create_app(..., intake=False)`), behind `admin_auth`, else the intake's credentials."""
    stopping = anyio.Event()

    async def receive_alerts(request: Request) -> Response:
        if stopping.is_set():
            return _error(503, "shutting down", retry_after=5)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            return _error(415, f"expected Content-Type application/json, got {content_type or 'none'}")
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return _error(413, f"body larger than {max_body_bytes} bytes; lower max_alerts in Alertmanager")
        try:
            accepted = await manager.submit_parsed(await _decode(body))
        except PayloadError as exc:
            return _error(400, str(exc))
        except NotReady as exc:
            return _error(503, str(exc), retry_after=1)
        except Busy as exc:
            return _error(503, str(exc), retry_after=exc.retry_after)
        except StoreUnavailable:  # the store said so in the log when it went away
            return _error(503, "the store is unreachable; nothing was accepted, retry later", retry_after=2)
        except Exception:  # the store failed (disk full, I/O error): nothing was accepted, so ask for a retry
            log.exception("alerts could not be stored; answering 503 so the sender retries")
            return _error(503, "alerts could not be stored; retry later", retry_after=5)
        return JSONResponse({
            "status": 200,
            "alerts": accepted.alerts,
            "notifications": accepted.notifications,
            "duplicates": accepted.duplicates,
            "rejected": list(accepted.rejected),
        })

    async def verify(request: Request) -> Response:
        """Send a test notification now: `{"receiver": "name or Kind/namespace/name"}`, or the console's
        `{"receiver": <Receiver>, "config": <Config>?}` (the Go original's body and answer)."""
        body = await _json_body(request, 256 * 1024)
        if not isinstance(body, dict) or "receiver" not in body:
            return _error(400, 'expected a JSON body {"receiver": "<name or Kind/namespace/name>"} or '
                               '{"receiver": <Receiver object>, "config": <Config object>}')
        if not manager.ready:
            return _error(503, "no configuration loaded yet", retry_after=1)
        if isinstance(body["receiver"], str):
            try:
                result = await manager.verify(body["receiver"])
            except UnknownReceiver as exc:
                return _error(404, str(exc))
            return JSONResponse(result.to_json())
        return await _send_objects(body, None, "Verify successfully")

    async def notifications(request: Request) -> Response:
        """Send the alerts given to the receiver given, now: `{"receiver", "config"?, "alert": {"alerts": […]}}`."""
        body = await _json_body(request, max_body_bytes)
        if not isinstance(body, dict) or "receiver" not in body:
            return _original(400, "Receiver is nil")
        if "alert" not in body:
            return _original(400, "alert is nil")
        try:
            group = parse_payload(body["alert"]).group
        except PayloadError as exc:
            return _original(400, f"alert: {exc}")
        if not manager.ready:
            return _error(503, "no configuration loaded yet", retry_after=1)
        return await _send_objects(body, group, "Send alerts successfully")

    async def _send_objects(body: dict, group: Any, success: str) -> Response:
        receiver = body["receiver"]
        try:
            if isinstance(receiver, str):
                results = [await manager.verify(receiver)] if group is None else await _by_name(receiver, group)
            else:
                results = await manager.verify_objects(receiver, body.get("config"), group)
        except (BadRequest, UnknownReceiver) as exc:
            return _original(400, str(exc))
        failed = [r for r in results if not r.ok]
        message = "; ".join(f"{r.receiver}: {r.error}" for r in failed) or success
        return _original(400 if failed else 200, message, results)

    async def _by_name(name: str, group: Any) -> list[VerifyResult]:
        """`{"receiver": "name"}` in /api/v2/notifications: that saved receiver, as a Receiver object would be."""
        ref = find_receiver(manager.snapshot, name)
        found = next(r for r in manager.snapshot.receivers if r.ref == ref)
        return await manager.send_alerts_to(found, group)

    def query(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.query_params.items() if v}

    async def receivers(request: Request) -> Response:
        return JSONResponse(console.list_receivers(manager.snapshot, query(request)))

    async def configs(request: Request) -> Response:
        return JSONResponse(console.list_configs(manager.snapshot, query(request)))

    async def receiver_with_config(request: Request) -> Response:
        return JSONResponse(console.receivers_with_config(manager.snapshot, query(request)))

    async def explain_route(request: Request) -> Response:
        """`nm route --url`: for each alert of an Alertmanager body, who gets it and why not the others."""
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return _error(413, f"body larger than {max_body_bytes} bytes")
        try:
            parsed = await _decode(body)
            explanations = await manager.explain(parsed)
        except PayloadError as exc:
            return _error(400, str(exc))
        except NotReady as exc:
            return _error(503, str(exc), retry_after=1)
        return JSONResponse({"alerts": explanations, "rejected": list(parsed.rejected)})

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        if stopping.is_set():
            return PlainTextResponse("stopping", status_code=503)
        reason = manager.unready_reason()
        return PlainTextResponse(reason, 503) if reason else PlainTextResponse("ready")

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(manager.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def status(_: Request) -> Response:
        """What the manager believes right now: the answer to "configured, but nothing arrives"."""
        snapshot = manager.snapshot
        return JSONResponse({
            "ready": manager.ready,
            "pending": manager.pending,
            "channels": sorted(snapshot.channels),
            "receivers": [
                {"receiver": ref, "channel": t.channel, "tenant": t.tenant,
                 "config": t.config.ref if t.config else None, "template_problems": manager.template_status(ref)}
                for ref, t in sorted(snapshot.targets.items())
            ],
            "cannot_send": [{"receiver": ref, "reason": why} for ref, why in sorted(snapshot.skipped.items())],
            "ownership": {  # who owns a v2beta2 object: the NotificationManager in force, or the defaults
                "notification_manager": snapshot.settings.source or None,
                "global": str(snapshot.settings.global_selector), "tenant": str(snapshot.settings.tenant_selector),
                "tenant_key": snapshot.settings.tenant_key,
                "default_config": str(snapshot.settings.default_config_selector),
                "secret_namespace": snapshot.secret_namespace, "cluster": snapshot.settings.cluster or None,
            },
            "batching": {
                "group_labels": list(snapshot.settings.group_labels or []) or None,
                "batch_max_size": snapshot.settings.batch_max_size or None,
                "batch_max_wait_seconds": snapshot.settings.batch_max_wait,
                "waiting": manager.waiting_in_batches,
            },
            "route_policy": snapshot.rules.policy,
            "routers": routers_report(snapshot),
            "silences": silences_report(snapshot, manager.router.clock()),
            "problems": [str(p) for p in snapshot.problems],
            "warnings": [str(w) for w in manager.warnings],
        })

    async def silences(_: Request) -> Response:
        """`nm silences --url`: every Silence, whether it mutes now (until when) and whose receivers."""
        return JSONResponse({"silences": silences_report(manager.snapshot, manager.router.clock())})

    async def history(request: Request) -> Response:
        """Finished deliveries, newest first; filters as query parameters (receiver, tenant, alertname,
        fingerprint, since, until, outcome, limit), the same as `nm history`."""
        try:
            query = query_from(dict(request.query_params))
        except ValueError as exc:
            return _error(400, str(exc))
        entries = await manager.history(query)
        return JSONResponse({"history": [e.to_json() for e in entries]})

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]
    if intake:
        routes.append(Route("/api/v2/alerts", _guarded(_disconnect_tolerant(receive_alerts), intake_auth),
                            methods=["POST"]))
    if admin:
        admin_app: ASGIApp = Starlette(routes=[
            Route("/api/v2/verify", _disconnect_tolerant(verify), methods=["POST"]),
            Route("/api/v2/notifications", _disconnect_tolerant(notifications), methods=["POST"]),
            Route("/receivers", receivers),
            Route("/configs", configs),
            Route("/receiverWithConfig", receiver_with_config),
            Route("/api/v2/route", _disconnect_tolerant(explain_route), methods=["POST"]),
            Route("/api/v2/status", status),
            Route("/api/v2/history", history),
            Route("/api/v2/silences", silences),
            *ui_routes(manager),
        ])
        credentials = admin_auth or intake_auth
        routes.append(Mount("", app=_RequireCredentials(admin_app, credentials) if credentials else admin_app))
    app = Starlette(routes=routes)
    app.state.stopping = stopping
    return app


class ListenError(Exception):
    """The address to listen on cannot be used; the message names it and why."""


def listen_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """Bind and listen before anything else starts, so "address already in use" is one clear error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                            flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal after shutting down, which would kill us before sends in flight finish;
    nmcore handles SIGTERM/SIGINT itself."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(manager: Manager, host: str, port: int, grace: float = 10.0, *,
                admin_listen: tuple[str, int] | None = None, intake_auth: Credentials | None = None,
                admin_auth: Credentials | None = None, limits: ConnectionLimits = ConnectionLimits()) -> None:
    """Run the manager behind the HTTP server (and the admin one, when it has its own listener) until SIGTERM
    or SIGINT, then stop cleanly: answer 503 while the sends in flight finish and are recorded, then close the
    listeners. Raises ListenError before starting anything when an address cannot be used."""
    # asyncio accepts up to `backlog` connections per wake-up before any is seen by the protocol: keep that
    # batch within what the connection cap leaves of the open-files limit.
    backlog = min(2048, max(64, limits.max_connections))
    apps = [(listen_socket(host, port, backlog), create_app(manager, intake_auth=intake_auth, admin_auth=admin_auth,
                                                            admin=admin_listen is None))]
    if admin_listen is not None:
        apps.append((listen_socket(*admin_listen, backlog),
                     create_app(manager, admin_auth=admin_auth, intake=False)))
    elif not (admin_auth or intake_auth):
        log.warning("the admin endpoints (/api/v2/status, verify, route, history, /ui, the console API) answer "
                    "anyone who reaches the intake: give them --admin-listen 127.0.0.1:PORT or --admin-token-file")
    servers = [(sock, _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                             timeout_graceful_shutdown=int(grace), http=guarded_protocol(limits),
                                             backlog=backlog)))
               for sock, app in apps]

    async def run_server(tasks: anyio.abc.TaskGroup, sock: socket.socket, server: _Server) -> None:
        await server.serve(sockets=[sock])
        tasks.cancel_scope.cancel()  # it stopped on its own (it failed): stop everything

    try:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with manager, anyio.create_task_group() as tasks:
                for sock, server in servers:
                    tasks.start_soon(run_server, tasks, sock, server)
                log.info("listening on http://%s:%d/api/v2/alerts", host, port)
                if admin_listen is not None:
                    log.info("admin endpoints on http://%s:%d/api/v2/status", *admin_listen)
                async for received in signals:
                    log.info("%s received: answering 503 to new alerts; finishing sends in flight",
                             signal.Signals(received).name)
                    break
                for _, app in apps:
                    app.state.stopping.set()
                await manager.stop_delivering()
                for _, server in servers:
                    server.should_exit = True
    finally:
        for sock, _ in apps:
            sock.close()
