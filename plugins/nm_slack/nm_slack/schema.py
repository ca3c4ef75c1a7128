"""The `spec:` of SlackConfig and SlackReceiver, as the KubeSphere v1alpha1 manifests write them."""

import attrs

from nmcore.sdk import Credential, LabelSelector, ReceiverTemplates, SecretKeySelector, check_api_url

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


def needs_config(spec: SlackReceiverSpec) -> bool:
    """Posting by channel name needs a SlackConfig's token; an incoming webhook carries its own."""
    return spec.webhook_url is None
