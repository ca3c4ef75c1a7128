"""Every credential the configuration holds, in every form it travels in, hidden from whatever leaves the process.

A credential reaches text in more shapes than its own: URL-encoded in a request line, base64 in a Basic
`Authorization` header a server echoes back (`user:password`), as the password or a query value of a URL, as
the path of a URL that is itself the credential (a Slack incoming webhook). A snapshot collects all of them once
(`scrubber_for`); attempts scrub their errors with it before they are logged, answered or stored, and every
log record of the process is scrubbed with the scrubbers of the configurations in use (`publish`).
"""

import base64
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

import attrs

from nmcore import v2beta2
from nmcore.resources import Credential, SecretKeySelector

AnyCredential = Credential | v2beta2.Credential
AnySecretRef = SecretKeySelector | v2beta2.SecretKeyRef

REDACTED = "<redacted>"

MIN_LENGTH = 6
"""Shorter values are not scrubbed: hiding every "test" (the KubeSphere document's placeholder password) would
garble every message that names test-user, and a credential that short protects nothing anyway."""

MIN_QUERY_LENGTH = 8
"""A query value of an ordinary URL (`?format=json`) is hidden only when it is long enough to be a key."""

PATH_SECRET_LENGTH = 8


class Scrubber:
    """Replaces each of a set of values in text by `<redacted>`, the longest first where they overlap.

    Values are indexed by their first `MIN_LENGTH` characters, so scrubbing costs one dictionary lookup per
    character of the text whatever the number of values (10,000 Secrets scrub as fast as one).
    """

    def __init__(self, values: Iterable[str] = ()):
        by_prefix: dict[str, list[str]] = {}
        for value in sorted({v for v in values if len(v) >= MIN_LENGTH}, key=len, reverse=True):
            by_prefix.setdefault(value[:MIN_LENGTH], []).append(value)
        self._by_prefix = by_prefix

    def __bool__(self) -> bool:
        return bool(self._by_prefix)

    def __repr__(self) -> str:
        return f"Scrubber({sum(map(len, self._by_prefix.values()))} values)"

    def scrub(self, text: str) -> str:
        if not self._by_prefix or len(text) < MIN_LENGTH:
            return text
        get = self._by_prefix.get
        parts: list[str] = []
        start = position = 0
        end = len(text) - MIN_LENGTH
        while position <= end:
            candidates = get(text[position:position + MIN_LENGTH])
            if candidates:
                for value in candidates:
                    if text.startswith(value, position):
                        parts += (text[start:position], REDACTED)
                        position = start = position + len(value)
                        break
                else:
                    position += 1
            else:
                position += 1
        if not parts:
            return text
        parts.append(text[start:])
        return "".join(parts)


def forms(value: str) -> Iterator[str]:
    """A credential as it may appear in text: itself, URL-encoded, in base64; a URL also by its secret parts."""
    yield value
    yield quote(value, safe="")
    yield quote(value)
    yield quote_plus(value)
    encoded = value.encode()
    yield base64.b64encode(encoded).decode()
    yield base64.urlsafe_b64encode(encoded).decode()
    if "://" in value:
        yield from url_secrets(value, whole_url_is_secret=True)


def pair_forms(username: str, password: str) -> Iterator[str]:
    """`username:password` as HTTP Basic authentication sends it (base64), and URL-encoded."""
    yield from forms(f"{username}:{password}")


def url_secrets(text: str, *, whole_url_is_secret: bool = False) -> Iterator[str]:
    """The secret parts of a URL: its password (and `user:password` for Basic auth), its query values; for a
    URL that is a credential itself, also its path (a Slack webhook's `/services/T…/B…/secret`)."""
    try:
        parts = urlsplit(text.strip())
        password = parts.password
    except ValueError:
        return
    if not parts.scheme or not parts.netloc:
        return
    if password:
        for plain in {password, unquote(password)}:
            yield from forms(plain)
            yield from pair_forms(unquote(parts.username or ""), plain)
    for item in parts.query.split("&"):
        raw = item.partition("=")[2]
        if len(raw) >= (MIN_LENGTH if whole_url_is_secret else MIN_QUERY_LENGTH):
            yield raw
            yield from forms(unquote(raw.replace("+", " ")))
    if whole_url_is_secret and parts.path.strip("/"):
        yield parts.path + (f"?{parts.query}" if parts.query else "")
        last = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if len(last) >= PATH_SECRET_LENGTH:  # a Discord webhook's token, a Feishu robot's hook ID: in every form
            yield last
            yield from forms(unquote(last))


Resolve = Callable[[AnySecretRef], str | None]


def spec_secrets(spec: Any, resolve: Resolve) -> list[str]:
    """The credential forms a structured spec holds beyond its Secrets' values (those are scrubbed on their own):
    inline credentials, the secret parts of its URLs, and `username` + `password` pairs (HTTP Basic auth, SMTP
    AUTH) as sent, with the password `resolve`d from its Secret."""
    found: list[str] = []
    stack = [spec]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "://" in value:
                found += url_secrets(value)
        elif isinstance(value, AnyCredential):
            if value.value:
                found += forms(value.value)
        elif isinstance(value, AnySecretRef):
            continue
        elif isinstance(value, tuple | list):
            stack += value
        elif (names := _field_names(type(value))) is not None:
            items = [(name, getattr(value, name)) for name in names]
            stack += (item for _, item in items)
            username = next((v for name, v in items if "username" in name and isinstance(v, str) and v), "")
            for name, item in items:
                if username and "password" in name and (password := _plain(item, resolve)):
                    found += pair_forms(username, password)
    return found


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """An attrs class's field names, worked out once per class (specs are walked on every build)."""
    if cls not in _FIELD_NAMES:
        _FIELD_NAMES[cls] = tuple(field.name for field in attrs.fields(cls)) if attrs.has(cls) else None
    return _FIELD_NAMES[cls]


def _plain(value: Any, resolve: Resolve) -> str | None:
    if isinstance(value, AnyCredential):
        if value.value:
            return value.value
        ref = value.value_from.secret_key_ref if value.value_from is not None else None
        return resolve(ref) if ref is not None else None
    if isinstance(value, AnySecretRef):
        return resolve(value)
    return None


_lock = threading.Lock()
_by_owner: dict[int, Scrubber] = {}
_published: tuple[Scrubber, ...] = ()
"""What records are scrubbed with, replaced whole under the lock (readers in any thread see one or the other)."""


def publish(owner: object, scrubber: Scrubber) -> None:
    """Scrub every log record of this process with `scrubber` from now on, until `owner` (a manager) publishes
    another one, withdraws it or is garbage-collected."""
    global _published
    key = id(owner)
    with _lock:
        if not _by_owner and not _published:
            _install_record_factory()
        if key not in _by_owner:
            weakref.finalize(owner, _withdraw, key)
        _by_owner[key] = scrubber
        _published = tuple(s for s in _by_owner.values() if s)


def withdraw(owner: object) -> None:
    _withdraw(id(owner))


def _withdraw(key: int) -> None:
    global _published
    with _lock:
        _by_owner.pop(key, None)
        _published = tuple(s for s in _by_owner.values() if s)


def scrub_published(text: str) -> str:
    """`text` scrubbed with every published scrubber."""
    for scrubber in _published:
        text = scrubber.scrub(text)
    return text


_installed = False


def _install_record_factory() -> None:
    """Scrub at the creation of each record, so that every handler, formatter and library logger (httpx, aiohttp,
    uvicorn, a plugin's) sees only scrubbed text, tracebacks included. Installed once per process."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _published:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the record is emitted
            return record
        hidden = scrub_published(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_published(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub_published(record.stack_info)
        return record

    logging.setLogRecordFactory(scrubbed_record)
