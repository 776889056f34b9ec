"""The HTTP engine under the Rivya client: aiohttp, directly.

Measured here (bench/README.md): httpx's own pool cost about half of a create's CPU, and httpx
over an aiohttp engine (httpx-aiohttp) still spent a tenth of it in httpx's request and response
models, URL parsing and cookie handling, for one call whose shape never changes. So the
production engine is aiohttp alone (``AiohttpEngine``). Tests give the gateway an httpx
transport instead (the simulator in-process, scripted failures): ``HttpxEngine`` runs those.

An engine's only decision is what a failed exchange means, and for a paid create it is the
difference between "safe to refund" and "Rivya may have made the task":
- never connected (refused, no route, connect timeout): nothing was sent;
- connected, then no answer in time: it may have acted;
- connected, then the connection broke: it may have acted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx

from app.upstream.failures import UpstreamFailure, Why


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Upload:
    """A multipart form: one file part and text fields."""

    field: str
    name: str
    data: bytes
    mime_type: str
    fields: Mapping[str, str]


class Engine(Protocol):
    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        content: bytes | None = None,
        upload: Upload | None = None,
    ) -> Answer:
        """One exchange; a failure is raised as an ``UpstreamFailure`` saying what it means."""
        ...

    async def aclose(self) -> None: ...


def unreachable() -> UpstreamFailure:
    return UpstreamFailure(Why.UNREACHABLE, may_have_acted=False)  # nothing was sent


def timed_out() -> UpstreamFailure:
    return UpstreamFailure(Why.TIMEOUT, may_have_acted=True)  # sent; no answer in time


def connection_lost() -> UpstreamFailure:
    return UpstreamFailure(Why.CONNECTION_LOST, may_have_acted=True)  # sent, then lost


class AiohttpEngine:
    """One long-lived ``aiohttp.ClientSession``: keep-alive pool, no cookies, no redirects, no
    proxy or .netrc from the environment (the org key goes to ``base_url`` and nowhere else)."""

    def __init__(
        self,
        base_url: str,
        default_headers: Mapping[str, str],
        *,
        connect_timeout: float,
        max_connections: int,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections),
            headers=dict(default_headers),
            # The whole answer is bounded by the client's own deadline; this is the connect.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=True,
        )

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        content: bytes | None = None,
        upload: Upload | None = None,
    ) -> Answer:
        data: bytes | aiohttp.FormData | None = content
        if upload is not None:
            form = aiohttp.FormData()
            for name, value in upload.fields.items():
                form.add_field(name, value)
            form.add_field(
                upload.field, upload.data, filename=upload.name, content_type=upload.mime_type
            )
            data = form
        try:
            async with self._session.request(
                method, self._base + path, data=data, headers=headers, allow_redirects=False
            ) as response:
                return Answer(response.status, response.headers, await response.read())
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise unreachable() from exc
        except (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise timed_out() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise connection_lost() from exc

    async def aclose(self) -> None:
        await self._session.close()


class HttpxEngine:
    """Any httpx transport (tests: the simulator in-process, scripted failures)."""

    def __init__(
        self,
        base_url: str,
        default_headers: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=dict(default_headers),
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            transport=transport,
            follow_redirects=False,
        )

    async def send(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        *,
        content: bytes | None = None,
        upload: Upload | None = None,
    ) -> Answer:
        files = data = None
        if upload is not None:
            files = {upload.field: (upload.name, upload.data, upload.mime_type)}
            data = dict(upload.fields)
        try:
            response = await self._http.request(
                method, path, content=content, headers=headers, files=files, data=data
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise unreachable() from exc
        except httpx.TimeoutException as exc:
            raise timed_out() from exc
        except httpx.TransportError as exc:
            raise connection_lost() from exc
        return Answer(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._http.aclose()
