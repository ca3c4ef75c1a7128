"""Everything nm_feishu uses from nmcore, in one place (to become `nmcore.sdk` when it lands)."""

from nmcore.apierrors import ApiCodes, check_api_url
from nmcore.channel import ChannelContext, ChannelLimits, ChannelSpec, PermanentError, SendReport, SendRequest
from nmcore.hookspecs import hookimpl
from nmcore.httpfailures import transport_errors
from nmcore.progress import Progress
from nmcore.ratelimit import Rate, RateLimiter
from nmcore.resources import Credential, LabelSelector, ReceiverBlock
from nmcore.robots import keyword_footer, timestamp_signature, with_keyword
from nmcore.splitting import split_text
from nmcore.tlsconfig import credential_value
from nmcore.tokencache import App, TokenCache, TokenKey, token_of

__all__ = [
    "ApiCodes", "App", "ChannelContext", "ChannelLimits", "ChannelSpec", "Credential", "LabelSelector",
    "PermanentError", "Progress", "Rate", "RateLimiter", "ReceiverBlock", "SendReport", "SendRequest",
    "TokenCache", "TokenKey", "check_api_url", "credential_value", "hookimpl", "keyword_footer", "split_text",
    "timestamp_signature", "token_of", "transport_errors", "with_keyword",
]
