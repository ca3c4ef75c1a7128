"""The pieces of redaction that the leak tests (test_secret_leaks*.py) rely on, one at a time."""

from nmcore.console import public
from nmcore.redaction import REDACTED


def test_the_console_shows_a_url_without_its_query_values_password_or_token() -> None:
    shown = public({"url": "https://hook-user:pw0rd-123@hooks.example/T0123456789ABCDEFG/in?token=q%2Ftok%2Bv&n=1"})
    assert shown == {"url": f"https://hook-user:{REDACTED}@hooks.example/{REDACTED}/in?token={REDACTED}&n={REDACTED}"}
