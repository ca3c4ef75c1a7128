"""The `spec:` of DiscordConfig and DiscordReceiver (notification.kubesphere.io/v1alpha1), and the `discord`
block of v2beta2 Receiver objects, field for field as the Go original's: a channel webhook, content or embed,
users and roles to mention.

A receiver with its own `webhook` needs no config, as in the original. A v1alpha1 DiscordReceiver without one
posts through the webhook of the DiscordConfig it selects (like a SlackConfig's token: a tenant's webhook kept
in one place); the original's v2beta2 block always has its webhook and no config selector.
"""

import re
from typing import Literal

import attrs

from nmcore.sdk import MANIFEST_KEY, Credential, LabelSelector, ReceiverTemplates, check_webhook, v2beta2

SNOWFLAKE = re.compile(r"\d{15,21}")
"""Discord IDs (users, roles) are 64-bit "snowflakes", written as 17 to 20 digits."""
EVERYONE = ("everyone", "here")


class Mentions:
    """Who a receiver (v1alpha1 spec or v2beta2 block) mentions, checked and written as Discord wants."""

    mentioned_users: tuple[str, ...]
    """User IDs to mention (`<@id>`), or `everyone` / `here`."""
    mentioned_roles: tuple[str, ...]
    """Role IDs to mention (`<@&id>`)."""

    def check_mentions(self) -> None:
        for field, ids in (("mentionedUsers", self.mentioned_users), ("mentionedRoles", self.mentioned_roles)):
            for mention in ids:
                if not SNOWFLAKE.fullmatch(mention) and not (field == "mentionedUsers" and mention in EVERYONE):
                    extra = " or everyone/here" if field == "mentionedUsers" else ""
                    raise ValueError(f"{field} holds {mention!r}: not a Discord ID (17 to 20 digits){extra}")

    @property
    def mentions(self) -> str:
        """`@everyone <@123…> <@&456…>`, as Discord writes mentions in a message's content."""
        users = [f"@{u}" if u in EVERYONE else f"<@{u}>" for u in dict.fromkeys(self.mentioned_users)]
        return " ".join([*users, *(f"<@&{r}>" for r in dict.fromkeys(self.mentioned_roles))])

    @property
    def allowed_mentions(self) -> dict[str, list[str]]:
        """Only the configured mentions may notify anyone: an `@everyone` or `<@id>` inside an alert's labels
        stays text."""
        return {"parse": ["everyone"] if set(self.mentioned_users) & set(EVERYONE) else [],
                "users": [u for u in dict.fromkeys(self.mentioned_users) if u not in EVERYONE],
                "roles": list(dict.fromkeys(self.mentioned_roles))}


@attrs.frozen(kw_only=True)
class DiscordConfigSpec:
    webhook: Credential
    """A channel webhook's URL (channel settings → Integrations → Webhooks); a credential: prefer
    valueFrom.secretKeyRef."""

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)


@attrs.frozen(kw_only=True)
class DiscordReceiverSpec(Mentions, ReceiverTemplates):
    """Where and how to post; `template`/`tmplText` pick the markdown template, as for every receiver."""

    webhook: Credential | None = None
    """The channel webhook's URL, as in DiscordConfig; without it, the selected DiscordConfig's is used."""
    type: Literal["content", "embed"] = "content"
    """`content`: the notification as the message's markdown text; `embed`: as an embed, titled and coloured."""
    mentioned_users: tuple[str, ...] = ()
    mentioned_roles: tuple[str, ...] = ()
    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "discordConfigSelector"})

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)
        self.check_mentions()


@attrs.frozen(kw_only=True)
class DiscordConfigBlock(v2beta2.ConfigBlock):
    """v2beta2 `Config` `spec.discord`: the original's Config has no such block (its Discord receivers carry
    their webhook); accepted empty, as the webhook channel's."""


@attrs.frozen(kw_only=True)
class DiscordReceiverBlock(Mentions, v2beta2.ReceiverBlock):
    """v2beta2 `Receiver` `spec.discord`, as the Go type: the webhook, no config selector."""

    webhook: v2beta2.Credential
    type: Literal["content", "embed"] = "content"
    mentioned_users: tuple[str, ...] = ()
    mentioned_roles: tuple[str, ...] = ()

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)
        self.check_mentions()


def needs_config(spec: DiscordReceiverSpec | DiscordReceiverBlock) -> bool:
    """A receiver with its own webhook sends with it alone; one without takes its config's."""
    return spec.webhook is None
