"""DingTalk's manifests in both API versions the original had, read into one plan per send.

`v1alpha1` (Notification Manager 0.6 to 0.7) kept everything in the `DingTalkConfig` (the chatbot, the app
and one `chatid`) and gave the `DingTalkReceiver` only a selector. `v2beta2` moved the chatbot and the chat
IDs into the Receiver's `dingtalk` block and left the app's credentials in the Config's, and added
mentions and markdown. `apiUrl` is nmcore's own (default DingTalk's `oapi`), for proxies and tests.
"""

from typing import Any

import attrs

from nm_dingtalk.message import MsgType
from nmcore.sdk import LabelSelector, ReceiverTemplates, SecretKeySelector, SendRequest, check_api_url, v2beta2

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
    tmpl_type: MsgType = "text"


# v2beta2 --------------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AppCredentials:
    """An app with the 企业会话 (enterprise conversation) permission; nmcore's egress IP on its allowlist."""

    appkey: v2beta2.Credential
    appsecret: v2beta2.Credential
    api_url: str = attrs.field(default=DEFAULT_API_URL, validator=_api_url)


@attrs.frozen(kw_only=True)
class DingTalkConfigBlock(v2beta2.ConfigBlock):
    """v2beta2 `Config` `spec.dingtalk`."""

    conversation: AppCredentials | None = None

    @classmethod
    def from_v1alpha1(cls, body: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        """`nm convert`: the app stays in the Config; the chatbot and the chat ID move to the Receiver."""
        conversation = {k: v for k, v in (body.get("conversation") or {}).items() if k != "chatid"}
        return {"conversation": conversation} if conversation else {}


@attrs.frozen(kw_only=True)
class Chatbot:
    webhook: v2beta2.Credential
    keywords: tuple[str, ...] = ()
    secret: v2beta2.Credential | None = None
    at_mobiles: tuple[str, ...] = ()
    at_users: tuple[str, ...] = ()
    at_all: bool = False


@attrs.frozen(kw_only=True)
class Conversation:
    chatids: tuple[str, ...]


@attrs.frozen(kw_only=True)
class DingTalkReceiverBlock(v2beta2.ReceiverBlock):
    """v2beta2 `Receiver` `spec.dingtalk`. "Be careful, a ChatBot only can send 20 message per minute.\""""

    config_selector: v2beta2.LabelSelector | None = None
    chatbot: Chatbot | None = None
    conversation: Conversation | None = None
    title_template: str | None = None
    tmpl_type: MsgType = "text"

    def __attrs_post_init__(self) -> None:
        if self.chatbot is None and not (self.conversation and self.conversation.chatids):
            raise ValueError("nowhere to send: give a chatbot or conversation.chatids")

    @classmethod
    def from_v1alpha1(cls, body: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        """`nm convert`: the v1alpha1 config's chatbot and chat ID are the receiver's in v2beta2."""
        config = config or {}
        if config.get("chatbot"):
            body["chatbot"] = config["chatbot"]
        if (config.get("conversation") or {}).get("chatid"):
            body["conversation"] = {"chatids": [config["conversation"]["chatid"]]}
        return body


# one plan for both ----------------------------------------------------------------------------------------

Secretish = SecretKeySelector | v2beta2.Credential
"""What `request.secret` resolves: a v1alpha1 Secret key or a v2beta2 credential."""


@attrs.frozen(kw_only=True)
class Robot:
    webhook: Secretish
    secret: Secretish | None = None
    keywords: tuple[str, ...] = ()
    at_mobiles: tuple[str, ...] = ()
    at_users: tuple[str, ...] = ()
    at_all: bool = False


@attrs.frozen(kw_only=True)
class Application:
    appkey: Secretish
    appsecret: Secretish
    api_url: str


@attrs.frozen(kw_only=True)
class Plan:
    """Where one receiver's message goes, whichever API version described it, and which object said so."""

    robot: Robot | None = None
    chat_ids: tuple[str, ...] = ()
    app: Application | None = None
    msg_type: MsgType = "text"
    owner: str = ""
    """The ref of the object holding the chatbot and chat IDs, for errors."""


def plan_of(request: SendRequest[Any, Any]) -> Plan:
    """Either API version's receiver (and config) as one plan; a v1alpha1 receiver without a config has none."""
    receiver, config = request.receiver, request.config
    spec = config.spec if config is not None else None
    if isinstance(block := receiver.spec, DingTalkReceiverBlock):
        talk = spec.conversation if isinstance(spec, DingTalkConfigBlock) else None
        bot = block.chatbot
        robot = None if bot is None else Robot(webhook=bot.webhook, secret=bot.secret, keywords=bot.keywords,
                                               at_mobiles=bot.at_mobiles, at_users=bot.at_users, at_all=bot.at_all)
        app = None if talk is None else Application(appkey=talk.appkey, appsecret=talk.appsecret, api_url=talk.api_url)
        return Plan(robot=robot, chat_ids=block.conversation.chatids if block.conversation else (), app=app,
                    msg_type=block.tmpl_type, owner=receiver.ref)
    if config is None or not isinstance(spec, DingTalkConfigSpec):
        return Plan(owner=receiver.ref, msg_type=receiver.spec.tmpl_type)
    v1bot, v1talk = spec.chatbot, spec.conversation
    return Plan(robot=None if v1bot is None else Robot(webhook=v1bot.webhook, secret=v1bot.secret,
                                                       keywords=v1bot.keywords),
                chat_ids=(v1talk.chatid,) if v1talk else (),
                app=None if v1talk is None else Application(appkey=v1talk.appkey, appsecret=v1talk.appsecret,
                                                            api_url=v1talk.api_url),
                msg_type=receiver.spec.tmpl_type, owner=config.ref)


def formats(receiver: DingTalkReceiverSpec | DingTalkReceiverBlock) -> tuple[str, ...]:
    """What a receiver is sent in (`nm render` shows these): markdown has a title."""
    return ("title", "markdown") if receiver.tmpl_type == "markdown" else ("text",)


def needs_config(receiver: DingTalkReceiverSpec | DingTalkReceiverBlock) -> bool:
    """A v1alpha1 receiver sends only with a DingTalkConfig; a v2beta2 one only for its chat IDs."""
    if isinstance(receiver, DingTalkReceiverBlock):
        return bool(receiver.conversation and receiver.conversation.chatids)
    return True
