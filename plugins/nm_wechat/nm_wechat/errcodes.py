"""WeChat Work's `errcode` replies turned into failures an operator can act on.

Every API reply carries `errcode` (0 is success) and `errmsg`. Rate limits and "system busy" are worth
retrying; everything else needs someone to change the configuration, so the common codes come with a hint.
"""

from collections.abc import Mapping

from nmcore.sdk import ApiCodes

TOKEN_REJECTED = frozenset({40001, 40014, 42001})
"""On message/send: the access_token is invalid or expired; fetch a new one and send again, once."""

RATE_LIMIT_WAIT = 60.0
"""WeChat Work's frequency limits count per minute (and per hour, per day); never retry sooner than this."""

HINTS: Mapping[int, str] = {
    -1: "WeChat Work is busy; it will be tried again",
    40001: "the application Secret is wrong: wechatApiSecret must hold the Secret of the application "
           "(应用管理 → the application → Secret)",
    40013: "the corp ID is wrong: check wechatApiCorpId (我的企业 → 企业信息 → 企业ID)",
    40056: "the AgentId is wrong: check wechatApiAgentId (应用管理 → the application → AgentId)",
    40091: "the application Secret is not valid: check wechatApiSecret",
    45009: "the API rate limit was reached; it will be tried again later",
    45033: "too many concurrent API calls; it will be tried again later",
    48002: "the application may not call this API: enable it for the application in the admin console",
    60020: "WeChat Work refused nmcore's IP address: add it to the application's trusted IPs "
           "(应用管理 → the application → 企业可信IP)",
    81013: "no recipient is valid: every user, party and tag in toUser/toParty/toTag is unknown or outside "
           "the application's visible range (可见范围)",
    93000: "the group robot's webhook key is not valid (was the robot removed?): check chatbot.webhook",
    301002: "the AgentId does not belong to the application whose Secret is configured: wechatApiAgentId "
            "and wechatApiSecret must be the same application's",
}


WECHAT = ApiCodes(vendor="WeChat Work", transient={45009: RATE_LIMIT_WAIT, 45033: RATE_LIMIT_WAIT, -1: None},
                  hints=HINTS)
