"""The HTTP engine under the Rivya client: aiohttp, behind httpx's API.

Measured here (bench/README.md) httpx's own pool costs about half of a create's CPU; the
aiohttp engine doubles throughput. But httpx-aiohttp's error mapping is lossy: a refused
connection and a server that hung up *after receiving the request* both come out as
``ConnectTimeout``. For a paid create that difference is the difference between "safe to
refund" and "Rivya may have made the task", so errors are classified again here from the
original aiohttp exception.
"""

from __future__ import annotations

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


class RivyaTransport(AiohttpTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _reclassified(exc, request) from exc.__cause__ or exc


def _reclassified(exc: httpx.TransportError, request: httpx.Request) -> httpx.TransportError:
    cause = exc.__cause__
    message = str(cause or exc)
    if isinstance(cause, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message, request=request)  # never connected: nothing sent
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message, request=request)  # never connected: nothing sent
    if isinstance(cause, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(message, request=request)  # sent; the answer did not come
    if isinstance(cause, aiohttp.ClientError | OSError):
        return httpx.RemoteProtocolError(message, request=request)  # sent, then lost
    exc.request = request
    return exc


def create_transport(max_connections: int) -> RivyaTransport:
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections
    )
    return RivyaTransport(limits=limits)
