"""nm_email: the email channel for nmcore (EmailConfig / EmailReceiver, sent over SMTP with aiosmtplib)."""

from nm_email.schema import EmailConfigBlock, EmailConfigSpec, EmailReceiverBlock, EmailReceiverSpec, SmartHost
from nm_email.sender import LIMITS, EmailSender
from nmcore.sdk import ChannelSpec, RegisterChannel, V2Beta2Block, hookimpl

__all__ = ["SPEC", "EmailConfigBlock", "EmailConfigSpec", "EmailReceiverBlock", "EmailReceiverSpec", "EmailSender",
           "SmartHost"]

SPEC = ChannelSpec(
    name="email",
    config_kind="EmailConfig",
    receiver_kind="EmailReceiver",
    config_schema=EmailConfigSpec,
    receiver_schema=EmailReceiverSpec,
    make_sender=EmailSender,
    limits=LIMITS,
    description="email over SMTP: STARTTLS or implicit TLS (port 465), AUTH PLAIN/LOGIN/CRAM-MD5, pooled sessions",
    body_format="html",
    formats=lambda spec: ("subject", "text") if spec.tmpl_type == "text" else ("subject", "text", "html"),
    v2beta2=V2Beta2Block(name="email", config_schema=EmailConfigBlock, receiver_schema=EmailReceiverBlock),
)


@hookimpl
def nmcore_register_channels(register: RegisterChannel) -> None:
    register(SPEC)
