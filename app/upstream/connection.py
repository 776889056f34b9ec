"""One HTTP/1.1 connection to Rivya, as the engine (``http1.py``) uses it: one request at a time,
its answer read by ``httptools`` (the C parser uvicorn uses): fixed length, chunked, or until the
server closes; interim 1xx answers skipped; at most ``limit`` bytes of body.

It reports facts, not meanings: an answer, or ``Broken`` (the cause, and whether any byte of an
answer had arrived). What a broken exchange means is the engine's to decide.
"""

from __future__ import annotations

import asyncio
import select

import httptools

from app.upstream.exchange import Answer


class Broken(Exception):
    """An exchange that ended without an answer."""

    def __init__(self, cause: BaseException, *, answer_began: bool) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.answer_began = answer_began


class AnswerTooLarge(Exception):
    def __init__(self, status: int, limit: int) -> None:
        super().__init__(f"an answer (HTTP {status}) larger than {limit} bytes")
        self.status, self.limit = status, limit


class Connection(asyncio.Protocol):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[Answer] | None = None
        self._begin()

    def _begin(self) -> None:
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._began = False
        self._until_close = False  # a body without length or chunks: it ends when the server closes

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self._began = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self._until_close and self._pending():
            self._complete()  # the server's close is the end of this answer
            return
        self._fail(exc or ConnectionResetError("the upstream closed the connection"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        length = self._headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            self._fail(AnswerTooLarge(status, self.limit))  # refused before a byte of it is read
            return
        chunked = "chunked" in self._headers.get("transfer-encoding", "").lower()
        self._until_close = status >= 200 and not length and not chunked

    def on_body(self, body: bytes) -> None:
        if not self._pending():
            return
        self._size += len(body)
        if self._size > self.limit:
            self._fail(AnswerTooLarge(self._parser.get_status_code(), self.limit))
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._parser.get_status_code() < 200:
            self._begin()  # an interim answer (1xx): the real one follows
            self._began = True
            return
        if not self._parser.should_keep_alive():
            self.close()
        if self._pending():
            self._complete()

    # the engine's side
    def send(self, request: bytes) -> asyncio.Future[Answer]:
        assert self.transport is not None
        self._begin()
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._answer

    def usable(self) -> bool:
        """Whether an idle connection can carry a request: not closed, and the server's close
        has not arrived unread (an idle connection has nothing to read, so anything readable
        means it is finished). Checked before writing, so a stale one costs nothing sent."""
        if self.closed or self.transport is None or self.transport.is_closing():
            return False
        sock = self.transport.get_extra_info("socket")
        if sock is None:
            return True  # not a socket (tests' in-memory connections report closes at once)
        poll = select.poll()
        poll.register(sock.fileno(), select.POLLIN)
        return not poll.poll(0)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _pending(self) -> bool:
        return self._answer is not None and not self._answer.done()

    def _complete(self) -> None:
        assert self._answer is not None
        status = self._parser.get_status_code()
        self._answer.set_result(Answer(status, self._headers, b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(Broken(exc, answer_began=self._began))
        self.close()
