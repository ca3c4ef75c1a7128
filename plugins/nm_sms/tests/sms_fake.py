"""A loopback fake of the four SMS APIs. Each checks the request's signature the way its provider does (written
here independently of nm_sms.signing; SNS with botocore's own signer) and answers with the provider's success
and error shapes: bad credentials, throttling, per-number refusals."""

import base64
import hashlib
import hmac
import json
import urllib.parse

import attrs
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY_ID, KEY_SECRET = "LTAI5tSmsTestKeyId", "aliyun-secret-Zx81kQ"
TC_ID, TC_KEY = "AKIDsmsTestSecretId", "tencent-secret-key-9Qp"
HW_KEY, HW_SECRET = "huawei-app-key-7Fc", "huawei-app-secret-Lm2"
AWS_ID, AWS_SECRET = "AKIASMSTESTKEY", "aws-secret-access-key-Pz4/xY+q"
SECRETS = (KEY_ID, KEY_SECRET, TC_ID, TC_KEY, HW_KEY, HW_SECRET, AWS_ID, AWS_SECRET)


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="~")


@attrs.define
class FakeSms:
    url: str = ""
    sent: list[tuple[str, tuple[str, ...], str]] = attrs.field(factory=list)
    """(provider, numbers, text) of each SMS accepted."""
    throttle: set[str] = attrs.field(factory=set)
    refuse_numbers: set[str] = attrs.field(factory=set)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/aliyun/", self.aliyun)
        app.router.add_post("/tencent/", self.tencent)
        app.router.add_post("/huawei/sms/batchSendSms/v1", self.huawei)
        app.router.add_post("/aws/", self.aws)
        return app

    def texts(self, provider: str) -> list[str]:
        return [text for name, _, text in self.sent if name == provider]

    async def aliyun(self, request: web.Request) -> web.Response:
        form = dict(urllib.parse.parse_qsl(await request.text(), keep_blank_values=True))
        given = form.pop("Signature", "")
        query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(form.items()))
        to_sign = f"POST&%2F&{_quote(query)}"
        expected = base64.b64encode(hmac.new(f"{KEY_SECRET}&".encode(), to_sign.encode(), "sha1").digest()).decode()
        reply = {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}
        if form.get("AccessKeyId") != KEY_ID:
            return web.json_response({**reply, "Code": "InvalidAccessKeyId.NotFound",
                                      "Message": "Specified access key is not found."}, status=404)
        if given != expected:
            return web.json_response({**reply, "Code": "SignatureDoesNotMatch", "Message": "Specified signature "
                                      "is not matched with our calculation."}, status=400)
        if "aliyun" in self.throttle:
            return web.json_response({**reply, "Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1"})
        text = json.loads(form["TemplateParam"])["code"]
        self.sent.append(("aliyun", tuple(form["PhoneNumbers"].split(",")), text))
        return web.json_response({**reply, "Code": "OK", "Message": "OK", "BizId": "900619746936498440^0"})

    async def tencent(self, request: web.Request) -> web.Response:
        body = await request.read()
        auth = request.headers.get("Authorization", "")
        fields = dict(part.strip().split("=", 1) for part in auth.removeprefix("TC3-HMAC-SHA256 ").split(","))
        secret_id, date, service, _ = fields.get("Credential", "///").split("/")
        canonical = (f"POST\n/\n\ncontent-type:{request.headers['Content-Type']}\nhost:{request.headers['Host']}\n\n"
                     f"content-type;host\n{hashlib.sha256(body).hexdigest()}")
        to_sign = (f"TC3-HMAC-SHA256\n{request.headers['X-TC-Timestamp']}\n{date}/{service}/tc3_request\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        key = f"TC3{TC_KEY}".encode()
        for part in (date, service, "tc3_request"):
            key = hmac.new(key, part.encode(), "sha256").digest()
        expected = hmac.new(key, to_sign.encode(), "sha256").hexdigest()
        rid = {"RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}
        if secret_id != TC_ID:
            return web.json_response({"Response": {**rid, "Error": {"Code": "AuthFailure.SecretIdNotFound",
                                                                    "Message": "The SecretId is not found"}}})
        if fields.get("Signature") != expected or request.headers.get("X-TC-Action") != "SendSms":
            return web.json_response({"Response": {**rid, "Error": {"Code": "AuthFailure.SignatureFailure",
                                                                    "Message": "The provided credentials could not "
                                                                    "be validated."}}})
        payload = json.loads(body)
        statuses = []
        for number in payload["PhoneNumberSet"]:
            if "tencent" in self.throttle:
                statuses.append({"PhoneNumber": number, "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
                                 "Message": "the number of SMS messages sent from a single mobile number within 30 "
                                            "seconds exceeds the upper limit"})
            elif number in self.refuse_numbers:
                statuses.append({"PhoneNumber": number, "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                                 "Message": "invalid mobile number"})
            else:
                statuses.append({"SerialNo": "2028:f825e6b16e23f73f4123", "PhoneNumber": number, "Fee": 1,
                                 "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
        accepted = tuple(s["PhoneNumber"] for s in statuses if s["Code"] == "Ok")
        if accepted:
            self.sent.append(("tencent", accepted, payload["TemplateParamSet"][0]))
        return web.json_response({"Response": {**rid, "SendStatusSet": statuses}})

    async def huawei(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != 'WSSE realm="SDP",profile="UsernameToken",type="Appkey"':
            return web.json_response({"code": "E000002", "description": "Authorization header error"}, status=401)
        token = request.headers.get("X-WSSE", "").removeprefix("UsernameToken ")
        fields = {k.strip(): v.strip('"') for k, v in (p.split("=", 1) for p in token.split(",") if "=" in p)}
        digest = hashlib.sha256(f"{fields.get('Nonce')}{fields.get('Created')}{HW_SECRET}".encode()).hexdigest()
        if fields.get("Username") != HW_KEY:
            return web.json_response({"code": "E000102", "description": "Invalid app_key."}, status=401)
        if fields.get("PasswordDigest") != base64.b64encode(digest.encode()).decode():
            return web.json_response({"code": "E000105", "description": "Invalid PasswordDigest."}, status=401)
        if "huawei" in self.throttle:
            return web.json_response({"error_code": "APIGW.0308", "error_msg": "The request is throttled."},
                                     status=429)
        form = dict(urllib.parse.parse_qsl(await request.text(), keep_blank_values=True))
        numbers = tuple(form["to"].split(","))
        for value in json.loads(form["templateParas"]):
            if value:
                self.sent.append(("huawei", numbers, value))
        return web.json_response({"code": "000000", "description": "Success", "result": [
            {"originTo": n, "createTime": "2026-12-02T03:00:00Z", "from": form["from"],
             "smsMsgId": "d6e3cdd0-522b-4692-8304-a07553cdf591_8539659", "status": "000000"} for n in numbers]})

    async def aws(self, request: web.Request) -> web.Response:
        body = await request.read()
        form = dict(urllib.parse.parse_qsl(body.decode()))
        auth = request.headers.get("Authorization", "")
        scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
        if scope[0] != AWS_ID:
            return _sns_error(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
        check = AWSRequest(method="POST", url=str(request.url), data=body,
                           headers={k: request.headers[k] for k in ("Content-Type", "Host", "X-Amz-Date")})
        signer = SigV4Auth(Credentials(AWS_ID, AWS_SECRET), "sns", scope[2])
        check.context["timestamp"] = request.headers["X-Amz-Date"]
        expected = signer.signature(signer.string_to_sign(check, signer.canonical_request(check)), check)
        if auth.rsplit("Signature=", 1)[-1] != expected:
            return _sns_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match "
                              "the signature you provided.")
        if "aws" in self.throttle:
            return _sns_error(400, "Throttling", "Rate exceeded")
        self.sent.append(("aws", (form["PhoneNumber"],), form["Message"]))
        return web.Response(content_type="text/xml", text=(
            '<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>'
            "567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId></PublishResult><ResponseMetadata><RequestId>"
            "d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId></ResponseMetadata></PublishResponse>"))


def _sns_error(status: int, code: str, message: str) -> web.Response:
    return web.Response(status=status, content_type="text/xml", text=(
        f'<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}'
        f"</Code><Message>{message}</Message></Error><RequestId>9dd01905-5012-5f99-8663-4b3ecd0dfaef</RequestId>"
        "</ErrorResponse>"))


def manifests(url: str, provider: str, *, numbers: str = '["13612345678", "+8613812345678"]',
              secrets: dict[str, str] | None = None) -> str:
    """A default SmsConfig whose `provider` sends to the fake at `url`, credentials in a Secret, and a global
    SmsReceiver."""
    values = dict(zip(("aliyun.id", "aliyun.secret", "tencent.id", "tencent.key", "huawei.key", "huawei.secret",
                       "aws.id", "aws.secret"), SECRETS, strict=True)) | (secrets or {})

    def ref(key: str) -> str:
        return f"{{valueFrom: {{secretKeyRef: {{name: sms-keys, key: {key}}}}}}}"

    blocks = {
        "aliyun": f"aliyun: {{url: {url}/aliyun/, signName: KubeSphere, templateCode: SMS_1234, "
                  f"accessKeyId: {ref('aliyun.id')}, accessKeySecret: {ref('aliyun.secret')}}}",
        "tencent": f"tencent: {{url: {url}/tencent/, sign: KubeSphere, templateID: '1234', smsSdkAppid: '1400000000', "
                   f"secretId: {ref('tencent.id')}, secretKey: {ref('tencent.key')}}}",
        "huawei": f"huawei: {{url: {url}/huawei/sms/batchSendSms/v1, signature: KubeSphere, templateId: t1, "
                  f"sender: '8821', appKey: {ref('huawei.key')}, appSecret: {ref('huawei.secret')}}}",
        "aws": f"aws: {{url: {url}/aws/, region: ap-southeast-1, accessKeyId: {ref('aws.id')}, "
               f"secretAccessKey: {ref('aws.secret')}}}",
    }
    data = "\n".join(f"  {k}: {base64.b64encode(v.encode()).decode()}" for k, v in values.items())
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: sms-keys}}
data:
{data}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SmsConfig
metadata: {{name: sms, labels: {{type: default}}}}
spec:
  defaultProvider: {provider}
  providers:
    {blocks[provider]}
---
apiVersion: notification.kubesphere.io/v1alpha1
kind: SmsReceiver
metadata: {{name: oncall, labels: {{type: global}}}}
spec: {{phoneNumbers: {numbers}}}
"""
