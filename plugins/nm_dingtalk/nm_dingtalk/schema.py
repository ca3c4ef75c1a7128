"""DingTalk's manifests in both API versions the original had, read into one plan per send.

`v1alpha1` (Notification Manager 0.6 to 0.7) kept everything in the `DingTalkConfig` (the chatbot, the app
and one `chatid`) and gave the `DingTalkReceiver` only a selector. `v2beta2` moved the chatbot and the chat
IDs into the Receiver's `dingtalk` block and left the app's credentials in the Config's, and added
mentions and markdown. `apiUrl` is nmcore's own (default DingTalk's `oapi`), for proxies and tests.
"""

from collections.abc import Mapping
from typing import Any, Literal

import attrs

from nmcore.sdk import (
    MANIFEST_KEY,
    Credential,
    CredentialSource,
    LabelSelector,
    ReceiverBlock,
    ReceiverTemplates,
    SecretKeySelector,
    SendRequest,
    check_api_url,
)

DEFAULT_API_URL = "https://oapi.dingtalk.com/"


def _api_url(_: object, __: attrs.Attribute, value: str) -> None:
    check_api_url(value, DEFAULT_API_URL)


# v1alpha1 -------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ChatbotV1:
    webhook: SecretKeySelector
    """The robot's webhook URL (https://oapi.dingtalk.com/robot/send?access_token=…) in a Secret."""
    keywords: tuple[str, ...] = ()
    secret: SecretKeySelector | None = None
    """The robot's signing secret (加签, SEC…)."""


@attrs.frozen(kw_only=True)
class ConversationV1:
    appkey: SecretKeySelector
    appsecret: SecretKeySelector
    chatid: str
    api_url: str = attrs.field(default=DEFAULT_API_URL, validator=_api_url)


@attrs.frozen(kw_only=True)
class DingTalkConfigSpec:
    """v1alpha1 `DingTalkConfig`: where a DingTalkReceiver's messages go."""

    chatbot: ChatbotV1 | None = None
    conversation: ConversationV1 | None = None

    def __attrs_post_init__(self) -> None:
        if self.chatbot is None and self.conversation is None:
            raise ValueError("nowhere to send: give a chatbot, a conversation or both")


@attrs.frozen(kw_only=True)
class DingTalkReceiverSpec(ReceiverTemplates):
    """v1alpha1 `DingTalkReceiver`: which DingTalkConfig to use; and, as nmcore's own additions (the v2beta2
    block's), the template fields and `tmplType` (the original's v1alpha1 sent text only)."""

    config_selector: LabelSelector | None = None
    """Its manifest key, `dingTalkConfigSelector`, is derived from the kind DingTalkConfig."""
    title_template: str | None = None
    tmpl_type: Literal["text", "markdown"] = "text"


# v2beta2 --------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AppCredentials:
    """An app with the 企业会话 (enterprise conversation) permission; nmcore's egress IP on its allowlist."""

    appkey: Credential
    appsecret: Credential
    api_url: str = attrs.field(default=DEFAULT_API_URL, validator=_api_url)


@attrs.frozen(kw_only=True)
class DingTalkConfigBlock:
    """v2beta2 `Config` `spec.dingtalk`."""

    labels: Mapping[str, str] = attrs.field(factory=dict)
    conversation: AppCredentials | None = None


@attrs.frozen(kw_only=True)
class Chatbot:
    webhook: Credential
    keywords: tuple[str, ...] = ()
    secret: Credential | None = None
    at_mobiles: tuple[str, ...] = ()
    at_users: tuple[str, ...] = ()
    at_all: bool = False


@attrs.frozen(kw_only=True)
class Conversation:
    chatids: tuple[str, ...]


@attrs.frozen(kw_only=True)
class DingTalkReceiverBlock(ReceiverTemplates, ReceiverBlock):
    """v2beta2 `Receiver` `spec.dingtalk`. "Be careful, a ChatBot only can send 20 message per minute.\""""

    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "dingtalkConfigSelector"})
    chatbot: Chatbot | None = None
    conversation: Conversation | None = None
    title_template: str | None = None
    tmpl_type: Literal["text", "markdown"] = "text"

    def __attrs_post_init__(self) -> None:
        if self.chatbot is None and not (self.conversation and self.conversation.chatids):
            raise ValueError("nowhere to send: give a chatbot or conversation.chatids")


# one plan for both ----------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Plan:
    """Where one receiver's message goes, whichever API version described it, and which object said so."""

    chatbot: Chatbot | None = None
    chat_ids: tuple[str, ...] = ()
    app: AppCredentials | None = None
    msg_type: Literal["text", "markdown"] = "text"
    owner: str = ""
    """The ref of the object holding the chatbot and chat IDs, for errors."""


def _from_secret(ref: SecretKeySelector) -> Credential:
    return Credential(value_from=CredentialSource(secret_key_ref=ref))


def plan_of(request: SendRequest[Any, Any]) -> Plan:
    """Either API version's receiver (and config) as one plan; a v1alpha1 receiver without a config has none."""
    receiver, config = request.receiver, request.config
    if isinstance(block := receiver.spec, DingTalkReceiverBlock):
        app = config.spec.conversation if config and isinstance(config.spec, DingTalkConfigBlock) else None
        chat_ids = block.conversation.chatids if block.conversation else ()
        return Plan(chatbot=block.chatbot, chat_ids=chat_ids, app=app, msg_type=block.tmpl_type, owner=receiver.ref)
    if config is None or not isinstance(spec := config.spec, DingTalkConfigSpec):
        return Plan(owner=receiver.ref, msg_type=receiver.spec.tmpl_type)
    plan = Plan(owner=config.ref, msg_type=receiver.spec.tmpl_type)
    if (bot := spec.chatbot) is not None:
        secret = _from_secret(bot.secret) if bot.secret else None
        plan = attrs.evolve(plan, chatbot=Chatbot(webhook=_from_secret(bot.webhook), keywords=bot.keywords,
                                                  secret=secret))
    if (talk := spec.conversation) is not None:
        app = AppCredentials(appkey=_from_secret(talk.appkey), appsecret=_from_secret(talk.appsecret),
                             api_url=talk.api_url)
        plan = attrs.evolve(plan, chat_ids=(talk.chatid,), app=app)
    return plan


def formats(receiver: DingTalkReceiverSpec | DingTalkReceiverBlock) -> tuple[str, ...]:
    """What a receiver is sent in (`nm render` shows these): markdown has a title."""
    return ("title", "markdown") if receiver.tmpl_type == "markdown" else ("text",)


def needs_config(receiver: object) -> bool:
    """A v1alpha1 receiver sends only with a DingTalkConfig; a v2beta2 one only for its chat IDs."""
    if isinstance(receiver, DingTalkReceiverBlock):
        return bool(receiver.conversation and receiver.conversation.chatids)
    return True
