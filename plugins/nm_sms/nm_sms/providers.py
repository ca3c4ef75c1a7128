"""One request per provider, signed its way, and its reply read its way: success, a wait, or a permanent error.

Each `post_*` sends one message (the template parameter) to a batch of numbers and returns warnings (numbers
the provider refused while taking the others); it raises TransientError for throttling with the wait the
provider's code implies, PermanentError for bad credentials and every other refusal.
"""

import datetime
import json
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from nm_sms import signing
from nm_sms.schema import Aliyun, Aws, Credential, Huawei, Tencent
from nmcore.sdk import (
    DeliveryError,
    PermanentError,
    TransientError,
    check_status,
    excerpt,
    json_object,
    transport_errors,
)

Secret = Callable[[Credential], str]
TIMEOUT = 10.0
WAITS = {"分钟": 60.0, "小时": 3600.0, "天": 86400.0}
"""Aliyun's flow-control message names its window (触发分钟级流控): wait that long."""
TENCENT_WAITS = {"LimitExceeded.PhoneNumberThirtySecondLimit": 30.0, "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
                 "LimitExceeded.PhoneNumberDailyLimit": 86400.0, "RequestLimitExceeded": 1.0,
                 "LimitExceeded.DeliveryFrequencyLimit": 60.0}
THROTTLE_WAIT = 60.0
"""Huawei and SNS throttle without saying for how long: a minute lets a per-second or per-minute quota recover."""


def _failure(service: str, code: str, message: str, wait: float | None) -> DeliveryError:
    text = f"{service} refused the message: {code} ({excerpt(message, 300)})"
    return TransientError(text, retry_after=wait) if wait is not None else PermanentError(text)


async def _post(http: httpx.AsyncClient, service: str, url: str, body: bytes,
                headers: dict[str, str]) -> httpx.Response:
    with transport_errors(service):
        return await http.post(url, content=body, headers=headers, timeout=TIMEOUT)


def _form(params: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(sorted(params.items()), quote_via=urllib.parse.quote).encode()


async def post_aliyun(http: httpx.AsyncClient, p: Aliyun, secret: Secret, numbers: Sequence[str],
                      text: str) -> list[str]:
    service = f"Aliyun SendSms at {p.url}"
    params = {"AccessKeyId": secret(p.access_key_id), "Action": "SendSms", "Format": "JSON",
              "PhoneNumbers": ",".join(numbers), "RegionId": "cn-hangzhou", "SignName": p.sign_name,
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": uuid.uuid4().hex, "SignatureVersion": "1.0",
              "TemplateCode": p.template_code, "TemplateParam": json.dumps({"code": text}, ensure_ascii=False),
              "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "Version": "2017-05-25"}
    params["Signature"] = signing.aliyun_rpc_signature(secret(p.access_key_secret), "POST", params)
    response = await _post(http, service, p.url, _form(params),
                           {"Content-Type": "application/x-www-form-urlencoded"})
    reply = json_object(response) or {}
    code, message = str(reply.get("Code", "")), str(reply.get("Message", ""))
    if code == "OK":
        return []
    if not code:
        check_status(response, service)
        raise PermanentError(f"{service} answered without a Code: check the url")
    throttled = code.startswith("Throttling") or code == "isv.BUSINESS_LIMIT_CONTROL"
    wait = next((w for word, w in WAITS.items() if word in message), THROTTLE_WAIT) if throttled else None
    raise _failure(service, code, message, wait)


async def post_tencent(http: httpx.AsyncClient, p: Tencent, secret: Secret, numbers: Sequence[str],
                       text: str) -> list[str]:
    service = f"Tencent Cloud SendSms at {p.url}"
    body = json.dumps({"PhoneNumberSet": list(numbers), "SmsSdkAppId": p.sms_sdk_appid, "SignName": p.sign,
                       "TemplateId": p.template_id, "TemplateParamSet": [text]}, ensure_ascii=False).encode()
    host, content_type, now = urllib.parse.urlsplit(p.url).netloc, "application/json; charset=utf-8", int(time.time())
    authorization = signing.tc3_authorization(secret(p.secret_id), secret(p.secret_key), service="sms", host=host,
                                              content_type=content_type, payload=body, timestamp=now)
    response = await _post(http, service, p.url, body, {
        "Authorization": authorization, "Content-Type": content_type, "Host": host, "X-TC-Action": "SendSms",
        "X-TC-Version": "2021-01-11", "X-TC-Timestamp": str(now), "X-TC-Region": p.region})
    check_status(response, service)
    reply: dict[str, Any] = (json_object(response) or {}).get("Response") or {}
    if error := reply.get("Error"):
        code = str(error.get("Code", ""))
        wait = TENCENT_WAITS.get(code, 1.0 if code.startswith("InternalError") else None)
        raise _failure(service, code, str(error.get("Message", "")), wait)
    refused = [s for s in reply.get("SendStatusSet") or [] if s.get("Code") != "Ok"]
    if refused and len(refused) == len(numbers):  # nobody got it: the whole send failed, retry if it may
        first = refused[0]
        code = str(first.get("Code", ""))
        raise _failure(service, code, str(first.get("Message", "")), TENCENT_WAITS.get(code))
    return [f"Tencent Cloud did not send to {s.get('PhoneNumber')}: {s.get('Code')} ({s.get('Message')})"
            for s in refused]


async def post_huawei(http: httpx.AsyncClient, p: Huawei, secret: Secret, numbers: Sequence[str],
                      params: Sequence[str]) -> list[str]:
    service = f"Huawei Cloud SMS at {p.url}"
    body = _form({"from": p.sender, "to": ",".join(numbers), "templateId": p.template_id,
                  "templateParas": json.dumps(list(params), ensure_ascii=False), "signature": p.signature,
                  "statusCallback": ""})
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    wsse = signing.huawei_wsse(secret(p.app_key).strip(), secret(p.app_secret).strip(), nonce=uuid.uuid4().hex,
                               created=created)
    response = await _post(http, service, p.url, body, {
        "Authorization": signing.HUAWEI_AUTHORIZATION, "X-WSSE": wsse,
        "Content-Type": "application/x-www-form-urlencoded"})
    reply = json_object(response) or {}
    code = str(reply.get("code") or reply.get("error_code") or "")
    if code == "000000":
        return [f"Huawei Cloud did not send to {r.get('originTo')}: {r.get('status')}"
                for r in reply.get("result") or [] if r.get("status") != "000000"]
    if response.status_code == 429 or code == "APIGW.0308":
        raise _failure(service, code, str(reply.get("error_msg", "")), THROTTLE_WAIT)
    check_status(response, service)
    raise _failure(service, code or "no code", str(reply.get("description", "")), None)


async def post_aws(http: httpx.AsyncClient, p: Aws, secret: Secret, numbers: Sequence[str], text: str) -> list[str]:
    service = f"AWS SNS Publish at {p.endpoint}"
    for number in numbers:  # Publish takes one PhoneNumber
        body = _form({"Action": "Publish", "Message": text, "PhoneNumber": number, "Version": "2010-03-31"})
        url = urllib.parse.urlsplit(p.endpoint)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Host": url.netloc,
                   "X-Amz-Date": amz_date}
        headers["Authorization"] = signing.sigv4_authorization(
            secret(p.access_key_id), secret(p.secret_access_key), method="POST", path=url.path or "/", query="",
            headers=headers, payload=body, region=p.region, service="sns", amz_date=amz_date)
        response = await _post(http, service, p.endpoint, body, headers)
        if response.is_success:
            continue
        try:
            error = ET.fromstring(response.text).find("{*}Error")
        except ET.ParseError:
            error = None
        if error is None:
            check_status(response, service)
            raise PermanentError(f"{service} answered {response.status_code} without an SNS error")
        code = error.findtext("{*}Code", "")
        wait = THROTTLE_WAIT if code in ("Throttling", "ThrottlingException") else None
        raise _failure(service, code, error.findtext("{*}Message", ""), wait if response.status_code < 500 else 1.0)
    return []
