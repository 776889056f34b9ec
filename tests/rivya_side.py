"""What stands at Rivya's address in tests, in the vocabulary of a server: the request as it
arrived, the reply to write, and the faults a connection can meet. Scripted upstreams are
``Handler``s (a request in, a reply out, or a fault raised); ``Asgi`` is the handler that lets an
ASGI app answer (the simulator, as Rivya). ``tests/memory_link.py`` serves a handler over
in-memory HTTP/1.1 connections under the gateway's one engine.

A fault is what the engine would meet on the wire, not a verdict handed to it: ``AnswerLost``
makes the connection time out (``ETIMEDOUT``) with no answer, ``ConnectionDropped`` resets it;
the engine decides what each means, as it does in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Message, Scope


@dataclass(frozen=True)
class Request:
    """One request as it reached Rivya's side."""

    method: str
    target: str  # the path and query, as sent
    headers: Mapping[str, str]  # names lowercased; repeats joined with ", "
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """An answer to write back (its length is written by the server)."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def json(self) -> Any:
        return orjson.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


def json_reply(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Reply:
    extra = tuple((headers or {}).items())
    return Reply(status, (("content-type", "application/json"), *extra), orjson.dumps(data))


def text_reply(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Reply:
    return Reply(status, (("content-type", content_type),), text.encode())


class AnswerLost(Exception):
    """Raised by a handler: no answer ever comes; the connection times out (``ETIMEDOUT``)."""


class ConnectionDropped(Exception):
    """Raised by a handler: the connection is reset, nothing answered."""


Handler = Callable[[Request], Awaitable[Reply]]


class Asgi:
    """A handler that lets an ASGI app answer: the request handed over as a server would."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, request: Request) -> Reply:
        path, _, query = request.target.partition("?")
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "path": unquote(path),
            "raw_path": path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "root_path": "",
            "headers": list(request.raw_headers),
            "client": ("127.0.0.1", 40000),
            "server": (request.headers.get("host", "rivya.test"), 80),
        }
        given = False
        start: Message = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            # The client is there as long as this runs: the server cancels it when it leaves.
            gone: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
            return await gone

        async def send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        headers = tuple(
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in start.get("headers", [])
        )
        return Reply(start["status"], headers, b"".join(chunks))
