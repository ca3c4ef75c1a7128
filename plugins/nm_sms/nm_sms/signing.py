"""Each SMS provider's request signature, as its documentation defines it (tests hold the documented vectors).

- Aliyun RPC (signature version 1.0): HMAC-SHA1 over `METHOD&%2F&` + the percent-encoded, sorted query.
- Tencent Cloud TC3-HMAC-SHA256: a canonical request hashed, signed with a key derived from the date and service.
- Huawei Cloud WSSE: `X-WSSE: UsernameToken …` with PasswordDigest = base64(hex(SHA-256(nonce + created + secret))),
  as Huawei's samples and the Go original compute it.
- AWS Signature Version 4, for SNS: canonical request, string to sign, key derived from date, region and service.

AWS SigV4 is written here rather than taken from botocore: botocore is a 17 MB wheel for one ~25-line function;
the tests run the AWS test suite's vectors against this code and the fake SNS verifies with botocore's own signer.
"""

import base64
import datetime
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping


def _hmac(key: bytes, text: str, digest: str = "sha256") -> bytes:
    return hmac.new(key, text.encode(), digest).digest()


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def percent(text: str) -> str:
    """RFC 3986 percent-encoding (space %20, `*` %2A, `~` kept): what Aliyun and AWS sign."""
    return urllib.parse.quote(text, safe="-_.~")


def aliyun_rpc_signature(secret: str, method: str, params: Mapping[str, str]) -> str:
    """The `Signature` parameter of an Aliyun RPC-style request (HMAC-SHA1, SignatureVersion 1.0)."""
    query = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{percent('/')}&{percent(query)}"
    return base64.b64encode(_hmac(f"{secret}&".encode(), string_to_sign, "sha1")).decode()


def tc3_authorization(secret_id: str, secret_key: str, *, service: str, host: str, content_type: str,
                      payload: bytes, timestamp: int) -> str:
    """The `Authorization` header of a Tencent Cloud API 3.0 POST signed with TC3-HMAC-SHA256."""
    date = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d")
    canonical = (f"POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n"
                 f"{_sha256_hex(payload)}")
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{_sha256_hex(canonical.encode())}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode(), "sha256").hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


HUAWEI_AUTHORIZATION = 'WSSE realm="SDP",profile="UsernameToken",type="Appkey"'


def huawei_wsse(app_key: str, app_secret: str, *, nonce: str, created: str) -> str:
    """The `X-WSSE` header of Huawei Cloud's SMS API (sent with `Authorization: HUAWEI_AUTHORIZATION`)."""
    digest = base64.b64encode(_sha256_hex(f"{nonce}{created}{app_secret}".encode()).encode()).decode()
    return f'UsernameToken Username="{app_key}",PasswordDigest="{digest}",Nonce="{nonce}",Created="{created}"'


def sigv4_authorization(access_key: str, secret_key: str, *, method: str, path: str, query: str,
                        headers: Mapping[str, str], payload: bytes, region: str, service: str,
                        amz_date: str) -> str:
    """The `Authorization` header of an AWS Signature Version 4 request. `headers` are the ones signed (they
    must include host and x-amz-date); `query` is already canonical (sorted, percent-encoded)."""
    signed = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    names = ";".join(sorted(signed))
    canonical = "\n".join([method, path, query, *(f"{n}:{signed[n]}" for n in sorted(signed)), "", names,
                           _sha256_hex(payload)])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{_sha256_hex(canonical.encode())}"
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), amz_date[:8]), region), service), "aws4_request")
    signature = hmac.new(key, string_to_sign.encode(), "sha256").hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={names}, Signature={signature}"
