"""The email channel's schemas, checked when loaded: EmailConfig and EmailReceiver (notification.kubesphere.io/
v1alpha1), and the `email` blocks of v2beta2 Config and Receiver objects (field for field as the Go original).

Addresses are checked here so that a typo in `to` or `from` is reported against the manifest at load time,
not as a failed delivery at 3 a.m.
"""

import email.errors
import email.utils
from email.headerregistry import Address
from typing import Any, Literal

import attrs

from nmcore.sdk import MANIFEST_KEY, LabelSelector, ReceiverTemplates, SecretKeySelector, TLSConfig, v2beta2


def mailbox(text: str) -> Address:
    """One address, optionally with a display name (`张三 <zhang@xyz.com>`); ValueError says what is wrong."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"{text!r} contains a line break")
    found = email.utils.getaddresses([text])
    if len(found) != 1:
        raise ValueError(f"{text!r} is not one email address (give each address as its own list item)")
    name, addr_spec = found[0]
    if not addr_spec.isascii():
        raise ValueError(f"{text!r}: only ASCII addresses are supported (write an international domain as xn--…)")
    try:
        address = Address(display_name=name, addr_spec=addr_spec)
    except (ValueError, IndexError, email.errors.HeaderParseError):
        address = None
    if address is None or not address.username or not address.domain:
        raise ValueError(f"{text!r} is not an email address (expected name@domain)")
    return address


@attrs.frozen(kw_only=True)
class SmartHost:
    host: str
    port: int

    def __attrs_post_init__(self) -> None:
        if not self.host.strip():
            raise ValueError("smartHost.host is empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"smartHost.port {self.port} is not a TCP port (1-65535)")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@attrs.frozen(kw_only=True)
class EmailConfigSpec:
    """How to reach the mail server: port 465 means implicit TLS, any other port STARTTLS when offered."""

    from_: str
    smart_host: SmartHost
    hello: str = "localhost"
    """The name sent in EHLO (Alertmanager's default; it avoids a slow reverse lookup of our own name)."""
    auth_username: str = ""
    auth_password: SecretKeySelector | None = None
    auth_identify: str = ""
    """Authorization identity for AUTH PLAIN; empty means the same as the username."""
    auth_secret: SecretKeySelector | None = None
    """Shared secret for AUTH CRAM-MD5."""
    require_tls: bool = attrs.field(default=False, metadata={MANIFEST_KEY: "requireTLS"})
    allow_insecure_auth: bool = False
    """Log in even over a connection without TLS (a server that does not offer STARTTLS). Off by default, for a
    server on localhost too: only for a relay on a network you trust, since anyone on the path reads the login."""
    tls: TLSConfig | None = None

    def __attrs_post_init__(self) -> None:
        _check_config(self)


def _check_config(config: Any) -> None:
    mailbox(config.from_)
    if any(c.isspace() for c in config.hello) or not config.hello:
        raise ValueError(f"hello {config.hello!r} must be one host name without spaces")
    if (config.auth_password or config.auth_secret) and not config.auth_username:
        raise ValueError("authPassword/authSecret is set but authUsername is empty")


def _check_recipients(to: tuple[str, ...]) -> None:
    if not to:
        raise ValueError("to must list at least one address")
    problems = []
    for index, text in enumerate(to):
        try:
            mailbox(text)
        except ValueError as exc:
            problems.append(f"to[{index}]: {exc}")
    if problems:
        raise ValueError("; ".join(problems))


@attrs.frozen(kw_only=True)
class EmailReceiverSpec(ReceiverTemplates):
    """Who gets the mail; `template`/`tmplText`/`subjectTemplate`/`tmplType` as in the Go original's v2beta2."""

    to: tuple[str, ...]
    config_selector: LabelSelector | None = None
    subject_template: str | None = None
    tmpl_type: Literal["html", "text"] | None = None
    """html (default): plain text and HTML alternatives, `template` renders the HTML; text: plain text only."""

    def __attrs_post_init__(self) -> None:
        _check_recipients(self.to)


@attrs.frozen(kw_only=True)
class EmailConfigBlock(v2beta2.ConfigBlock):
    """The `email` block of a v2beta2 Config: the same server settings, credentials as v2beta2 credentials."""

    from_: str
    smart_host: SmartHost
    hello: str = "localhost"
    auth_username: str = ""
    auth_identify: str = ""
    auth_password: v2beta2.Credential | None = None
    auth_secret: v2beta2.Credential | None = None
    require_tls: bool = attrs.field(default=False, metadata={MANIFEST_KEY: "requireTLS"})
    tls: v2beta2.TLSConfig | None = None
    allow_insecure_auth = False  # not a field: the original's v2beta2 type has none, so a v2beta2 Config never
    # logs in over a connection without TLS (a v1alpha1 EmailConfig can, with allowInsecureAuth: true)

    def __attrs_post_init__(self) -> None:
        _check_config(self)


@attrs.frozen(kw_only=True)
class EmailReceiverBlock(v2beta2.ReceiverBlock):
    """The `email` block of a v2beta2 Receiver."""

    to: tuple[str, ...]
    config_selector: v2beta2.LabelSelector | None = None
    subject_template: str | None = None
    tmpl_type: Literal["html", "text"] | None = None

    def __attrs_post_init__(self) -> None:
        _check_recipients(self.to)
