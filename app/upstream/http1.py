"""The production engine under the Rivya client: a small pooled HTTP/1.1 client.

Measured here (bench/README.md), one POST through aiohttp cost ~340 µs of CPU and through this
engine ~40 µs: aiohttp's generality (tracing, cookies, redirects, proxies, payload registry)
was the largest single cost of a create. Rivya is one host answering small JSON, so this is all
the gateway needs: keep-alive connections to that one origin (TLS for https), requests written
in one piece, and answers read by ``httptools`` (the C parser uvicorn uses).

What a failed exchange means is decided here, once, for a paid create:
- never connected (refused, no route, TLS handshake failed, connect timeout): nothing was sent;
- connected and sent, then the connection broke or the answer was malformed: it may have acted;
- cancelled (the client's overall deadline): the connection is dropped, never reused with half an
  answer in it; the client reports the timeout (it may have acted).
No cookies, no redirects, no proxy or .netrc from the environment: the org key goes to the base
URL's origin and nowhere else.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

import httptools

from app.upstream.transport import Answer, Upload, connection_lost, unreachable

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # Rivya answers small JSON; more is a broken upstream


class _Exchange(asyncio.Protocol):
    """One connection; one request at a time on it."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.answer: asyncio.Future[Answer] | None = None
        self.closed = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._name = ""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.answer is None or self.answer.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the upstream closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_ANSWER_BYTES:
            self._fail(ValueError(f"an answer larger than {MAX_ANSWER_BYTES} bytes"))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            self._headers, self._body, self._size = {}, [], 0
            return  # an interim answer (1xx): the real one follows
        if not self.parser.should_keep_alive():
            self.close()
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(Answer(status, self._headers, b"".join(self._body)))

    # the engine's side
    def send(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self._headers, self._body, self._size = {}, [], 0
        self.answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self.answer

    def _fail(self, exc: BaseException) -> None:
        if self.answer is not None and not self.answer.done():
            failure = connection_lost()
            failure.__cause__ = exc
            self.answer.set_exception(failure)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Engine:
    def __init__(
        self,
        base_url: str,
        default_headers: Mapping[str, str],
        *,
        connect_timeout: float,
        max_connections: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"RIVYA_BASE_URL must be an http(s) URL, not {base_url!r}")
        self._host = parts.hostname
        self._tls = parts.scheme == "https"
        self._port = parts.port or (443 if self._tls else 80)
        self._ssl = (ssl_context or ssl.create_default_context()) if self._tls else None
        self._prefix = parts.path
        default_port = self._port == (443 if self._tls else 80)
        host = self._host if default_port else f"{self._host}:{self._port}"
        fixed = {"Host": host, **default_headers}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self._connect_timeout = connect_timeout
        self._idle: deque[_Exchange] = deque()
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
        extra = dict(headers)
        if upload is not None:
            content, extra["Content-Type"] = _multipart(upload)
        body = content or b""
        lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        request = b"".join(
            (
                f"{method} {self._prefix}{path} HTTP/1.1\r\n".encode("latin-1"),
                self._fixed,
                lines.encode("latin-1"),
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        async with self._slots:
            exchange = await self._connection()
            try:
                answer = await exchange.send(request)
            except BaseException:
                exchange.close()  # cancelled or broken mid-exchange: never reused
                raise
            if not exchange.closed:
                self._idle.append(exchange)
            return answer

    async def _connection(self) -> _Exchange:
        while self._idle:
            exchange = self._idle.pop()  # the most recently used: the least likely to be stale
            if not exchange.closed:
                return exchange
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, exchange = await loop.create_connection(
                    _Exchange,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._tls else None,
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            raise unreachable() from exc
        return exchange

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()


def _multipart(upload: Upload) -> tuple[bytes, str]:
    boundary = "rivya-gateway-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in upload.fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(name)}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{_quoted(upload.field)}"; '
        f'filename="{_quoted(upload.name)}"\r\nContent-Type: {upload.mime_type}\r\n\r\n'.encode()
    )
    parts.append(upload.data + f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _quoted(text: str) -> str:
    # As browsers and httpx write form names (WHATWG): quotes and line breaks percent-encoded.
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
