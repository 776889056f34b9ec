"""Where a webhook may point: the rules, without the network (``services/webhook_targets.py``
resolves a target and applies them to every address it finds).

A webhook's URL is a team's to choose, and the gateway POSTs to it from inside the org's
network: without rules it is a way to reach internal services (SSRF). So a target must be https
and reach public addresses only, unless ops list its host in ``WEBHOOK_ALLOWED_HOSTS`` (a
receiver inside the org, or loopback for local use). Cloud metadata addresses are never public.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048

# Reached through link-local or private ranges anyway, but named: the one an attacker wants.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """Why a target may not be called; said to the team as it is."""


# IPv6 forms that carry an IPv4 address to an IPv4 network (NAT64, IPv4-compatible and
# -translated): judged as the IPv4 address would be, so all refused (whichever it embeds).
IPV4_CARRIERS = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96", "::ffff:0:0/96")
)


def address_of(host: str) -> Address | None:
    """The address a URL's host is written as (``[…]`` for IPv6), None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            return is_public(embedded)
        if any(address in carrier for carrier in IPV4_CARRIERS):
            return False
    return address.is_global and address not in METADATA_ADDRESSES and not address.is_multicast


@dataclass(frozen=True)
class TargetPolicy:
    allowed_hosts: frozenset[str]  # lower case, as WEBHOOK_ALLOWED_HOSTS lists them

    def listed(self, host: str) -> bool:
        return host.lower().strip("[]") in self.allowed_hosts

    def check_url(self, url: str) -> SplitResult:
        """The URL's parts if its form is allowed; else ``TargetRefused``. A literal address is
        judged here; a name is judged by what it resolves to, at every delivery."""
        if len(url) > MAX_URL_LENGTH:
            raise TargetRefused(f"The URL is longer than {MAX_URL_LENGTH} characters.")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise TargetRefused(f"The URL is not valid: {exc}.") from None
        host = (parts.hostname or "").lower()
        if parts.scheme not in {"https", "http"} or not host:
            raise TargetRefused("The URL must be an absolute https URL.")
        if not host.isascii():
            raise TargetRefused("Write the URL's host in its ASCII form (punycode: xn--…).")
        if parts.username is not None or parts.password is not None:
            raise TargetRefused("The URL must not carry credentials; sign-in is by signature.")
        if self.listed(host):
            return parts
        if parts.scheme != "https":
            raise TargetRefused(
                "The URL must be https (plain http only to hosts ops list in "
                "WEBHOOK_ALLOWED_HOSTS)."
            )
        if port is not None and not 1 <= port <= 65535:
            raise TargetRefused("The URL's port is not valid.")
        self.check_address(host, literal_only=True)
        return parts

    def check_address(self, host: str, *, literal_only: bool = False) -> None:
        """Refuse ``host`` (an address, or with ``literal_only`` a name, let through) when it is
        not public and not listed."""
        address = address_of(host)
        if address is None:
            if literal_only and host not in {"localhost"} and not host.endswith(".localhost"):
                return
            raise TargetRefused("The URL's host is not at a public address.")
        if not self.listed(host) and not is_public(address):
            raise TargetRefused(
                "The URL's host is not at a public address (private, loopback, link-local and "
                "metadata addresses are refused unless ops list the host in "
                "WEBHOOK_ALLOWED_HOSTS)."
            )
