"""nm-ntfy: push notifications through ntfy (ntfy.sh or your own server) for nmcore (NtfyConfig / NtfyReceiver)."""

import functools
import re

import attrs
import httpx

from nmcore.sdk import (
    TRANSIENT_STATUS,
    ChannelContext,
    ChannelLimits,
    ChannelSpec,
    DeliveryError,
    Destination,
    LabelSelector,
    PermanentError,
    RegisterChannel,
    ResumingPoster,
    SecretKeySelector,
    SendReport,
    SendRequest,
    TransientError,
    hookimpl,
    json_object,
    paginate,
    retry_after,
    transport_errors,
    utf8_len,
)

LIMITS = ChannelLimits(max_message_bytes=4096, send_timeout=10.0)  # ntfy makes a longer body an attachment
TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")


@attrs.frozen(kw_only=True)
class NtfyConfigSpec:                       # the spec of kind NtfyConfig; manifest keys are the camelCase names
    server: str = "https://ntfy.sh"
    token_secret: SecretKeySelector | None = None  # an access token (tk_…) for topics that need one

    def __attrs_post_init__(self) -> None:    # a ValueError is reported with the file, object and field
        if not self.server.startswith(("https://", "http://")):
            raise ValueError(f"server must be an http(s) URL such as https://ntfy.sh, got {self.server!r}")


@attrs.frozen(kw_only=True)
class NtfyReceiverSpec:
    topics: tuple[str, ...]
    priority: int | None = None             # 1 to 5; by default 4 while firing, 2 once resolved
    config_selector: LabelSelector | None = None   # manifest key ntfyConfigSelector, from the config kind

    def __attrs_post_init__(self) -> None:
        if not self.topics or not all(TOPIC.fullmatch(topic) for topic in self.topics):
            raise ValueError(f"topics must name topics of up to 64 letters, digits, - or _, got {list(self.topics)}")
        if self.priority is not None and not 1 <= self.priority <= 5:
            raise ValueError(f"priority must be 1 to 5, got {self.priority}")


class NtfySender:
    def __init__(self, context: ChannelContext):   # context.http: the process's shared HTTP client
        self.http = context.http
        self.poster = ResumingPoster()              # a retry after a failure part-way posts only the rest

    async def send(self, request: SendRequest[NtfyConfigSpec, NtfyReceiverSpec]) -> SendReport | None:
        if request.config is None:
            raise PermanentError(f"{request.receiver.ref} has no NtfyConfig: label one `type: default`")
        config, receiver = request.config.spec, request.receiver.spec   # typed, no casts
        token = request.secret(config.token_secret) if config.token_secret else ""   # scrubbed from errors
        firing = bool(request.notification.firing)
        look = {"title": request.message.subject, "tags": ["rotating_light" if firing else "white_check_mark"],
                "priority": receiver.priority or (4 if firing else 2)}
        texts = paginate(request.message.text.strip(), 4096, utf8_len)  # numbered parts, cut between alerts
        destinations = [Destination(f"topic {topic}", functools.partial(
            self.publish, server=config.server.rstrip("/"), token=token, body={"topic": topic, **look},
            where=request.config.ref)) for topic in receiver.topics]
        return await self.poster.deliver(request.notification.key, destinations, texts)

    async def publish(self, text: str, *, server: str, token: str, body: dict[str, object], where: str) -> None:
        service = f"ntfy topic {body['topic']} at {server}"
        with transport_errors(service):            # unreachable or timed out: TransientError, URLs scrubbed
            response = await self.http.post(server, json={**body, "message": text}, timeout=LIMITS.send_timeout,
                                            headers={"Authorization": f"Bearer {token}"} if token else {})
        if not response.is_success:
            raise explain(response, service, where)

    async def aclose(self) -> None:
        """Nothing to release: the HTTP client is the core's."""


def explain(response: httpx.Response, service: str, where: str) -> DeliveryError:
    """ntfy's error body, `{"code": 42901, "http": 429, "error": "...", "link": "..."}`, as what to do."""
    reply = json_object(response) or {}
    said = f"{service} answered HTTP {response.status_code}" + (f": {reply['error']}" if reply.get("error") else "")
    if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
        return TransientError(f"{said} (temporary, will retry)", retry_after=retry_after(response.headers))
    if response.status_code in (401, 403):
        return PermanentError(f"{said}: put an access token allowed to publish there into the tokenSecret of {where}")
    return PermanentError(said + (f" (see {reply['link']})" if reply.get("link") else ""))


SPEC = ChannelSpec(name="ntfy", config_kind="NtfyConfig", receiver_kind="NtfyReceiver", config_schema=NtfyConfigSpec,
                   receiver_schema=NtfyReceiverSpec, make_sender=NtfySender, limits=LIMITS,
                   description="ntfy push notifications to topics (the example of a third-party plugin)")


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
