"""Intake authentication by bearer token: what Alertmanager's `http_config.authorization` sends.

The token is read from a file (a mounted Secret) at start; a POST to the intake without `Authorization: Bearer
<token>` is answered 401 and never stored. The comparison takes the same time whatever the guess, and the token
never appears in a log, an error or an answer.
"""

import hmac
from pathlib import Path

from nmcore.errors import IntakeTokenError


class IntakeToken:
    def __init__(self, token: str):
        if not token:
            raise ValueError("an empty intake token would accept anything")
        self._expected = f"Bearer {token}".encode()

    def __repr__(self) -> str:
        return "IntakeToken(<hidden>)"

    @classmethod
    def from_file(cls, path: Path) -> "IntakeToken":
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise IntakeTokenError(f"--intake-token-file {path}: cannot read it ({exc.strerror})") from None
        if not token:
            raise IntakeTokenError(f"--intake-token-file {path} is empty")
        return cls(token)

    def allows(self, authorization: str | None) -> bool:
        return hmac.compare_digest((authorization or "").encode(), self._expected)
