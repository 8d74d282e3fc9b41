"""The SSRF policy at send time: which addresses a webhook may connect to, and the resolution that feeds them.

The URL's static rules (https, no userinfo, an allowed port, a plain host) are urls.py's; they are checked again
before every send, since settings change and rows can be written around the API. Then the host is resolved
here, at send time, and EVERY address it resolves to is checked: one refused address refuses the host (a name
that mixes public and private answers is an attack, not a misconfiguration). The sender connects only to the
addresses returned here (sender.py's PinnedBackend), so a second, different DNS answer (rebinding) is never used.

Refused: anything Python does not call global (``is_global``: private, loopback, link-local, shared/CGNAT
100.64/10, documentation, benchmarking, reserved, ``0.0.0.0/8``, ``::/128``, unique-local ``fc00::/7``, …) and,
because ``is_global`` misses them or has changed between Python releases, explicitly: multicast, IPv6
site-local ``fec0::/10``, the IETF protocol block ``192.0.0.0/24`` (Oracle Cloud's metadata is 192.0.0.192), the
6to4 relay anycast ``192.88.99.0/24``, ``2001::/23`` (Teredo is refused whole: its client address is
obfuscated and NAT-dependent), the NAT64 local-use ``64:ff9b:1::/48``, IPv4-compatible ``::/96``, and Azure's
host address ``168.63.129.16``. Cloud metadata addresses otherwise fall in refused ranges (169.254.169.254,
AWS's fd00:ec2::254, Alibaba's 100.100.100.200 in CGNAT, Tencent's 169.254.0.23).

IPv6 forms that carry an IPv4 address are judged by that IPv4: IPv4-mapped ``::ffff:a.b.c.d`` (and the socket
connects to the IPv4 itself), NAT64 ``64:ff9b::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``.

Loopback (127/8, ::1) is allowed only with ``webhook_allow_loopback``, a test-only setting; nothing else is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

from solomo.webhooks.urls import IPAddress, UrlRules, literal_address, url_problem

#: Resolves a host name to addresses (text); substituted in tests. Raises OSError when the name does not resolve.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

_REFUSED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "168.63.129.16/32",
    )
)
_REFUSED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",
        "::ffff:0:0:0/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)
_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressRefusedError(Exception):
    """The URL or an address it resolves to may not be sent to (the attempt's error is ``address_refused``).

    Not an OSError, so nothing on the way (httpcore, anyio) mistakes it for a connection failure worth retrying.
    """


def refusal(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why a webhook may not connect to ``address`` (for logs), or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            # Loopback is a test allowance for the plain address only, never through a NAT64 or 6to4 prefix.
            reason = refusal(embedded, allow_loopback=allow_loopback and address.ipv4_mapped is not None)
            return None if reason is None else f"{reason} (embedded in {address})"
        if address.is_loopback:
            return None if allow_loopback else "loopback"
        if address.scope_id:
            return "scoped IPv6 address"
        if any(address in net for net in _REFUSED_V6) or address.is_site_local:
            return "not a public address"
    else:
        if address in _LOOPBACK_V4:
            return None if allow_loopback else "loopback"
        if any(address in net for net in _REFUSED_V4):
            return "not a public address"
    if not address.is_global or address.is_multicast or address.is_reserved or address.is_unspecified:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def connectable(address: IPAddress) -> IPAddress:
    """The address to open the socket to: an IPv4-mapped IPv6 address is its IPv4 (the address that was judged)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def check_url(url: str, rules: UrlRules) -> None:
    """The URL's static rules again at send time (they may have changed since the endpoint was saved)."""
    problem = url_problem(url, rules)
    if problem is not None:
        raise AddressRefusedError(f"url {problem}")


async def system_resolver(host: str, port: int) -> list[str]:
    """The machine's resolver (getaddrinfo in a thread, as asyncio does it), each address once, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, *, allow_loopback: bool, resolver: Resolver) -> list[IPAddress]:
    """Every address ``host`` stands for, each one checked; AddressRefusedError if any is refused.

    An IP literal is not resolved. A name that resolves to nothing raises OSError (a connection failure).
    """
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        answers = await resolver(host, port)
        addresses = [ipaddress.ip_address(answer) for answer in answers]
        if not addresses:
            raise OSError(f"{host} resolved to no address")
    for address in addresses:
        reason = refusal(address, allow_loopback=allow_loopback)
        if reason is not None:
            raise AddressRefusedError(f"{host} resolves to {address}: {reason}")
    return list(dict.fromkeys(connectable(a) for a in addresses))
