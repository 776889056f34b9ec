"""An HTTP CONNECT tunnel through the organisation's egress proxy (``RIVYA_PROXY_URL``).

The proxy is told only where to connect (``CONNECT rivya.ai:443``) and, when the proxy URL
carries a user and password, its own credentials (``Proxy-Authorization``). TLS to Rivya is
then negotiated through the tunnel (``connect.py``), so the org key, the paths and the bodies
cross the proxy encrypted, and Rivya's certificate is checked as without a proxy. No proxy is
read from the environment (``HTTPS_PROXY``): only this explicit setting sends traffic there.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_HEAD_BYTES = 16 * 1024  # a proxy's answer to CONNECT is a status line and a few headers


class TunnelRefused(ConnectionError):
    """The proxy did not open the tunnel (it answered CONNECT with other than 2xx)."""


@dataclass(frozen=True)
class Proxy:
    host: str
    port: int
    authorization: str | None = None  # "Basic …" from the URL's user:password

    @classmethod
    def from_url(cls, url: str) -> Proxy:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError("RIVYA_PROXY_URL must be http://[user:password@]host:port")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(parts.hostname, parts.port or 80, authorization)


async def open_tunnel(proxy: Proxy, authority: str) -> asyncio.Transport:
    """A connection through ``proxy`` to ``authority`` (``host:port``), nothing of ours sent
    through it yet. Raises ``OSError`` (``TunnelRefused`` for the proxy's "no")."""
    loop = asyncio.get_running_loop()
    transport, handshake = await loop.create_connection(_Handshake, proxy.host, proxy.port)
    try:
        head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if proxy.authorization:
            head += f"Proxy-Authorization: {proxy.authorization}\r\n"
        transport.write(f"{head}\r\n".encode("latin-1"))
        await handshake.opened
    except BaseException:
        transport.close()
        raise
    return transport


class _Handshake(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT; the tunnel is open once it is a 2xx."""

    def __init__(self) -> None:
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._head = b""

    def data_received(self, data: bytes) -> None:
        if self.opened.done():
            return  # the origin speaks only after our TLS hello: nothing should come here
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self.opened.set_exception(
                    TunnelRefused("the proxy's answer to CONNECT is too long")
                )
            return
        status_line = self._head.split(b"\r\n", 1)[0].decode("latin-1")
        fields = status_line.split(" ", 2)
        if len(fields) < 2 or not fields[1].startswith("2") or len(self._head) > end + 4:
            self.opened.set_exception(
                TunnelRefused(f"the proxy answered CONNECT with {status_line!r}")
            )
            return
        self.opened.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(
                exc or ConnectionResetError("the proxy closed the connection during CONNECT")
            )
