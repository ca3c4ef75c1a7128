"""Feishu's manifests: the v2beta2 `feishu` blocks of the original, and the same fields as nmcore's own
`FeishuConfig`/`FeishuReceiver` kinds, so folder configurations can use Feishu before the v2beta2 loader.

The original had no v1alpha1 Feishu kinds; nmcore's are the v2beta2 blocks without the fields only v2beta2
routing gives a meaning (`enabled`, `alertSelector`). `apiUrl` is nmcore's own
(default Feishu's; Lark's is https://open.larksuite.com/open-apis/).
"""

from typing import Literal

import attrs

from nmcore.sdk import MANIFEST_KEY, Credential, LabelSelector, ReceiverBlock, ReceiverTemplates, check_api_url

DEFAULT_API_URL = "https://open.feishu.cn/open-apis/"
MAX_LISTED = 200
"""The original's CRD limit for `user` and `department`, which is also what one batch_send takes of each."""


@attrs.frozen(kw_only=True)
class FeishuConfigSpec:
    """An app (自建应用) with the permissions to send batch messages to users and departments."""

    app_id: Credential = attrs.field(metadata={MANIFEST_KEY: "appID"})
    app_secret: Credential
    api_url: str = DEFAULT_API_URL

    def __attrs_post_init__(self) -> None:
        check_api_url(self.api_url, DEFAULT_API_URL)


FeishuConfigBlock = FeishuConfigSpec
"""v2beta2 `Config` `spec.feishu`: the same fields."""


@attrs.frozen(kw_only=True)
class Chatbot:
    """A group's custom robot (自定义机器人): its webhook URL, keywords and signing secret if it has them."""

    webhook: Credential
    keywords: tuple[str, ...] = ()
    secret: Credential | None = None


@attrs.frozen(kw_only=True)
class FeishuReceiverSpec(ReceiverTemplates):
    """Who gets the messages: users (user IDs, or open IDs `ou_…`), departments, and/or a group robot; and
    the templates (`template` renders `tmplType`'s format: a `post` template renders JSON)."""

    config_selector: LabelSelector | None = attrs.field(default=None, metadata={MANIFEST_KEY: "feishuConfigSelector"})
    user: tuple[str, ...] = ()
    department: tuple[str, ...] = ()
    chatbot: Chatbot | None = None
    tmpl_type: Literal["post", "text"] = "post"

    def __attrs_post_init__(self) -> None:
        if not (self.user or self.department or self.chatbot):
            raise ValueError("no recipient: give at least one of user, department and chatbot")
        for name, values in (("user", self.user), ("department", self.department)):
            if len(values) > MAX_LISTED:
                raise ValueError(f"{name} lists {len(values)} entries; the most is {MAX_LISTED}")


@attrs.frozen(kw_only=True)
class FeishuReceiverBlock(FeishuReceiverSpec, ReceiverBlock):
    """v2beta2 `Receiver` `spec.feishu`."""


def needs_config(receiver: FeishuReceiverSpec) -> bool:
    """Users and departments are reached through the app; a robot alone needs no FeishuConfig."""
    return bool(receiver.user or receiver.department)
