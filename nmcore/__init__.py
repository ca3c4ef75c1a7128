"""nmcore: a multi-tenant notification manager for Kubernetes, as a library with channel plugins."""

from nmcore.alerts import Alert, AlertGroup, Notification
from nmcore.channel import (
    ChannelContext,
    ChannelLimits,
    ChannelSpec,
    DeliveryError,
    PermanentError,
    Rendered,
    Sender,
    SendReport,
    SendRequest,
    TransientError,
)
from nmcore.hookspecs import hookimpl
from nmcore.resources import Credential, LabelSelector, SecretKeySelector

__all__ = [
    "Alert",
    "AlertGroup",
    "ChannelContext",
    "ChannelLimits",
    "ChannelSpec",
    "Credential",
    "DeliveryError",
    "LabelSelector",
    "Notification",
    "PermanentError",
    "Rendered",
    "SecretKeySelector",
    "SendReport",
    "SendRequest",
    "Sender",
    "TransientError",
    "hookimpl",
]
