"""The `spec:` of PushoverConfig and PushoverReceiver (notification.kubesphere.io/v1alpha1), and the
`pushover` blocks of v2beta2 Config and Receiver objects, field for field as the Go original's: the
application token in the config, user profiles (user key, devices, sound) in the receiver.

A user key addresses a person's phone: it is kept out of reprs and error messages, which say "profile N".
"""

import re

import attrs

from nmcore.sdk import MANIFEST_KEY, LabelSelector, ReceiverTemplates, SecretKeySelector, check_api_url, v2beta2

DEFAULT_API_URL = "https://api.pushover.net/1"
USER_KEY = re.compile(r"[A-Za-z0-9]{30}")
DEVICE = re.compile(r"[A-Za-z0-9_-]{1,25}")


@attrs.frozen(kw_only=True)
class PushoverConfigSpec:
    pushover_token_secret: SecretKeySelector
    """The API token of a Pushover application (pushover.net → Your Applications)."""
    api_url: str = DEFAULT_API_URL
    """Pushover's API base; another value serves tests."""

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


@attrs.frozen(kw_only=True)
class PushoverProfile:
    user_key: str = attrs.field(repr=False)
    """A user or group key: 30 letters and digits."""
    devices: tuple[str, ...] = ()
    """Send only to these of the user's devices (all of them when empty, or when none of these is active)."""
    sound: str = ""
    """One of Pushover's sounds (pushover.net/api#sounds) or the user's custom sounds; empty: the user's default."""
    title: str = ""
    """Accepted for the original's manifests, where it is deprecated and unused: the title is the subject."""

    def __attrs_post_init__(self) -> None:
        if not USER_KEY.fullmatch(self.user_key):
            raise ValueError("userKey is not a Pushover user or group key: 30 letters and digits "
                             "(the value is not shown)")
        for device in self.devices:
            if not DEVICE.fullmatch(device):
                raise ValueError(f"devices holds {device!r}: up to 25 letters, digits, _ or -")


def check_profiles(profiles: tuple[PushoverProfile, ...]) -> None:
    if not profiles:
        raise ValueError("profiles must hold at least one user profile (userKey)")


@attrs.frozen(kw_only=True)
class PushoverReceiverSpec(ReceiverTemplates):
    """Who to push to; `template`/`tmplText` pick the message template and `titleTemplate` the title's, as in
    the original."""

    profiles: tuple[PushoverProfile, ...]
    title_template: str | None = None
    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "pushoverConfigSelector"})

    def __attrs_post_init__(self) -> None:
        check_profiles(self.profiles)


@attrs.frozen(kw_only=True)
class PushoverConfigBlock(v2beta2.ConfigBlock):
    """v2beta2 `Config` `spec.pushover`: the application token as a credential; `apiUrl` is nmcore's addition,
    as in PushoverConfig."""

    pushover_token_secret: v2beta2.Credential
    api_url: str = DEFAULT_API_URL

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


@attrs.frozen(kw_only=True)
class PushoverReceiverBlock(v2beta2.ReceiverBlock):
    """v2beta2 `Receiver` `spec.pushover`, as the Go type."""

    config_selector: v2beta2.LabelSelector | None = attrs.field(default=None,
                                                                metadata={MANIFEST_KEY: "pushoverConfigSelector"})
    title_template: str | None = None
    profiles: tuple[PushoverProfile, ...]

    def __attrs_post_init__(self) -> None:
        check_profiles(self.profiles)
