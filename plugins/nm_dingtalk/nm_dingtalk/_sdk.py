"""Everything nm_dingtalk uses from nmcore, in one place (to become `nmcore.sdk` when it lands)."""

from nmcore.apierrors import ApiCodes, check_api_url
from nmcore.channel import (
    ChannelContext,
    ChannelLimits,
    ChannelSpec,
    DeliveryError,
    PermanentError,
    SendReport,
    SendRequest,
    TransientError,
)
from nmcore.hookspecs import hookimpl
from nmcore.httpfailures import transport_errors
from nmcore.progress import Progress
from nmcore.ratelimit import Rate, RateLimiter
from nmcore.resources import (
    Credential,
    CredentialSource,
    LabelSelector,
    ReceiverBlock,
    Resource,
    SecretKeySelector,
)
from nmcore.robots import keyword_footer, timestamp_signature, with_keyword
from nmcore.splitting import split_text, utf8_len
from nmcore.tlsconfig import credential_value
from nmcore.tokencache import App, TokenCache, TokenKey, token_of

__all__ = [
    "ApiCodes", "App", "ChannelContext", "ChannelLimits", "ChannelSpec", "Credential", "CredentialSource",
    "DeliveryError", "LabelSelector", "PermanentError", "Progress", "Rate", "RateLimiter", "ReceiverBlock",
    "Resource", "SecretKeySelector", "SendReport", "SendRequest", "TokenCache", "TokenKey", "TransientError",
    "check_api_url", "credential_value", "hookimpl", "keyword_footer", "split_text", "timestamp_signature",
    "token_of", "transport_errors", "utf8_len", "with_keyword",
]
