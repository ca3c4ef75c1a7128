"""Where receivers may not send: denied networks and nm's own listeners, checked on the address actually dialled.

A receiver's URL is written by a tenant. Pointed at the cloud metadata service (169.254.169.254) it would
make nm fetch credentials on the tenant's behalf; pointed at nm's own intake it feeds every alert back in, a
loop. The check runs when the HTTP client opens a socket, on the resolved address, so neither a hostname that
resolves to a denied address nor an IP literal gets past it. A denied send fails permanently, naming the policy.
"""

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import attrs

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_DENIED = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
"""Link-local addresses, where cloud metadata services answer (169.254.169.254), and AWS's IPv6 one."""

POLICY_NAME = "nm's network policy"


class DeniedDestination(OSError):
    """A connection nm refuses to open; its message names the policy and the address."""


def networks(text: str) -> tuple[IPNetwork, ...]:
    """`--deny-networks` as written: comma-separated CIDRs (a bare address is one host); empty denies nothing."""
    found = []
    for part in text.split(","):
        if part.strip():
            try:
                found.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"{part.strip()!r} is not a network (expected a CIDR such as 169.254.0.0/16): "
                                 f"{exc}") from None
    return tuple(found)


@attrs.frozen
class NetworkPolicy:
    denied: tuple[IPNetwork, ...] = attrs.field(factory=lambda: networks(",".join(DEFAULT_DENIED)))
    own_listeners: tuple[tuple[str, int], ...] = ()
    """nm's own (host, port) listeners; a wildcard host (0.0.0.0, ::) means every local address."""

    @classmethod
    def of(cls, denied: str, own_listeners: Iterable[tuple[str, int]] = ()) -> "NetworkPolicy":
        return cls(networks(denied), tuple(own_listeners))

    def check(self, address: str, port: int) -> None:
        """Raise DeniedDestination if nm must not connect to `address`:`port`."""
        ip = _ip(address)
        if ip is None:
            return
        for network in self.denied:
            if ip.version == network.version and ip in network:
                raise DeniedDestination(f"{address} is in {network}, which {POLICY_NAME} denies (--deny-networks)")
        for host, own_port in self.own_listeners:
            if port == own_port and _reaches(ip, host):
                raise DeniedDestination(f"{address}:{port} is nm's own listener ({host or '*'}:{own_port}): a "
                                        "receiver sending there would feed nm its own notifications")

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """aiohttp's `TCPConnector(socket_factory=…)`: called with each resolved address before connecting."""
        family, kind, proto, _, address = addr_info
        self.check(str(address[0]), int(address[1]))
        return socket.socket(family=family, type=kind, proto=proto)


def _ip(address: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _reaches(ip: IPAddress, listener_host: str) -> bool:
    """Whether a connection to `ip` arrives at a listener bound to `listener_host`."""
    bound = _ip(listener_host) if listener_host else None
    if bound is not None and not bound.is_unspecified:
        return ip == bound
    return _is_local(ip)


def _is_local(ip: IPAddress) -> bool:
    """An address of this machine: loopback, unspecified, or one a socket can bind to."""
    if ip.is_loopback or ip.is_unspecified:
        return True
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
    return True
