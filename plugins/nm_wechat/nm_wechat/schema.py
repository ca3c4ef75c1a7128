"""The WeChat channel's schemas: WechatConfig and WechatReceiver as the KubeSphere v1alpha1 manifests write them,
and the `wechat` blocks of v2beta2 Config and Receiver objects (field for field as the Go original)."""

from collections.abc import Iterable
from typing import Any, Literal, NewType

import attrs

from nmcore.sdk import Credential, LabelSelector, ReceiverTemplates, SecretKeySelector, converter, v2beta2

DEFAULT_API_URL = "https://qyapi.weixin.qq.com/cgi-bin/"

Names = NewType("Names", tuple[str, ...])
"""Users, parties or tags: written `user1 | user2` (as in the KubeSphere docs) or as a YAML list."""


def _names(value: Any, _: type) -> Names:
    if value is None:
        return Names(())
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    names: list[str] = []
    for index, item in enumerate(items):
        if isinstance(item, bool) or not isinstance(item, str | int):
            where = f"item {index} of the list" if isinstance(value, list) else "the value"
            raise ValueError(f"expected names separated by '|' or a list of names, but {where} is not a name")
        names += (part.strip() for part in str(item).split("|"))
    return Names(tuple(dict.fromkeys(name for name in names if name)))


converter.register_structure_hook(Names, _names)


class _Application:
    """What both versions' configs say about the application, checked and read the same way."""

    wechat_api_url: str
    wechat_api_corp_id: str
    wechat_api_agent_id: str

    def check(self) -> None:
        if not self.wechat_api_url.startswith(("https://", "http://")):
            raise ValueError(f"wechatApiUrl must be an http(s) URL such as {DEFAULT_API_URL}")
        if not self.wechat_api_corp_id.strip():
            raise ValueError("wechatApiCorpId is empty: give the corp ID (企业ID, 我的企业 → 企业信息)")
        if not self.wechat_api_agent_id.strip().isdigit():
            raise ValueError(f"wechatApiAgentId must be the application's numeric AgentId, "
                             f"got {self.wechat_api_agent_id!r}")

    @property
    def api_base(self) -> str:
        """The API root with exactly one trailing slash, so `gettoken` and `message/send` can be appended."""
        return self.wechat_api_url.rstrip("/") + "/"

    @property
    def agent_id(self) -> int:
        return int(self.wechat_api_agent_id)


@attrs.frozen(kw_only=True)
class WechatConfigSpec(_Application):
    """A WeChat Work application: the corp, the application's AgentId and its Secret."""

    wechat_api_url: str = DEFAULT_API_URL
    wechat_api_secret: SecretKeySelector
    wechat_api_corp_id: str
    wechat_api_agent_id: str

    def __attrs_post_init__(self) -> None:
        self.check()


@attrs.frozen(kw_only=True)
class WechatConfigBlock(v2beta2.ConfigBlock, _Application):
    """The `wechat` block of a v2beta2 Config."""

    wechat_api_url: str = DEFAULT_API_URL
    wechat_api_corp_id: str
    wechat_api_agent_id: str
    wechat_api_secret: v2beta2.Credential

    def __attrs_post_init__(self) -> None:
        self.check()


@attrs.frozen(kw_only=True)
class Chatbot:
    """A group robot (群机器人): its webhook URL (best from a Secret: the key in it lets anyone post)."""

    webhook: Credential
    at_users: Names = Names(())
    at_mobiles: Names = Names(())


class _Recipients:
    """What both versions' receivers say about who gets the messages, checked and read the same way."""

    to_user: tuple[str, ...]
    to_party: tuple[str, ...]
    to_tag: tuple[str, ...]
    chatbot: Any

    @property
    def message_type(self) -> str:
        """`text` or `markdown`: v1alpha1's `msgType` (or `tmplType`), v2beta2's `tmplType`."""
        raise NotImplementedError

    def check(self) -> None:
        if not (self.has_app_recipients or self.chatbot):
            raise ValueError("no recipient: give at least one of toUser, toParty and toTag (or a chatbot)")
        if self.chatbot and self.chatbot.at_mobiles and self.message_type == "markdown":
            raise ValueError("chatbot.atMobiles needs msgType text: markdown robot messages can only mention user IDs")

    @property
    def has_app_recipients(self) -> bool:
        """Whether application messages are sent (which need a WechatConfig); a robot alone needs none."""
        return bool(self.to_user or self.to_party or self.to_tag)


@attrs.frozen(kw_only=True)
class WechatReceiverSpec(ReceiverTemplates, _Recipients):
    """Who gets the messages: users, parties (departments) and tags of the corp, and/or a group robot."""

    to_user: Names = Names(())
    to_party: Names = Names(())
    to_tag: Names = Names(())
    chatbot: Chatbot | None = None
    msg_type: Literal["text", "markdown"] = "text"
    tmpl_type: Literal["text", "markdown"] | None = None
    """The Go original's v2beta2 name for msgType; give one of them (or both, equal)."""
    config_selector: LabelSelector | None = None

    def __attrs_post_init__(self) -> None:
        if self.tmpl_type is None:
            object.__setattr__(self, "tmpl_type", self.msg_type)  # so the core's template choice sees the format
        elif self.tmpl_type != self.msg_type != "text":
            raise ValueError(f"msgType {self.msg_type} and tmplType {self.tmpl_type} disagree: give one of them")
        self.check()

    @property
    def message_type(self) -> Literal["text", "markdown"]:
        return self.tmpl_type or self.msg_type


@attrs.frozen(kw_only=True)
class ChatbotBlock:
    webhook: v2beta2.Credential
    at_users: tuple[str, ...] = ()
    at_mobiles: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class WechatReceiverBlock(v2beta2.ReceiverBlock, _Recipients):
    """The `wechat` block of a v2beta2 Receiver (`tmplType` is what v1alpha1 calls `msgType`)."""

    config_selector: v2beta2.LabelSelector | None = None
    to_user: tuple[str, ...] = ()
    to_party: tuple[str, ...] = ()
    to_tag: tuple[str, ...] = ()
    tmpl_type: Literal["text", "markdown"] | None = None
    chatbot: ChatbotBlock | None = None

    def __attrs_post_init__(self) -> None:
        self.check()

    @property
    def message_type(self) -> str:
        return self.tmpl_type or "text"

    @classmethod
    def from_v1alpha1(cls, body: dict[str, Any], config: dict[str, Any] | None) -> dict[str, Any]:
        """`nm convert`: v1alpha1's `msgType` is v2beta2's `tmplType`."""
        if "msgType" in body:
            body["tmplType"] = body.pop("msgType")
        return body

    @classmethod
    def to_v1alpha1(cls, body: dict[str, Any]) -> dict[str, Any]:
        if "tmplType" in body:
            body["msgType"] = body.pop("tmplType")
        return body
