"""The HTTP engines under the Rivya client, and what they answer.

In production the engine is ``upstream/http1.py`` (a small pooled HTTP/1.1 client: measured,
an eighth of aiohttp's CPU per call and a tenth of httpx's). Tests give the gateway an httpx
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
