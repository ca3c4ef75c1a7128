"""Looking for credentials where they must not be: every encoded form of a value, in every way out of `nm run`.

Shared by the leak tests (`test_secret_leaks.py` for the webhook channel, `test_secret_leaks_channels.py` for the
channel plugins): what a leak looks like (`forms`, `leaks`), and everything a running nm and its CLI say to an
operator (`admin_answers` over HTTP, `cli_answers` on the state and config dirs, `state_files`).
"""

import base64
import html
import json
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx

from tests.support import REPO


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forms(secret: str) -> set[str]:
    """A value as it may leave the process: itself, URL-encoded three ways, base64 (standard and URL-safe), and
    escaped for HTML (the operator's page) and for a JSON string."""
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), b64(secret),
            base64.urlsafe_b64encode(secret.encode()).decode(), html.escape(secret), json.dumps(secret)[1:-1]}


def forbidden(secrets: Iterable[str]) -> set[str]:
    return set().union(*(forms(s) for s in secrets))


def leaks(text: str, forbidden_forms: Iterable[str]) -> list[str]:
    """The forbidden forms found in `text`, sorted (an empty list when none is)."""
    return sorted(form for form in set(forbidden_forms) if form in text)


def nm_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`nm ARGS` in a child process (python -m nmcore), its output as text."""
    return subprocess.run([sys.executable, "-m", "nmcore", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=60)


def deliveries(state: Path) -> dict:
    """`nm deliveries --json` on a state dir: `{"pending": [...], "dead": [...]}`, or {} while it cannot be read."""
    result = nm_cli("deliveries", "--json", "--limit", "0", "--state-dir", str(state))
    return json.loads(result.stdout) if result.returncode == 0 else {}


def admin_answers(url: str, alerts: list[dict]) -> dict[str, str]:
    """What a running nm tells an operator, by where it said it: /api/v2/status, /metrics, /api/v2/history, the
    operator's page (/ui, with an alert explained), the console API's GETs and POST /api/v2/route for `alerts`."""
    labels = " ".join(f"{k}={v}" for k, v in alerts[0]["labels"].items())
    gets = {"status": "/api/v2/status", "metrics": "/metrics", "history": "/api/v2/history?limit=1000",
            "ui": "/ui", "ui explain": f"/ui?labels={quote_plus(labels)}", "console receivers": "/receivers",
            "console configs": "/configs", "console receiverWithConfig": "/receiverWithConfig",
            "silences": "/api/v2/silences"}
    answers = {}
    for where, path in gets.items():
        response = httpx.get(url + path, timeout=30)
        assert response.status_code == 200, (where, response.status_code, response.text[:300])
        answers[where] = response.text
    route = httpx.post(f"{url}/api/v2/route", json=alerts, timeout=30)
    assert route.status_code == 200, route.text[:300]
    answers["route"] = route.text
    return answers


def cli_answers(state: Path, config: Path, alerts: list[dict], folder: Path) -> dict[str, str]:
    """What the CLI says on the state dir (`nm deliveries`, `nm history`, text and JSON) and on the config dir
    (`nm route`, `nm validate`), stdout and stderr together."""
    payload = folder / "route-payload.json"
    payload.write_text(json.dumps(alerts))
    commands = {"nm deliveries --json": ["deliveries", "--json", "--limit", "0", "--state-dir", str(state)],
                "nm deliveries": ["deliveries", "--limit", "0", "--state-dir", str(state)],
                "nm history --json": ["history", "--json", "--limit", "1000", "--state-dir", str(state)],
                "nm history": ["history", "--limit", "1000", "--state-dir", str(state)],
                "nm route": ["route", "--config-dir", str(config), str(payload)],
                "nm validate": ["validate", str(config)]}
    answers = {}
    for where, args in commands.items():
        result = nm_cli(*args)
        answers[where] = result.stdout + result.stderr
    return answers


def state_files(state: Path) -> dict[str, str]:
    """Every byte of every file of a state dir (the SQLite database, its journal, anything else), as text."""
    return {f"state file {path.relative_to(state)}": path.read_bytes().decode("latin-1")
            for path in sorted(state.rglob("*")) if path.is_file()}


def prefixes(secrets: Iterable[str], length: int = 10) -> set[str]:
    """The first `length` characters of every form of each value: what is left of it where a text was cut
    inside it (a plugin quoting the first N characters of a reply that echoed it)."""
    return {form[:length] for secret in secrets for form in forms(secret) if len(form) > length}


def found_leaks(outputs: Mapping[str, str], forbidden_forms: Iterable[str]) -> dict[str, list[str]]:
    """Where each forbidden form was found: {way out: [form, in its context]}, empty when there is no leak."""
    forbidden_forms = set(forbidden_forms)
    found = {}
    for where, text in outputs.items():
        if hits := leaks(text, forbidden_forms):
            found[where] = [f"{form!r} in …{text[max(0, (at := text.index(form)) - 60):at + len(form) + 20]!r}…"
                            for form in hits[:5]]
    return found
