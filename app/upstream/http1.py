"""The one engine under the Rivya client: a small pooled HTTP/1.1 client, in production and in
every test alike (tests change only the connector under it: ``upstream/connect.py``).

Measured (``bench/engines.py``, bench/README.md), one POST costs this engine 16-43 µs of CPU,
aiohttp 3.5-4.3 times that and httpx 14-84 times: their generality (tracing, cookies,
redirects, proxies from the environment, payload registries, httpcore's pool) was the largest
single cost of a create.
Rivya is one origin answering small JSON, so this is all the gateway needs: keep-alive
connections to that origin, requests written in one piece, answers read by
``upstream/connection.py``.

What a failed exchange means is decided here, once, for a paid create (``exchange.py`` names it):
- the connector failed (refused, no route, TLS handshake, the proxy's refusal, connect timeout):
  nothing was sent;
- sent, then the connection timed out (``ETIMEDOUT``): no answer in time, it may have acted;
- sent, then the connection broke or the answer was malformed: it may have acted;
- an answer larger than ``MAX_ANSWER_BYTES``: unread, it may have acted;
- cancelled (the client's overall deadline): the connection is dropped, never reused with half
  an answer in it; the client reports the timeout (it may have acted).
A keep-alive connection the server has closed is never written to when its close has arrived
(``Connection.usable``); when the close crosses the request on the wire, nothing proves the
request unread, so only a read (GET) is sent again, on a fresh connection; a create is reported
as it is (sent, then lost), and the client's retry resends it with the same Idempotency-Key.
No cookies, no redirects, no proxy or .netrc from the environment: the org key goes to the
base URL's origin (through ``RIVYA_PROXY_URL``'s tunnel only, encrypted) and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

from app.upstream.connect import Connector, NetworkConnector, Origin
from app.upstream.connection import AnswerTooLarge, Broken, Connection
from app.upstream.exchange import (
    Answer,
    Upload,
    connection_lost,
    timed_out,
    too_large,
    unreachable,
)
from app.upstream.failures import UpstreamFailure

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # Rivya answers small JSON; more is a broken upstream
_READS = frozenset({"GET", "HEAD"})  # change nothing at Rivya: safe to send twice


class Http1Engine:
    def __init__(
        self,
        base_url: str,
        default_headers: Mapping[str, str],
        *,
        connect_timeout: float,
        max_connections: int,
        connector: Connector | None = None,
    ) -> None:
        self._origin = Origin.of(base_url)
        self._prefix = urlsplit(base_url.rstrip("/")).path
        fixed = {"Host": self._origin.authority, **default_headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._connector: Connector = connector or NetworkConnector()
        self._connect_timeout = connect_timeout
        self._idle: deque[Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)

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
        request = self._request(method, path, headers, content, upload)
        async with self._slots:
            connection, reused = await self._connection()
            try:
                return await self._exchange(connection, request)
            except Broken as broken:
                if not (reused and method in _READS and _closed_while_idle(broken)):
                    raise _meaning(broken) from broken.cause
            # A stale keep-alive connection: the server closed it as the read crossed it.
            try:
                return await self._exchange(await self._open(), request)
            except Broken as broken:
                raise _meaning(broken) from broken.cause

    def _request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        content: bytes | None,
        upload: Upload | None,
    ) -> bytes:
        extra = dict(headers)
        if upload is not None:
            content, extra["Content-Type"] = upload.encoded()
        body = content or b""
        lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        return b"".join(
            (
                f"{method} {self._prefix}{path} HTTP/1.1\r\n".encode("latin-1"),
                self._fixed,
                lines.encode("latin-1"),
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )

    async def _exchange(self, connection: Connection, request: bytes) -> Answer:
        try:
            answer = await connection.send(request)
        except BaseException:
            connection.close()  # cancelled or broken mid-exchange: never reused
            raise
        if not connection.closed:
            self._idle.append(connection)
        return answer

    async def _connection(self) -> tuple[Connection, bool]:
        """An idle connection that can carry a request (and True), or a new one (and False)."""
        while self._idle:
            connection = self._idle.pop()  # the most recently used: the least likely stale
            if connection.usable():
                return connection, True
            connection.close()
        return await self._open(), False

    async def _open(self) -> Connection:
        connection = Connection(MAX_ANSWER_BYTES)
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._connector.connect(connection, self._origin)
        except OSError as exc:  # TimeoutError, ssl.SSLError and a proxy's refusal included
            connection.close()
            raise unreachable() from exc
        return connection

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _closed_while_idle(broken: Broken) -> bool:
    """The server closed the connection before a byte of an answer: what a keep-alive
    connection closed while idle looks like when the close crosses the request."""
    return not broken.answer_began and not isinstance(broken.cause, TimeoutError)


def _meaning(broken: Broken) -> UpstreamFailure:
    """What an exchange that broke after the request was written means."""
    cause = broken.cause
    if isinstance(cause, AnswerTooLarge):
        return too_large(cause.status, cause.limit)
    if isinstance(cause, TimeoutError):
        return timed_out()  # the connection timed out (ETIMEDOUT): no answer in time
    return connection_lost()
