"""The static rules for a webhook endpoint's URL: what can be judged from the text alone, at create and update.

https (http only when ``webhook_allow_http``), no userinfo, a port among ``webhook_allowed_ports``, a host that is
a DNS name or an IP literal. An IP literal that is not public (by addresses.py's policy, the one every send applies)
is refused here too, so the brand hears about it when it saves the endpoint rather than from a failing delivery.
A name is not resolved here: what it resolves to today says nothing about tomorrow, so the worker resolves and
checks every address at send time (addresses.py).

IPv4 written in the forms URL parsers and ``inet_aton`` accept besides four decimals (``2130706433``,
``0x7f.0.0.1``, ``017700000001``) is refused outright: clients disagree on what such a host means, so the only
IPv4 literal taken is the plain dotted quad.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from solomo.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"https": 443, "http": 80}
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_DOTTED_QUAD = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
#: A last label that URL parsers read as a number (decimal, 0x… hex, 0… octal): the host is then an IPv4 address.
_NUMERIC_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|\d+)$")
_LOCALHOST = ("localhost", ".localhost")  # RFC 6761: always loopback, whatever a resolver says


@dataclass(frozen=True, slots=True)
class UrlRules:
    allowed_ports: tuple[int, ...] = (443, 8443)
    allow_http: bool = False
    #: Test-only (a receiver the tests run on 127.0.0.1).
    allow_loopback: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlRules:
        return cls(
            allowed_ports=tuple(settings.webhook_allowed_ports),
            allow_http=settings.webhook_allow_http,
            allow_loopback=settings.webhook_allow_loopback,
        )


def url_problem(url: str, rules: UrlRules) -> str | None:
    """Why ``url`` may not be a webhook endpoint's address (a sentence for the 422), or None when it may."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters"
    if url != url.strip() or any(ord(c) < 0x21 or c == "\x7f" for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    return _scheme_problem(parts, rules) or _authority_problem(parts, rules)


def _scheme_problem(parts: SplitResult, rules: UrlRules) -> str | None:
    scheme = parts.scheme.lower()
    if scheme == "https" or (scheme == "http" and rules.allow_http):
        return None
    if scheme == "http":
        return "must use https"
    return "must be an https URL (https://host/path)"


def _authority_problem(parts: SplitResult, rules: UrlRules) -> str | None:
    if "@" in parts.netloc:
        return "must not carry a user name or password (userinfo); put credentials in the path or query"
    if parts.fragment:
        return "must not have a fragment (#…): it is never sent"
    host = parts.hostname
    if not host:
        return "must name a host"
    try:
        port = parts.port
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    port = port or _DEFAULT_PORTS[parts.scheme.lower()]
    if port not in rules.allowed_ports:
        allowed = ", ".join(str(p) for p in rules.allowed_ports)
        return f"must use one of the ports {allowed} (port {port} is not allowed)"
    return _host_problem(host, rules)


def _host_problem(host: str, rules: UrlRules) -> str | None:
    address = literal_address(host)
    if address is not None:
        if address.version == 6 and "%" in host:
            return "must not name an IPv6 zone (a link-local address)"
        # The send-time policy itself, so the two never disagree; imported here because addresses.py imports this
        # module for the static rules it re-checks before every send.
        from solomo.webhooks.addresses import refusal

        if refusal(address, allow_loopback=rules.allow_loopback) is not None:
            return f"names the address {host}, which is not a public internet address"
        return None
    name = host.rstrip(".")
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        return "writes an IPv4 address in a form other than four decimal numbers (a.b.c.d)"
    if not rules.allow_loopback and (name == _LOCALHOST[0] or name.endswith(_LOCALHOST[1])):
        return "names localhost, which is not a public internet address"
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return "has a host name that is not a valid DNS name"
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in ascii_name.lower().split(".")):
        return "has a host name that is not a valid DNS name"
    return None


def literal_address(host: str) -> IPAddress | None:
    """The address when ``host`` (as ``urlsplit`` gives it, brackets removed) is an IPv6 literal or a dotted quad."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    if _DOTTED_QUAD.match(host):
        return ipaddress.IPv4Address(host)
    return None
