"""Each signer against its provider's documented example, where the provider publishes one."""

import base64
import hashlib

from nm_sms.signing import aliyun_rpc_signature, huawei_wsse, sigv4_authorization, tc3_authorization

AWS_KEY, AWS_SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def test_aliyun_rpc_signature_matches_the_documented_describe_regions_example():
    # Aliyun's "RPC API signature" document: DescribeRegions with AccessKeySecret testsecret.
    params = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
              "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
    assert aliyun_rpc_signature("testsecret", "GET", params) == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_tencent_tc3_matches_the_documented_describe_instances_example():
    # Tencent Cloud "Signature v3" document: CVM DescribeInstances at 1551113065, its EXAMPLE keys.
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    header = tc3_authorization("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                               service="cvm", host="cvm.tencentcloudapi.com",
                               content_type="application/json; charset=utf-8", payload=payload,
                               timestamp=1551113065)
    assert header == ("TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
                      "SignedHeaders=content-type;host, "
                      "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")


def test_aws_sigv4_matches_the_test_suite_get_vanilla():
    header = sigv4_authorization(AWS_KEY, AWS_SECRET, method="GET", path="/", query="",
                                 headers={"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"},
                                 payload=b"", region="us-east-1", service="service", amz_date="20150830T123600Z")
    assert header == ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                      "SignedHeaders=host;x-amz-date, "
                      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")


def test_aws_sigv4_matches_the_test_suite_post_x_www_form_urlencoded():
    header = sigv4_authorization(AWS_KEY, AWS_SECRET, method="POST", path="/", query="",
                                 headers={"Content-Type": "application/x-www-form-urlencoded",
                                          "Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"},
                                 payload=b"Param1=value1", region="us-east-1", service="service",
                                 amz_date="20150830T123600Z")
    assert header.endswith("SignedHeaders=content-type;host;x-amz-date, "
                           "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a")


def test_huawei_wsse_digest_is_base64_of_the_hex_sha256_of_nonce_created_and_secret():
    # Huawei publishes no vector; this is its sample code's formula, written out independently.
    nonce, created = "66C92B11FF8A425FB8D4CCFE0ED9ED1F", "2026-12-02T02:38:13Z"
    expected = base64.b64encode(hashlib.sha256(f"{nonce}{created}app-secret".encode()).hexdigest().encode()).decode()
    assert huawei_wsse("app-key", "app-secret", nonce=nonce, created=created) == (
        f'UsernameToken Username="app-key",PasswordDigest="{expected}",Nonce="{nonce}",Created="{created}"')
