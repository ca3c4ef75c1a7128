"""Feishu's answers (`{"code": 0, "msg": "success"}`) as failures an operator can act on.

A robot takes 5 messages a second and 100 a minute and answers 9499 past that (the original retried it
every second), or 11232 when Feishu itself is under pressure; the open API answers its frequency limit
with 99991400 and says in `x-ogw-ratelimit-reset` how long to wait. An invalid tenant_access_token is
99991663: fetch a new one.
"""

from nmcore.sdk import ApiCodes

TOKEN_REJECTED = frozenset({99991663})

FEISHU = ApiCodes(
    vendor="Feishu",
    code_field="code",
    message_field="msg",
    transient={9499: 1.0, 11232: 1.0, 99991400: 1.0},
    wait_header="x-ogw-ratelimit-reset",
    hints={
        9499: "the robot takes 5 messages a second and 100 a minute; it will be tried again",
        11232: "Feishu is limiting messages; it will be tried again",
        99991400: "the app reached Feishu's frequency limit; it will be tried again",
        19021: "the signature was refused: chatbot.secret must be the robot's 签名校验 secret, and this "
               "machine's clock right within an hour",
        19022: "the robot refuses nmcore's IP address: add it to the robot's IP 白名单",
        19024: "the robot requires one of its 自定义关键词 in every message: list them in chatbot.keywords",
        10014: "the app's secret is wrong: check appSecret",
        10003: "the app's credentials are not valid: check appID and appSecret",
        99991663: "Feishu refused a fresh tenant_access_token too: check the app",
        99991672: "the app lacks a permission: grant it 批量发送消息 to users and departments",
    },
)
