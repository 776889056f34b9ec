"""How the engine reaches Rivya: the seam under the one engine.

The engine (``upstream/http1.py``) opens every connection through a ``Connector`` and does
everything above the byte stream itself: it writes requests, reads answers, keeps connections
alive, and decides what a failed exchange means. In production the connector is the network
(``NetworkConnector``: TCP, TLS with the system's trust or ``RIVYA_CA_FILE``'s, and optionally
an HTTP CONNECT tunnel through ``RIVYA_PROXY_URL``); tests put an in-memory one under the same
engine whose other end is an HTTP/1.1 server (``tests/rivya_side.py``), as httpx's transports
sit under its client. A connector only connects: the first byte of a request is written by the
engine, after ``connect`` has returned, so a connector that fails has sent nothing.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from app.upstream.tunnel import Proxy, open_tunnel


@dataclass(frozen=True)
class Origin:
    """Where Rivya is: ``RIVYA_BASE_URL``'s scheme, host and port."""

    host: str
    port: int
    tls: bool

    @classmethod
    def of(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"RIVYA_BASE_URL must be an http(s) URL, not {base_url!r}")
        tls = parts.scheme == "https"
        return cls(parts.hostname, parts.port or (443 if tls else 80), tls)

    @property
    def authority(self) -> str:
        """``host[:port]``, as a ``Host`` header or a CONNECT line names it."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == (443 if self.tls else 80) else f"{host}:{self.port}"


class Connector(Protocol):
    async def connect(self, protocol: asyncio.Protocol, origin: Origin) -> asyncio.Transport:
        """A connection to ``origin`` carrying ``protocol`` (its ``connection_made`` called),
        ready for a request. Raises ``OSError`` when none could be made: nothing was sent."""
        ...


class NetworkConnector:
    """The network: TCP to the origin (TLS for https), or a CONNECT tunnel through ``proxy``
    with TLS to the origin inside it, so that the proxy sees only the origin's name."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext | None = None, proxy: Proxy | None = None
    ) -> None:
        self._ssl = ssl_context
        self._proxy = proxy

    async def connect(self, protocol: asyncio.Protocol, origin: Origin) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        tls = self._context() if origin.tls else None
        if self._proxy is None:
            transport, _ = await loop.create_connection(
                lambda: protocol,
                origin.host,
                origin.port,
                ssl=tls,
                server_hostname=origin.host if tls else None,
            )
            return transport
        if tls is None:  # settings refuse it; this keeps the rule where the bytes are written
            raise ValueError("a proxy carries only https to Rivya: the key would cross it in clear")
        raw = await open_tunnel(self._proxy, origin.authority)
        try:
            secure = await loop.start_tls(raw, protocol, tls, server_hostname=origin.host)
        except BaseException:
            raw.close()
            raise
        assert secure is not None  # None only for a transport already closing
        protocol.connection_made(secure)  # start_tls hands the protocol over without telling it
        return secure

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:  # made on first use: loading the system's trust store is not free
            self._ssl = ssl.create_default_context()
        return self._ssl
