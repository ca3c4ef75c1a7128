"""The pieces of redaction that the leak tests (test_secret_leaks*.py) rely on, one at a time."""

import pytest

from nmcore.console import public
from nmcore.httpfailures import excerpt
from nmcore.redaction import REDACTED, Scrubber, forms


def test_the_console_shows_a_url_without_its_query_values_password_or_token() -> None:
    shown = public({"url": "https://hook-user:pw0rd-123@hooks.example/T0123456789ABCDEFG/in?token=q%2Ftok%2Bv&n=1"})
    assert shown == {"url": f"https://hook-user:{REDACTED}@hooks.example/{REDACTED}/in?token={REDACTED}&n={REDACTED}"}


def test_a_webhook_urls_token_is_hidden_in_every_form() -> None:
    """A Discord webhook's token (the URL's last segment) in base64 or URL-encoded, as an echo may quote it."""
    token = "Disc0rd-Leak_Token-abcdefghijklmnop"
    scrubber = Scrubber(forms(f"https://discord.com/api/webhooks/123456789012345678/{token}"))
    for form in forms(token):
        assert scrubber.scrub(f"got {form}.") == f"got {REDACTED}.", form


@pytest.mark.parametrize("credential", ["7212345678:AAE-Leak_Telegram0123456789", "c2lnbmF0dXJlLW9mLWl0==",
                                        "https://hook.example/x?token=abcdef0123"])
def test_an_excerpt_never_ends_inside_a_credential(credential: str) -> None:
    """Cut anywhere inside it, no part of it is kept: the scrubber hides only whole values."""
    for before in range(1, len(credential)):  # the cut (at 199 characters, then "…") leaves `before` of it
        padding = "x" * (198 - before)
        assert excerpt(f"{padding} {credential} and more") == f"{padding}…", before
