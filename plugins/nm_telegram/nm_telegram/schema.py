"""The `spec:` of TelegramConfig and TelegramReceiver (notification.kubesphere.io/v1alpha1), and the `telegram`
blocks of v2beta2 Config and Receiver objects, field for field as the Go original's: a bot token in the config,
chats and mentions in the receiver."""

import re

import attrs

from nmcore.sdk import MANIFEST_KEY, LabelSelector, ReceiverTemplates, SecretKeySelector, check_api_url, v2beta2

DEFAULT_API_URL = "https://api.telegram.org"
USERNAME = re.compile(r"@?[A-Za-z][A-Za-z0-9_]{3,31}")
"""Telegram usernames: 5 to 32 characters, letters, digits and underscores, starting with a letter."""
CHAT = re.compile(r"-?\d+|@[A-Za-z][A-Za-z0-9_]{3,31}")
"""A chat ID (negative for groups and channels) or a public channel's or supergroup's @username."""


@attrs.frozen(kw_only=True)
class TelegramConfigSpec:
    telegram_token_secret: SecretKeySelector
    """The bot's token from @BotFather (`123456:ABC-…`)."""
    api_url: str = DEFAULT_API_URL
    """The Bot API server; another value serves tests and a self-hosted telegram-bot-api server."""

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


class Chats:
    """Where a receiver (v1alpha1 spec or v2beta2 block) sends and whom it mentions, checked once."""

    channels: tuple[str, ...]
    """Chats to send to: numeric chat IDs (a group's or channel's is negative) or a channel's @username."""
    mentioned_users: tuple[str, ...]
    """Usernames, with or without the @, mentioned under each notification so Telegram notifies them."""

    def check_chats(self) -> None:
        if not self.channels:
            raise ValueError("channels must name at least one chat (a chat ID or a channel's @username)")
        for chat in self.channels:
            if not CHAT.fullmatch(chat.strip()):
                raise ValueError(f"channels holds {chat!r}: not a chat ID (-1001234567890) or an @username")
        for user in self.mentioned_users:
            if not USERNAME.fullmatch(user.strip()):
                raise ValueError(f"mentionedUsers holds {user!r}: a Telegram username has 5 to 32 letters, "
                                 "digits or underscores and starts with a letter")

    @property
    def chats(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(chat.strip() for chat in self.channels))

    @property
    def mentions(self) -> str:
        """`@alice @bob`: plain-text @usernames, which Telegram turns into mentions."""
        return " ".join("@" + user.strip().lstrip("@") for user in self.mentioned_users)


@attrs.frozen(kw_only=True)
class TelegramReceiverSpec(Chats, ReceiverTemplates):
    """Where to send; `template`/`tmplText` pick the text template, as for every receiver."""

    channels: tuple[str, ...]
    mentioned_users: tuple[str, ...] = ()
    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "telegramConfigSelector"})

    def __attrs_post_init__(self) -> None:
        self.check_chats()


@attrs.frozen(kw_only=True)
class TelegramConfigBlock(v2beta2.ConfigBlock):
    """v2beta2 `Config` `spec.telegram`: the bot token as a credential; `apiUrl` is nmcore's addition, as in
    TelegramConfig."""

    telegram_token_secret: v2beta2.Credential
    api_url: str = DEFAULT_API_URL

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


@attrs.frozen(kw_only=True)
class TelegramReceiverBlock(Chats, v2beta2.ReceiverBlock):
    """v2beta2 `Receiver` `spec.telegram`, as the Go type."""

    config_selector: v2beta2.LabelSelector | None = attrs.field(default=None,
                                                                metadata={MANIFEST_KEY: "telegramConfigSelector"})
    channels: tuple[str, ...]
    mentioned_users: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        self.check_chats()
