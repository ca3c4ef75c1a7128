"""The channel plugin SDK: everything a channel plugin needs from nmcore, and nothing else.

A plugin imports this module only (and `nmcore.testing` in its tests); every other nmcore module is internal
and may change. An import-linter contract in the lint session holds the plugins to it.

- The contract: `ChannelSpec` (registered through the `nmcore_register_channels` hook, marked with
  `hookimpl`, given a `RegisterChannel`), `Sender`, `SendRequest[ConfigSpec, ReceiverSpec]`, `SendReport`,
  `ChannelLimits` (whose `split` and `batches` apply the limits declared), `ChannelContext` (the shared HTTP
  client and aiohttp session), `V2Beta2Block`.
- Failing: `DeliveryError`, `TransientError` (retried, honouring `retry_after`), `PermanentError`.
- v2beta2 blocks (`ChannelSpec.v2beta2`): the module `v2beta2` has their shared pieces (`ConfigBlock`,
  `ReceiverBlock`, its `Credential` with an optional Secret namespace, `TLSConfig`, `HTTPClientConfig`,
  `LabelSelector` with `Match`).
- Schema pieces for Config/Receiver specs: `LabelSelector`, `SecretKeySelector`, `Credential`, `TLSConfig`,
  `ReceiverTemplates` (the base of a Receiver spec with the template fields: `template`, `tmplText`, `language`;
  add `subject_template`, `title_template`, `tmpl_type` where the channel has them), `ConfigMapKeySelector`,
  `MANIFEST_KEY` (field metadata for a manifest key that is not the camelCase of the field's name) and
  `converter` (to register a structure hook for a type of your own).
- HTTP: `check_status`/`raise_for_status` (2xx ok; 408, 425, 429 and 5xx transient with `Retry-After`;
  other codes permanent), `retry_after`, `transport_errors` (connection trouble → TransientError, scrubbed),
  `json_object`, `redact_url_secrets` (query values and token-like path segments hidden), `excerpt` (the
  start of a reply's text for an error), `new_session`; the `ChannelContext.http` client reads at most
  `MAX_REPLY_BYTES` of any reply, and `read_prefix` (with `READ_CHUNK`) does the same on the aiohttp session;
  what that client's requests carry is scrubbed from the send's errors and logs, and `note_secret` does the same
  for a credential a send derives or uses without it (an SMTP AUTH line, a CRAM-MD5 answer);
  `ApiCodes` for APIs that answer with a code in the body (`{"errcode": 0}`): which codes are transient and
  after how long, what the common ones mean for the operator.
- TLS: `TLSConfig`, `ClientCertificate`, `ssl_context`, `SecretReader`, `credential_value`.
- Text: `split_text`, `chunks`, `batches` (recipients of several kinds, each with its own maximum), `utf8_len`,
  `utf16_len` (Telegram counts its limits in UTF-16 units).
- Chat services (`nmcore.chatapi`): `paginate` (numbered messages within a limit, cut between alerts),
  `ResumingPoster` and `Destination` (every message to every destination in order, through a `Progress`, so a
  retry posts only what is missing; some destinations failing for good are warnings), `to_each` (the same
  outcome for a sender that reaches its destinations its own way), `requested_wait` (the wait
  a 429 asks for, from a header or the body), `Origin` and `config_credential`, `webhook_of`, `check_webhook`,
  `AlertFacts` (what a channel that lays alerts out itself shows of one).
- Sending within a service's rules: `RateLimiter` with `Rate`s (the send that would be over is held with its
  wait, not refused), `Progress` (a retry sends only the messages not yet delivered); for chat robots,
  `timestamp_signature` and `with_keyword`/`keyword_footer` (the keyword line a robot may demand).
- App tokens: `TokenCache` (one fetch for many sends, refreshed before expiry and once when the API rejects
  it), `TokenKey`, `App` (an app resolved for one send), `token_of` (a token and its lifetime from the API's
  reply); `check_api_url` for a schema's `apiUrl`.
- The notification and its rendering: `Notification`, `Alert`, `AlertGroup`, `Rendered`, and for a channel
  that lays out its own messages (`ChannelSpec.own_layout`), `HIDDEN_LABELS` and `format_time`.
"""

from nmcore import v2beta2
from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.apierrors import ApiCodes, check_api_url
from nmcore.channel import (
    ChannelContext,
    ChannelLimits,
    ChannelSpec,
    RegisterChannel,
    Rendered,
    Sender,
    SendReport,
    SendRequest,
    V2Beta2Block,
)
from nmcore.chatapi import (
    AlertFacts,
    Destination,
    Origin,
    ResumingPoster,
    check_webhook,
    config_credential,
    paginate,
    requested_wait,
    to_each,
    webhook_of,
)
from nmcore.errors import DeliveryError, PermanentError, TransientError
from nmcore.hookspecs import hookimpl
from nmcore.httpclient import MAX_REPLY_BYTES, READ_CHUNK, new_session, read_prefix
from nmcore.httpfailures import (
    TRANSIENT_STATUS,
    check_status,
    excerpt,
    json_object,
    raise_for_status,
    redact_url_secrets,
    retry_after,
    transport_errors,
)
from nmcore.progress import Progress
from nmcore.ratelimit import Rate, RateLimiter
from nmcore.redaction import note_secret
from nmcore.render import HIDDEN_LABELS, format_time
from nmcore.resources import (
    ConfigMapKeySelector,
    Credential,
    LabelSelector,
    SecretKeySelector,
)
from nmcore.robots import keyword_footer, timestamp_signature, with_keyword
from nmcore.schema import KEY as MANIFEST_KEY
from nmcore.schema import converter
from nmcore.splitting import batches, chunks, split_text, utf8_len, utf16_len
from nmcore.templatechoice import ReceiverTemplates
from nmcore.tlsconfig import ClientCertificate, SecretReader, TLSConfig, credential_value, ssl_context
from nmcore.tokencache import App, TokenCache, TokenKey, token_of

__all__ = [
    "HIDDEN_LABELS",
    "MANIFEST_KEY",
    "MAX_REPLY_BYTES",
    "READ_CHUNK",
    "TRANSIENT_STATUS",
    "Alert",
    "AlertFacts",
    "AlertGroup",
    "ApiCodes",
    "App",
    "ChannelContext",
    "ChannelLimits",
    "ChannelSpec",
    "ClientCertificate",
    "ConfigMapKeySelector",
    "Credential",
    "DeliveryError",
    "Destination",
    "LabelSelector",
    "Notification",
    "Origin",
    "PermanentError",
    "Progress",
    "Rate",
    "RateLimiter",
    "ReceiverTemplates",
    "RegisterChannel",
    "Rendered",
    "ResumingPoster",
    "SecretKeySelector",
    "SecretReader",
    "SendReport",
    "SendRequest",
    "Sender",
    "TLSConfig",
    "TokenCache",
    "TokenKey",
    "TransientError",
    "V2Beta2Block",
    "batches",
    "check_api_url",
    "check_status",
    "check_webhook",
    "chunks",
    "config_credential",
    "converter",
    "credential_value",
    "excerpt",
    "format_time",
    "hookimpl",
    "json_object",
    "keyword_footer",
    "new_session",
    "note_secret",
    "paginate",
    "raise_for_status",
    "read_prefix",
    "redact_url_secrets",
    "requested_wait",
    "retry_after",
    "split_text",
    "ssl_context",
    "timestamp_signature",
    "to_each",
    "token_of",
    "transport_errors",
    "utf8_len",
    "utf16_len",
    "v2beta2",
    "webhook_of",
    "with_keyword",
]
