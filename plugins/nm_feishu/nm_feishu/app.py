"""Messages from the app to users and departments: a tenant_access_token, then `message/v4/batch_send`.

The token (`auth/v3/tenant_access_token/internal` with appID and appSecret) is shared by every send of the
app, cached for its `expire`, and fetched again once when Feishu answers 99991663. One request takes the
receiver's user IDs, open IDs (`ou_…`) and departments (at most 200 of each, as the original's CRD allows);
Feishu delivers to departments in the background. IDs Feishu reports as invalid come back as warnings of a
successful send.
"""

import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import httpx

from nm_feishu.errcodes import FEISHU, TOKEN_REJECTED
from nm_feishu.message import contents
from nm_feishu.schema import FeishuConfigBlock, FeishuConfigSpec, FeishuReceiverBlock, FeishuReceiverSpec
from nmcore.sdk import (
    App,
    Progress,
    SendRequest,
    TokenCache,
    credential_value,
    token_of,
    transport_errors,
)

REQUEST_TIMEOUT = 5.0
Request = SendRequest[FeishuConfigSpec | FeishuConfigBlock, FeishuReceiverSpec | FeishuReceiverBlock]
UNDELIVERED = {"invalid_user_ids": "user IDs", "invalid_open_ids": "open IDs", "invalid_department_ids": "departments"}


class Apps:
    def __init__(self, http: httpx.AsyncClient, progress: Progress, log: logging.Logger):
        self._http = http
        self._progress = progress
        self._log = log
        self._tokens = TokenCache()

    async def send(self, request: Request, config: FeishuConfigSpec | FeishuConfigBlock, owner: str,
                   warnings: set[str]) -> int:
        """Send to the receiver's users and departments, adding to `warnings` the IDs Feishu does not know;
        return how many requests that took."""
        receiver = request.receiver.spec
        app = App(config.api_url, credential_value(config.app_id, request.secret),
                  credential_value(config.app_secret, request.secret), owner)
        recipients = {"user_ids": [u for u in receiver.user if not u.startswith("ou_")],
                      "open_ids": [u for u in receiver.user if u.startswith("ou_")],
                      "department_ids": list(receiver.department)}  # at most 200 each: one request takes them
        sent = 0
        for index, content in enumerate(contents(request.message, receiver.tmpl_type)):
            body = {"msg_type": receiver.tmpl_type, "content": content, **recipients}
            sent += await self._progress.once(request.notification.key, f"{index}\0{content}",
                                              partial(self._send, app, body, warnings))
        return sent

    async def _send(self, app: App, body: Mapping[str, Any], warnings: set[str]) -> None:
        reply = await self._tokens.call(app.key, lambda: self._fetch_token(app), lambda t: self._post(app, t, body),
                                        rejected=lambda reply: FEISHU.code(reply) in TOKEN_REJECTED)
        FEISHU.check(reply, f"batch_send for {app.owner}")
        warnings.update(_undelivered(reply))

    async def _post(self, app: App, token: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        service = f"Feishu batch_send at {app.api}"
        with transport_errors(service):
            response = await self._http.post(f"{app.api}message/v4/batch_send/", json=body, timeout=REQUEST_TIMEOUT,
                                             headers={"Authorization": f"Bearer {token}"})
        return FEISHU.reply(response, service, f"batch_send for {app.owner}")

    async def _fetch_token(self, app: App) -> tuple[str, float]:
        service = f"Feishu tenant_access_token at {app.api}"
        with transport_errors(service):
            response = await self._http.post(f"{app.api}auth/v3/tenant_access_token/internal",
                                             json={"app_id": app.app_id, "app_secret": app.secret},
                                             timeout=REQUEST_TIMEOUT)
        reply = FEISHU.answer(response, service, f"tenant_access_token for {app.owner}")
        token, lifetime = token_of(reply, service, check=f"apiUrl in {app.owner}", token="tenant_access_token",
                                   lifetime="expire")
        self._log.info("fetched a Feishu tenant_access_token for %s, valid %ds", app.owner, lifetime)
        return token, lifetime


def _undelivered(reply: Mapping[str, Any]) -> Iterator[str]:
    data = reply.get("data")
    if not isinstance(data, dict):
        return
    for field, what in UNDELIVERED.items():
        if ids := data.get(field):
            yield f"Feishu did not deliver to {what} unknown to the app: {', '.join(map(str, ids))}"
