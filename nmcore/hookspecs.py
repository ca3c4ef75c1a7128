"""The hooks a plugin may implement. All are synchronous; async work lives in the objects they return."""

from typing import TYPE_CHECKING

import pluggy

from nmcore.alerts import Alert
from nmcore.channel import RegisterChannel
from nmcore.resources import Resource

if TYPE_CHECKING:
    from nmcore.tenancy import TenantOptions, TenantResolver

PROJECT = "nmcore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def nmcore_register_channels(register: RegisterChannel) -> None:
    """Register channels by calling `register(ChannelSpec(...))` once per channel this plugin provides."""


@hookspec(firstresult=True)
def nmcore_tenant_resolver(name: str, options: "TenantOptions") -> "TenantResolver | None":
    """Return the resolver called `name` (which users can access a namespace), or None if not yours.

    Stops at the first non-None result. Return an object, never a coroutine.
    """


@hookspec
def nmcore_route_filter(alert: Alert, receiver: Resource, tenant: str) -> str | None:
    """Return a reason to withhold `alert` from `receiver` (a silence, a severity filter), or None.

    Called only for receivers the alert is already entitled to: a filter can narrow routing, never widen it,
    so tenant isolation does not depend on plugins. The reason is shown by `nm route`.
    """
