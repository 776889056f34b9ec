"""Fetching Rivya's result files (its CDN's URLs, not its API): streamed, never whole in memory,
never with the org key, a few redirects at most (never down to plain http), no cookies or
proxies from the environment.

Not the API's engine (``http1.py``): that one speaks small JSON to one origin; a result is a
large binary from whatever host Rivya's URL names, read as a stream. httpx does that well, and
its transport is where tests put the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from app.domain.results import RESULT_TYPES
from app.media import sniff

CHUNK_BYTES = 256 * 1024
GONE_STATUSES = frozenset({403, 404, 410})  # what a CDN answers for a file it no longer has
MAX_REDIRECTS = 3


class DownloadFailed(Exception):
    """A result file could not be fetched: ``lasting`` when fetching it again cannot help
    (Rivya no longer has it, it is not an image, it is larger than a copy may be)."""

    def __init__(self, reason: str, *, lasting: bool) -> None:
        super().__init__(reason)
        self.reason, self.lasting = reason, lasting


@dataclass(frozen=True)
class Download:
    content_type: str  # judged from its first bytes, never from what the server says
    chunks: AsyncIterator[bytes]  # the whole file, the first bytes included


class ResultDownloads:
    def __init__(self, client: httpx.AsyncClient, *, max_bytes: int) -> None:
        self._client, self._max_bytes = client, max_bytes

    @asynccontextmanager
    async def open(self, url: str) -> AsyncIterator[Download]:
        """The file at ``url``, to stream once, following up to ``MAX_REDIRECTS`` redirects (a
        CDN sending to its storage); raises ``DownloadFailed``."""
        try:
            for _ in range(MAX_REDIRECTS + 1):
                async with self._client.stream("GET", url) as answer:
                    if answer.is_redirect:
                        url = _next_hop(url, answer.headers.get("location", ""))
                        continue
                    yield await self._opened(answer)
                    return
            raise DownloadFailed(f"more than {MAX_REDIRECTS} redirects", lasting=True)
        except httpx.HTTPError as exc:
            raise DownloadFailed(
                f"fetching it failed: {type(exc).__name__}", lasting=False
            ) from exc

    async def _opened(self, answer: httpx.Response) -> Download:
        if answer.status_code != 200:
            lasting = answer.status_code in GONE_STATUSES
            raise DownloadFailed(f"Rivya answered {answer.status_code}", lasting=lasting)
        declared = int(answer.headers.get("content-length") or 0)
        if declared > self._max_bytes:
            raise DownloadFailed(_too_large(self._max_bytes), lasting=True)
        chunks = answer.aiter_bytes(CHUNK_BYTES)
        first = await anext(chunks, b"")
        content_type = sniff(first[:16], "image")
        if content_type not in RESULT_TYPES:
            raise DownloadFailed("not a JPEG, PNG or WebP image", lasting=True)
        return Download(content_type, self._bounded(first, chunks))

    async def _bounded(self, first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        seen = len(first)
        yield first
        async for chunk in rest:
            seen += len(chunk)
            if seen > self._max_bytes:
                raise DownloadFailed(_too_large(self._max_bytes), lasting=True)
            yield chunk


def download_client(
    transport: httpx.AsyncBaseTransport | None, *, timeout: float
) -> httpx.AsyncClient:
    """The client result files are fetched with: redirects followed by ``open`` itself (each
    hop checked), nothing from the environment."""
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


def _next_hop(url: str, location: str) -> str:
    """Where a redirect sends: never from https down to plain http, never elsewhere than http(s)."""
    target = urljoin(url, location)
    scheme, was = urlsplit(target).scheme, urlsplit(url).scheme
    if not location or scheme not in {"http", "https"} or (was == "https" and scheme != "https"):
        raise DownloadFailed(f"redirected to {scheme or 'nowhere'}: not followed", lasting=True)
    return target


def _too_large(limit: int) -> str:
    return f"larger than RESULT_MAX_MB ({limit // 1_048_576} MB)"
