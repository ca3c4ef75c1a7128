"""The HTTP face of a manager: Alertmanager's webhook intake, test sends, health, readiness, metrics, status.

An ASGI app (Starlette) served by uvicorn. The intake answers 200 only once the alerts' jobs are stored,
503 with Retry-After when not ready, overloaded or stopping (Alertmanager retries 5xx), 4xx with a message
naming the problem for input that can never succeed.
"""

import logging
import signal
from collections.abc import Generator
from contextlib import contextmanager

import anyio
import orjson
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from nmcore.errors import Busy, NotReady, PayloadError, StoreUnavailable, UnknownReceiver
from nmcore.intaketoken import IntakeToken
from nmcore.manager import Manager

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"status": status, "error": message}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def create_app(manager: Manager, *, max_body_bytes: int = MAX_BODY_BYTES,
               intake_token: IntakeToken | None = None) -> Starlette:
    stopping = anyio.Event()

    async def receive_alerts(request: Request) -> Response:
        if intake_token is not None and not intake_token.allows(request.headers.get("authorization")):
            response = _error(401, "a bearer token is required (Alertmanager: http_config.authorization)")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        if stopping.is_set():
            return _error(503, "shutting down", retry_after=5)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            return _error(415, f"expected Content-Type application/json, got {content_type or 'none'}")
        body = await _read_body(request, max_body_bytes)
        if body is None:
            return _error(413, f"body larger than {max_body_bytes} bytes; lower max_alerts in Alertmanager")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _error(400, f"malformed JSON: {exc}")
        try:
            accepted = await manager.submit_payload(payload)
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
        """Send a test notification to one receiver now: `{"receiver": "name or Kind/namespace/name"}`."""
        body = await _read_body(request, 64 * 1024)
        try:
            name = orjson.loads(body or b"null")["receiver"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return _error(400, 'expected a JSON body {"receiver": "<name or Kind/namespace/name>"}')
        if not isinstance(name, str):
            return _error(400, '"receiver" must be a string')
        if not manager.ready:
            return _error(503, "no configuration loaded yet", retry_after=1)
        try:
            result = await manager.verify(name)
        except UnknownReceiver as exc:
            return _error(404, str(exc))
        return JSONResponse(result.to_json())

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        if stopping.is_set():
            return PlainTextResponse("stopping", status_code=503)
        return PlainTextResponse("ready") if manager.ready else PlainTextResponse("no configuration yet", 503)

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
            "problems": [str(p) for p in snapshot.problems],
        })

    app = Starlette(routes=[
        Route("/api/v2/alerts", receive_alerts, methods=["POST"]),
        Route("/api/v2/verify", verify, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/api/v2/status", status),
    ])
    app.state.stopping = stopping
    return app


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal after shutting down, which would kill us before sends in flight finish;
    nmcore handles SIGTERM/SIGINT itself."""

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(manager: Manager, host: str, port: int, grace: float = 10.0,
                intake_token: IntakeToken | None = None) -> None:
    """Run the manager behind the HTTP server until SIGTERM or SIGINT, then stop cleanly."""
    app = create_app(manager, intake_token=intake_token)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=int(grace))
    server = _Server(config)

    async def stop_on_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for received in signals:
                log.info("%s received: no new alerts accepted; finishing sends in flight",
                         signal.Signals(received).name)
                app.state.stopping.set()
                server.should_exit = True
                return

    async with manager, anyio.create_task_group() as tasks:
        tasks.start_soon(stop_on_signal)
        log.info("listening on http://%s:%d/api/v2/alerts", host, port)
        await server.serve()
        tasks.cancel_scope.cancel()
