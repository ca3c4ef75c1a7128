"""The operator's page (GET /ui): receivers and whether each can send, config problems, recent notifications,
dead letters with a redrive button, and an "explain this alert" form. Server-rendered with Jinja2 (autoescaped),
plain HTML forms: no JavaScript and no build step."""

import time
import urllib.parse
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from nmcore.alerts import Alert
from nmcore.history import HistoryQuery
from nmcore.manager import Manager

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("ui_templates")),
                          autoescape=True, undefined=jinja2.StrictUndefined)
_env.filters["utc"] = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def parse_labels(text: str) -> dict[str, str]:
    """`alertname=X namespace=y` (spaces or commas between pairs); ValueError names a pair without `=`."""
    labels = {}
    for pair in text.replace(",", " ").split():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"{pair!r} is not name=value")
        labels[name] = value
    return labels


def ui_routes(manager: Manager) -> list[Route]:
    async def page(request: Request) -> Response:
        snapshot = manager.snapshot
        receivers = [{"ref": r.ref, "channel": (t.channel if (t := snapshot.targets.get(r.ref)) else ""),
                      "tenant": r.user if r.scope == "tenant" else "",
                      "problem": snapshot.skipped.get(r.ref) or "; ".join(manager.template_status(r.ref))}
                     for r in sorted(snapshot.receivers, key=lambda r: r.ref)]
        labels_text = request.query_params.get("labels", "")
        status = request.query_params.get("status", "firing")
        explained, explain_error = None, ""
        if labels_text:
            try:
                alert = Alert(status="resolved" if status == "resolved" else "firing", labels=parse_labels(labels_text))
                explained = await manager.router.explain(alert, snapshot)
            except ValueError as exc:
                explain_error = f"labels: {exc}"
        html = _env.get_template("page.html.j2").render(
            ready=manager.ready, pending=manager.pending, receivers=receivers,
            problems=[str(p) for p in snapshot.problems], history=await manager.history(HistoryQuery(limit=50)),
            dead=(await manager.store.dead_letters())[-100:], labels_text=labels_text, status=status,
            explained=explained, explain_error=explain_error, message=request.query_params.get("message", ""))
        return HTMLResponse(html)

    async def redrive(request: Request) -> Response:
        # a plain urlencoded form; read here rather than needing python-multipart for request.form()
        ids = urllib.parse.parse_qs((await request.body())[:64 * 1024].decode(errors="replace")).get("id", [])
        moved = await manager.redrive(ids) if ids else []
        message = f"{len(moved)} dead letter(s) moved back to pending" if moved else "no such dead letter"
        return RedirectResponse(f"/ui?message={message.replace(' ', '+')}", status_code=303)

    return [Route("/ui", page), Route("/ui/redrive", redrive, methods=["POST"])]
