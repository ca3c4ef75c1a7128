"""The `spec:` of TeamsConfig and TeamsReceiver (notification.kubesphere.io/v1alpha1).

The Go original has no Teams channel (its issue #278 asks for one); these kinds, and the `teams` blocks of
v2beta2 Config and Receiver objects, follow the style of its Discord block. Microsoft retired Office 365
connectors, so a Teams channel or chat receives through a Workflows webhook ("Send webhook alerts to a
channel"). A receiver with its own `webhook` needs no config; without one it posts through the webhook of the
TeamsConfig it selects.
"""

import attrs

from nmcore.sdk import MANIFEST_KEY, Credential, LabelSelector, ReceiverTemplates, check_webhook, v2beta2


@attrs.frozen(kw_only=True)
class TeamsConfigSpec:
    webhook: Credential
    """A Workflows webhook URL (channel → Workflows → "Send webhook alerts to a channel" → copy link). Its
    `sig` parameter is the credential: prefer valueFrom.secretKeyRef."""

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)


@attrs.frozen(kw_only=True)
class TeamsMention:
    id: str
    """Who to mention: their Microsoft Entra object ID or user principal name (alice@contoso.com)."""
    name: str
    """The name shown in the card (`<at>name</at>`)."""

    def __attrs_post_init__(self) -> None:
        if not self.id.strip() or not self.name.strip():
            raise ValueError("a mention needs both id (object ID or UPN) and name")
        if "<" in self.name or ">" in self.name:
            raise ValueError(f"mention name {self.name!r} may not contain < or >")


@attrs.frozen(kw_only=True)
class TeamsReceiverSpec(ReceiverTemplates):
    """Where to post. With `template` or `tmplText` the receiver's own text is posted in the card as is,
    instead of the layout built from the alerts."""

    webhook: Credential | None = None
    """The Workflows webhook URL, as in TeamsConfig; without it, the selected TeamsConfig's is used."""
    mentioned_users: tuple[TeamsMention, ...] = ()
    """People mentioned under each notification, so Teams notifies them."""
    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "teamsConfigSelector"})

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)


@attrs.frozen(kw_only=True)
class TeamsConfigBlock(v2beta2.ConfigBlock):
    """v2beta2 `Config` `spec.teams`: the Workflows webhook, as in TeamsConfig."""

    webhook: v2beta2.Credential

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)


@attrs.frozen(kw_only=True)
class TeamsReceiverBlock(v2beta2.ReceiverBlock):
    """v2beta2 `Receiver` `spec.teams`: the fields of TeamsReceiver, in the style of the original's blocks."""

    config_selector: v2beta2.LabelSelector | None = attrs.field(default=None,
                                                                metadata={MANIFEST_KEY: "teamsConfigSelector"})
    webhook: v2beta2.Credential | None = None
    mentioned_users: tuple[TeamsMention, ...] = ()

    def __attrs_post_init__(self) -> None:
        check_webhook(self.webhook)


def needs_config(spec: TeamsReceiverSpec | TeamsReceiverBlock) -> bool:
    """A receiver with its own webhook sends with it alone; one without takes its config's."""
    return spec.webhook is None
