"""Every credential the configuration holds, in every form it travels in, hidden from whatever leaves the process.

A credential reaches text in more shapes than its own: URL-encoded in a request line, base64 in a Basic
`Authorization` header a server echoes back (`user:password`), as the password or a query value of a URL, as
the path of a URL that is itself the credential (a Slack incoming webhook). A snapshot collects all of them once
(`scrubber_for`); attempts scrub their errors with it before they are logged, answered or stored, and every
log record of the process is scrubbed with the scrubbers of the configurations in use (`publish`).

Some credentials are in no configuration: the ones a send derives from them (DingTalk's and Feishu's robot
signatures, an SMS provider's request signature) or obtains with them (an app's access token). A service that
refuses a request may quote them back. So every HTTP request a send makes through the core's client is noted
(`note_request`, into the `SendCredentials` that `collecting` opened for the send), and the send's errors and
warnings are scrubbed of what those requests carried as credentials (`request_secrets`): URL passwords, query
values and token-like path segments, authentication headers and their parameters, and the body fields named
as secrets (`sign`, `token`, `app_secret`, `AccessKeyId`…). Log records made during the send are scrubbed of
them too. A send that derives a credential outside the core's HTTP client (an SMTP AUTH line, a CRAM-MD5 answer)
notes it itself (`note_secret`), with the same effect.
"""

import base64
import binascii
import contextvars
import json
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

import attrs

from nmcore import v2beta2
from nmcore.httpfailures import TOKEN_SEGMENT
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


# What one send's requests carried -----------------------------------------------------------------------

_SECRET_HEADER = re.compile(r"auth|token|secret|sign|key|wsse|password|session|cookie", re.IGNORECASE)
"""Headers that carry credentials: Authorization, X-WSSE, X-Api-Key, X-Auth-Token, a vendor's X-…-Signature."""
_HEADER_PARAMETER = re.compile(r"""([A-Za-z][\w-]*)=("?)([^",\s]+)\2""")
"""`name=value` and `name="value"` inside an authentication header (SigV4's Signature=, WSSE's PasswordDigest=)."""
_SECRET_FIELD_WORDS = frozenset({"sign", "signature", "secret", "token", "password", "passwd", "key", "credential",
                                 "credentials", "auth", "authorization", "apikey", "accesskey", "appkey", "appsecret",
                                 "corpsecret", "secretkey"})
"""A body field whose name has one of these words (`app_secret`, `AccessKeyId`, `sign`, `access_token`) holds a
credential: its value is one,"""
_NOT_SECRET_FIELD_WORDS = frozenset({"name", "method", "version"})
"""unless the name also has one of these: an SMS provider's `SignName` (the sender's brand), `SignatureMethod`."""
_NAME_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
MAX_BODY_READ = 256 * 1024
"""A larger request body is not searched for credential fields (a message that long carries none)."""


def _secret_field(name: str) -> bool:
    words = {word.lower() for word in _NAME_WORDS.findall(name)}
    return bool(words & _SECRET_FIELD_WORDS) and not words & _NOT_SECRET_FIELD_WORDS


def request_secrets(url: str, headers: Iterable[tuple[str, str]], body: bytes = b"",
                    content_type: str = "") -> Iterator[str]:
    """The credentials an HTTP request carries, each as sent (`forms` gives its encodings): the URL's password,
    query values and token-like path segments; the authentication headers, their value after the scheme, a Basic
    pair decoded, and their `name=value` parameters (a signature, a key ID); the values of the JSON or form body
    fields named as secrets. Message text is never one of them."""
    yield from url_secrets(url)
    try:
        path = urlsplit(url).path
    except ValueError:
        path = ""
    for segment in path.split("/"):
        if TOKEN_SEGMENT.fullmatch(unquote(segment)):
            yield unquote(segment)
            if segment.startswith("bot"):  # the Bot API's /bot<token>/
                yield unquote(segment)[3:]
    for name, value in headers:
        if _SECRET_HEADER.search(name) and value:
            yield value
            scheme, _, rest = value.partition(" ")
            if rest:
                yield rest.strip()
                if scheme.lower() == "basic":
                    try:
                        pair = base64.b64decode(rest.strip(), validate=True).decode()
                    except (binascii.Error, UnicodeDecodeError):
                        pair = ""
                    yield pair
                    yield pair.partition(":")[2]
            for _, _, parameter in _HEADER_PARAMETER.findall(value):
                yield parameter
                yield parameter.split("/", 1)[0]  # SigV4's and TC3's Credential=<key id>/<scope>
    if not body or len(body) > MAX_BODY_READ:
        return
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            fields = parse_qsl(body.decode(), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return
        yield from (value for name, value in fields if _secret_field(name))
    elif kind == "application/json" or kind.endswith("+json"):
        try:
            stack: list[Any] = [json.loads(body)]
        except ValueError:
            return
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                for name, item in value.items():
                    if isinstance(item, str) and _secret_field(str(name)):
                        yield item
                    elif isinstance(item, dict | list):
                        stack.append(item)
            elif isinstance(value, list):
                stack += value


class SendCredentials:
    """The credentials one send carried in its HTTP requests, and the ones it noted itself: scrubbed from the
    send's errors and warnings, and from log records made during the send. Requests are only noted; what they
    carried is worked out when something is to be scrubbed, so a send that succeeds without a log line pays
    nothing more for it."""

    def __init__(self) -> None:
        self._requests: list[tuple[str, list[tuple[str, str]], bytes, str]] = []
        self._values: list[str] = []
        self._scrubber: Scrubber | None = None

    def __bool__(self) -> bool:
        return bool(self._requests or self._values)

    def __repr__(self) -> str:
        return f"SendCredentials({len(self._requests)} requests, {len(self._values)} values)"

    def note(self, url: str, headers: list[tuple[str, str]], body: bytes, content_type: str = "") -> None:
        self._requests.append((url, headers, body, content_type))
        self._scrubber = None

    def note_values(self, values: Iterable[str]) -> None:
        self._values += values
        self._scrubber = None

    def scrubber(self) -> Scrubber:
        if self._scrubber is None:
            carried = {s for request in self._requests for s in request_secrets(*request) if s}
            carried.update(value for value in self._values if value)
            self._scrubber = Scrubber(form for value in carried for form in forms(value))
        return self._scrubber

    def scrub(self, text: str) -> str:
        return self.scrubber().scrub(text) if self else text


_current: contextvars.ContextVar[SendCredentials | None] = contextvars.ContextVar("nmcore_send_credentials",
                                                                                   default=None)


@contextmanager
def collecting() -> Iterator[SendCredentials]:
    """Note the credentials of every request made from here (and from the tasks started here) until the end."""
    credentials = SendCredentials()
    token = _current.set(credentials)
    try:
        yield credentials
    finally:
        _current.reset(token)


def note_request(url: str, headers: list[tuple[str, str]], body: bytes, content_type: str = "") -> None:
    """Called by the core's HTTP client for each request: noted for the send making it, if any."""
    credentials = _current.get()
    if credentials is not None:
        credentials.note(url, headers, body, content_type)


def note_secret(*values: str) -> None:
    """Credentials the send in progress derived or used outside the core's HTTP client (AUTH PLAIN's base64 line,
    a CRAM-MD5 answer): hidden, in every form, from its errors, warnings and log records, as what its HTTP
    requests carried is. Does nothing outside a send."""
    credentials = _current.get()
    if credentials is not None:
        credentials.note_values(values)


def scrub_send(text: str) -> str:
    """`text` scrubbed of what the send in progress carried (unchanged outside a send)."""
    credentials = _current.get()
    return credentials.scrub(text) if credentials else text


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

    def scrub(text: str) -> str:
        return scrub_send(scrub_published(text))

    def scrubbed_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if not _published and not _current.get():
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it when the record is emitted
            return record
        hidden = scrub(message)
        if hidden != message:
            record.msg, record.args = hidden, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(formatter.formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    logging.setLogRecordFactory(scrubbed_record)
