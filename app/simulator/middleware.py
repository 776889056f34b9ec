"""Pure ASGI middleware: request ids, the request log, fault injection, and a last-resort 500.

It wraps every route. The app's answer is buffered, so faults that act after the route ran
(a hang before answering, a garbage body) can still replace or delay it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.utils import formatdate

import anyio
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.asgi_body import read_body
from app.simulator.errors import SimError, new_request_id
from app.simulator.faults import ErrorFault
from app.simulator.requestlog import RequestRecord, headers_dict, parse_body
from app.simulator.state import SimState

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
CONTROL_PREFIX = "/_sim"
# A task that breaks off into a proxy's error page: a client must not trust a 200 blindly.
MALFORMED_BODY = b'{"id": "task_<html><head><title>502 Bad Gateway</title></head></html>'
# What a CDN or load balancer in front of Rivya answers during an incident or a deploy.
EDGE_PAGE = (
    "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center>"
    "<hr><center>upstream connect error or disconnect/reset before headers</center></body></html>"
)


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    @classmethod
    def of(cls, response: Response) -> Reply:
        return cls(response.status_code, list(response.raw_headers), bytes(response.body))

    async def send(self, send: Send, request_id: str, date: str) -> None:
        # Always the simulator's own id, even when the caller sent an X-Request-ID; and its own
        # Date (Rivya's clock: the reconciliation places task times against a balance's).
        headers = [(k, v) for k, v in self.headers if k.lower() not in (b"x-request-id", b"date")]
        headers.append((b"x-request-id", request_id.encode()))
        headers.append((b"date", date.encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


class SimulatorMiddleware:
    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        body = await read_body(receive)
        if body is None:
            return  # the client left before sending its body: nothing to answer
        path: str = scope["path"]
        record = None
        if _under(path, API_PREFIX):
            record = self._log(scope, body, request_id)
            scope["state"]["sim_record"] = record
        reply = await self._answer(scope, _replay(body, receive), receive, request_id)
        if reply is None:
            return
        if record is not None:
            record.status = reply.status
        await reply.send(send, request_id, formatdate(self.state.clock.now(), usegmt=True))

    async def _answer(
        self, scope: Scope, replay: Receive, receive: Receive, request_id: str
    ) -> Reply | None:
        path: str = scope["path"]
        if _under(path, CONTROL_PREFIX):
            return await self._run_app(scope, replay, request_id)  # controls are never faulted
        faults = self.state.faults
        if _under(path, API_PREFIX) and faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)  # real time: client timeouts are real
        error = faults.take_error(path, scope["method"])
        if error is not None:
            if error.after:  # Rivya acted; what stands in front of it lost the answer
                await self._run_app(scope, replay, request_id)
            return _error_reply(error, request_id)
        hang = faults.take_hang(path)
        if hang is not None and hang.mode == "before":
            await asyncio.sleep(hang.seconds)
            if await _client_gone(receive):
                return None  # the caller gave up while we "hung": Rivya never acted
        reply = await self._run_app(scope, replay, request_id)
        if hang is not None and hang.mode == "after":
            await asyncio.sleep(hang.seconds)  # acted, but the answer is late (or lost)
        if faults.take_malformed(path):
            return Reply(200, [(b"content-type", b"application/json")], MALFORMED_BODY)
        return reply

    async def _run_app(self, scope: Scope, receive: Receive, request_id: str) -> Reply:
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, capture)
        except Exception:
            # Starlette would answer and then re-raise; Rivya answers its envelope, full stop.
            logger.exception("simulator route failed (request %s)", request_id)
            return Reply.of(SimError("internal_error", 500).response(request_id))
        if start is None:
            return Reply.of(SimError("internal_error", 500).response(request_id))
        return Reply(start["status"], list(start.get("headers", [])), b"".join(chunks))

    def _log(self, scope: Scope, body: bytes, request_id: str) -> RequestRecord:
        headers = headers_dict(list(scope.get("headers", [])))
        query = scope.get("query_string", b"").decode("latin-1")
        record = RequestRecord(
            method=scope["method"],
            path=scope["path"],
            query=query,
            headers=headers,
            body=parse_body(body, headers.get("content-type", "")),
            time=self.state.clock.now(),
            request_id=request_id,
        )
        return self.state.log_request(record)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _error_reply(error: ErrorFault, request_id: str) -> Reply:
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    if error.source == "edge":
        page = EDGE_PAGE.format(status=error.status).encode()
        raw = [(b"content-type", b"text/html"), (b"server", b"edge")]
        raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        return Reply(error.status, raw, page)
    return Reply.of(SimError(error.code, error.status, headers=headers).response(request_id))


def _replay(body: bytes, receive: Receive) -> Receive:
    """Give the app the body we already read, then the real channel (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _client_gone(receive: Receive) -> bool:
    """Whether the client has disconnected, without waiting (as Starlette checks it)."""
    message: Message = {}
    with anyio.CancelScope() as cancel_scope:
        cancel_scope.cancel()
        message = await receive()
    return message.get("type") == "http.disconnect"
