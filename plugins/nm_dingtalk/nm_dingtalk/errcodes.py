"""DingTalk's answers (`{"errcode": 0, "errmsg": "ok"}` in an HTTP 200) as failures an operator can act on.

A robot refuses more than 20 messages a minute with 130101 and then stays closed for a while; its security
checks (keywords, signature, IP allowlist) all answer 310000 and differ by errmsg. The app API answers like
WeChat Work's: 40014/42001 for an invalid or expired access_token, 40089 for wrong app credentials, -1 busy.
"""

from collections.abc import Mapping
from typing import Any

from nmcore.sdk import ApiCodes

TOO_FAST = 130101
TOO_FAST_WAIT = 60.0
"""A robot counts 20 messages per minute; never try again sooner."""
TOKEN_REJECTED = frozenset({40014, 42001})
ROBOT_TOKEN_HINT = "the robot's access_token is not valid (was the robot removed?): check chatbot.webhook"

DINGTALK = ApiCodes(
    vendor="DingTalk",
    transient={TOO_FAST: TOO_FAST_WAIT, -1: None},
    hints={
        TOO_FAST: "the robot takes 20 messages a minute; it will be tried again",
        300001: ROBOT_TOKEN_HINT,
        300005: ROBOT_TOKEN_HINT,
        40089: "the app's credentials are wrong: check conversation.appkey and conversation.appsecret",
        40014: "DingTalk refused a fresh access_token too: check the app's permissions",
    },
)

SECURITY_HINTS: Mapping[str, str] = {
    "keywords not in content": "the robot requires one of its 自定义关键词 in every message: list them in "
                               "chatbot.keywords",
    "sign not match": "chatbot.secret is not this robot's 加签 secret (SEC…)",
    "invalid timestamp": "the robot refuses nmcore's timestamp: check this machine's clock",
    "not in whitelist": "the robot refuses nmcore's IP address: add it to the robot's IP 地址段",
}
"""errcode 310000: the robot's security settings refused the message; errmsg says which."""


def check_robot(reply: Mapping[str, Any], what: str) -> None:
    if DINGTALK.code(reply) != 0:
        errmsg = str(reply.get("errmsg", ""))
        raise DINGTALK.failure(reply, what, next((h for k, h in SECURITY_HINTS.items() if k in errmsg), ""))
