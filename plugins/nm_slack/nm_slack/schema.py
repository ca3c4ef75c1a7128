"""The Slack channel's schemas: SlackConfig and SlackReceiver as the KubeSphere v1alpha1 manifests write them,
and the `slack` blocks of v2beta2 Config and Receiver objects (field for field as the Go original)."""

from typing import Any

import attrs

from nmcore.sdk import Credential, LabelSelector, ReceiverTemplates, SecretKeySelector, check_api_url, v2beta2

DEFAULT_API_URL = "https://slack.com/api"


@attrs.frozen(kw_only=True)
class SlackConfigSpec:
    slack_token_secret: SecretKeySelector
    """A bot (xoxb-) or user (xoxp-) OAuth token with the chat:write scope."""
    api_url: str = DEFAULT_API_URL
    """Slack's Web API base; another value serves tests and Slack-compatible servers."""

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


@attrs.frozen(kw_only=True)
class SlackReceiverSpec(ReceiverTemplates):
    """Where to post. With `template` or `tmplText` the receiver's own text is posted as is, without blocks."""

    channel: str = ""
    channels: tuple[str, ...] = ()
    """An extension of v1alpha1 (v2 has only this list): post the same notification to several channels."""
    webhook_url: Credential | None = None
    """An incoming-webhook URL (it is a credential: prefer valueFrom.secretKeyRef); needs no SlackConfig."""
    config_selector: LabelSelector | None = None

    def __attrs_post_init__(self) -> None:
        if any(not name.strip() for name in self.channels):
            raise ValueError("channels[] holds an empty channel name")
        if self.webhook_url is not None and self.targets:
            raise ValueError("an incoming webhook posts to the channel it was created for: "
                             "give webhookUrl or channel/channels, not both")
        if self.webhook_url is None and not self.targets:
            raise ValueError("give channel (or channels[]) to post to, or webhookUrl for an incoming webhook")

    @property
    def targets(self) -> tuple[str, ...]:
        """`channel` then `channels`, each once, in the order written."""
        names = [self.channel.strip()] if self.channel.strip() else []
        names += [name.strip() for name in self.channels]
        return tuple(dict.fromkeys(names))


@attrs.frozen(kw_only=True)
class SlackConfigBlock(v2beta2.ConfigBlock):
    """The `slack` block of a v2beta2 Config: the bot or user token (chat:write)."""

    slack_token_secret: v2beta2.Credential

    @property
    def api_url(self) -> str:
        return DEFAULT_API_URL


@attrs.frozen(kw_only=True)
class SlackReceiverBlock(v2beta2.ReceiverBlock):
    """The `slack` block of a v2beta2 Receiver: the channels (or users) to post to, with a Config's token."""

    config_selector: v2beta2.LabelSelector | None = None
    channels: tuple[str, ...]

    webhook_url = None
    """v2beta2 has no incoming webhooks: every block posts with its Config's token."""

    def __attrs_post_init__(self) -> None:
        if not self.targets:
            raise ValueError("channels must list at least one channel")

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name.strip() for name in self.channels if name.strip()))

    @classmethod
    def from_v1alpha1(cls, body: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        """`nm convert`: v1alpha1's single `channel` joins v2beta2's `channels`."""
        if "channel" in body:
            body["channels"] = list(dict.fromkeys([body.pop("channel"), *body.get("channels", [])]))
        return body


def needs_config(spec: SlackReceiverSpec | SlackReceiverBlock) -> bool:
    """Posting by channel name needs a Config's token; an incoming webhook (v1alpha1) carries its own."""
    return spec.webhook_url is None
