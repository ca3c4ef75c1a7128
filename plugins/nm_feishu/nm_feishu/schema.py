"""Feishu's manifests: the original's v2beta2 `feishu` blocks, and nmcore's own `FeishuConfig`/`FeishuReceiver`
kinds (v1alpha1, namespaced) with the same fields, for configurations written in v1alpha1.

The original had no v1alpha1 Feishu kinds. nmcore's take Secrets from their own namespace only (v1alpha1's
rule); the v2beta2 blocks' credentials may name another namespace, as the original's do. `apiUrl` is nmcore's
own (default Feishu's; Lark's is https://open.larksuite.com/open-apis/).
"""

from typing import Any

import attrs

from nm_feishu.message import MsgType
from nmcore.sdk import MANIFEST_KEY, Credential, LabelSelector, ReceiverTemplates, check_api_url, v2beta2

DEFAULT_API_URL = "https://open.feishu.cn/open-apis/"
MAX_LISTED = 200
"""The original's CRD limit for `user` and `department`, which is also what one batch_send takes of each."""


class _App:
    """What both versions' configs say: an app (自建应用) allowed to send batch messages."""

    api_url: str

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


@attrs.frozen(kw_only=True)
class FeishuConfigSpec(_App):
    app_id: Credential = attrs.field(metadata={MANIFEST_KEY: "appID"})
    app_secret: Credential
    api_url: str = DEFAULT_API_URL


@attrs.frozen(kw_only=True)
class FeishuConfigBlock(_App):
    """v2beta2 `Config` `spec.feishu`."""

    app_id: v2beta2.Credential = attrs.field(metadata={MANIFEST_KEY: "appID"})
    app_secret: v2beta2.Credential
    api_url: str = DEFAULT_API_URL


@attrs.frozen(kw_only=True)
class Chatbot:
    """A group's custom robot (自定义机器人): its webhook URL, keywords and signing secret if it has them."""

    webhook: Credential
    keywords: tuple[str, ...] = ()
    secret: Credential | None = None


@attrs.frozen(kw_only=True)
class ChatbotBlock:
    webhook: v2beta2.Credential
    keywords: tuple[str, ...] = ()
    secret: v2beta2.Credential | None = None


class _Recipients:
    """What both versions' receivers say about who gets the messages, checked the same way."""

    user: tuple[str, ...]
    department: tuple[str, ...]
    chatbot: Any
    tmpl_type: MsgType

    def __attrs_post_init__(self) -> None:
        if not (self.user or self.department or self.chatbot):
            raise ValueError("no recipient: give at least one of user, department and chatbot")
        for name, values in (("user", self.user), ("department", self.department)):
            if len(values) > MAX_LISTED:
                raise ValueError(f"{name} lists {len(values)} entries; the most is {MAX_LISTED}")


@attrs.frozen(kw_only=True)
class FeishuReceiverSpec(ReceiverTemplates, _Recipients):
    """Who gets the messages: users (user IDs, or open IDs `ou_…`), departments, and/or a group robot; and
    the templates (`template` renders `tmplType`'s format: a `post` template renders JSON)."""

    config_selector: LabelSelector | None = None
    user: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    chatbot: Chatbot | None = None
    tmpl_type: MsgType = "post"


@attrs.frozen(kw_only=True)
class FeishuReceiverBlock(v2beta2.ReceiverBlock, _Recipients):
    """v2beta2 `Receiver` `spec.feishu`."""

    config_selector: v2beta2.LabelSelector | None = None
    user: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    chatbot: ChatbotBlock | None = None
    tmpl_type: MsgType = "post"


def needs_config(receiver: FeishuReceiverSpec | FeishuReceiverBlock) -> bool:
    """Users and departments are reached through the app; a robot alone needs no config."""
    return bool(receiver.user or receiver.department)
