"""Resolving a webhook's target before each delivery, by the rules of
``domain/webhook_targets.py``: every address its name resolves to must be allowed, and the
delivery connects to the address checked (the name is kept for the Host header and TLS), so a
name that resolves elsewhere a moment later (DNS rebinding) reaches nothing it was not checked
for."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlunsplit

from app.domain.webhook_targets import TargetPolicy, TargetRefused, address_of

Resolver = Callable[[str, int], Awaitable[list[str]]]
RESOLVE_SECONDS = 2.0


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class Target:
    url: str  # what is connected to: the checked address in place of the name
    host: str | None = None  # the Host header, when the URL names an address in its place
    sni: str | None = None  # the name TLS checks the certificate against


class Targets:
    def __init__(self, policy: TargetPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy, self._resolver = policy, resolver

    async def resolve(self, url: str) -> Target:
        """Where to send a delivery for ``url``; ``TargetRefused`` if it may not be called."""
        parts = self.policy.check_url(url)
        host = parts.hostname or ""
        if self.policy.listed(host) or address_of(host) is not None:
            return Target(url)  # listed: trusted as named; an address: judged by check_url
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await asyncio.wait_for(self._resolver(host, port), RESOLVE_SECONDS)
        except (OSError, TimeoutError):
            raise TargetRefused(f"{host} does not resolve.") from None
        if not addresses:
            raise TargetRefused(f"{host} does not resolve.")
        for address in addresses:
            self.policy.check_address(address)
        pinned = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
        netloc = f"{pinned}:{parts.port}" if parts.port else pinned
        return Target(urlunsplit(parts._replace(netloc=netloc)), host=parts.netloc, sni=host)
