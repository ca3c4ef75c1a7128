"""Who may call `nm run`'s HTTP endpoints: the credentials Alertmanager's `http_config` can send, and the admin's.

Alertmanager speaks bearer tokens (`authorization: {credentials_file: …}`) and basic auth
(`basic_auth: {username, password_file}`). nm reads the expected values from files (`--intake-token-file`,
`--intake-basic-auth-file` holding `user:password`, `--admin-token-file`), compares in constant time, and
answers 401 with `WWW-Authenticate` naming what it accepts.
"""

import base64
import binascii
import hmac
from pathlib import Path

import attrs

from nmcore.errors import AccessConfigError


@attrs.frozen
class Credentials:
    """What a request must carry in `Authorization`: a bearer token, a basic-auth `user:password`, or either."""

    bearer: bytes | None = attrs.field(default=None, repr=False)
    basic: bytes | None = attrs.field(default=None, repr=False)
    """`user:password` as sent (before base64)."""

    def __bool__(self) -> bool:
        return self.bearer is not None or self.basic is not None

    def allows(self, authorization: str) -> bool:
        scheme, _, value = authorization.strip().partition(" ")
        scheme, value = scheme.lower(), value.strip()
        if scheme == "bearer" and self.bearer is not None:
            return hmac.compare_digest(value.encode(), self.bearer)
        if scheme == "basic" and self.basic is not None:
            try:
                given = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(given, self.basic)
        return False

    def challenge(self) -> str:
        """The `WWW-Authenticate` value: every scheme accepted."""
        schemes = [s for s, on in (("Bearer", self.bearer), ("Basic", self.basic)) if on is not None]
        return ", ".join(f'{scheme} realm="nmcore"' for scheme in schemes)


def read_secret_file(path: Path, what: str) -> bytes:
    """A file's content without the trailing newline editors add; an empty one is an error, not "no check"."""
    try:
        content = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise AccessConfigError(f"{what} {path}: {exc.strerror or exc}") from None
    if not content.strip():
        raise AccessConfigError(f"{what} {path} is empty")
    return content


def credentials_from_files(*, token_file: Path | None = None, basic_auth_file: Path | None = None,
                           what: str = "--intake") -> Credentials:
    bearer = read_secret_file(token_file, f"{what}-token-file") if token_file else None
    basic = read_secret_file(basic_auth_file, f"{what}-basic-auth-file") if basic_auth_file else None
    if basic is not None and b":" not in basic:
        raise AccessConfigError(f"{what}-basic-auth-file {basic_auth_file} must hold user:password on one line")
    return Credentials(bearer=bearer, basic=basic)
