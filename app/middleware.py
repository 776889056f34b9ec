"""Pure ASGI middleware: request id, body size cap, one JSON access-log line per request, and a
last-resort 500 in the contract's envelope that never leaks internals."""

from __future__ import annotations

import json
import logging
import re
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import context
from app.errors import GatewayError, PayloadTooLarge, RateLimited
from app.logging import info_fields
from app.metrics import Metrics, Series
from app.rivya_schemas import error_envelope
from app.services.answered import Tallies
from app.services.limits import RefusedRequests

access_log = logging.getLogger("app.access")
error_log = logging.getLogger("app.error")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body parsing lets it through to
    the error handlers instead of wrapping it into a generic 400."""

    def __init__(self, limit: int, *, upload: bool = False) -> None:
        if upload:
            message = (
                f"The upload is larger than {limit} bytes; a file may be at most "
                f"{limit // 1_048_576} MiB (the catalogue's largest), with its form fields."
            )
        else:
            message = f"The JSON body is larger than {limit} bytes (MAX_BODY_BYTES)."
        super().__init__(413, message)


class _TooManyBodies(HTTPException):
    def __init__(self) -> None:
        super().__init__(
            429,
            "This gateway is receiving too many request bodies at once; retry in a second.",
            headers={"Retry-After": "1"},
        )


class HeldBodies:
    """Bytes of request bodies this process holds: received for a request not yet answered.
    Each body is capped (MAX_BODY_BYTES, or an upload's), but not how many arrive at once: past
    ``limit`` in all, a request whose body would add to them is refused (429) as its bytes
    arrive, so bodies never take more of the process than that."""

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0


class GatewayMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        upload_paths: frozenset[str] = frozenset(),
        max_upload_bytes: int = 0,
        metrics: Metrics | None = None,
        refusals: RefusedRequests | None = None,
        tallies: Tallies | None = None,
        bodies: HeldBodies | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.refusals = refusals
        self.tallies = tallies
        self.bodies = bodies or HeldBodies(1 << 62)
        self.max_body_bytes = max_body_bytes
        self.upload_paths = upload_paths
        self.max_upload_bytes = max(max_upload_bytes, max_body_bytes)
        if metrics is not None:
            self._requests = Series(metrics.requests)
            self._latency = metrics.request_seconds.labels
            self._stages = metrics.create_stage_seconds.labels

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # The gateway's own id, always: a caller could otherwise reuse another request's id and
        # blur the logs. The caller's id, if well formed, is logged beside it.
        ctx = context.open_context(context.new_request_id())
        answer = _Answer(send, ctx.request_id)
        declared = scope_header(scope, b"content-length")
        upload = route_path(scope) in self.upload_paths
        limit = self.max_upload_bytes if upload else self.max_body_bytes
        capped = _CappedBody(receive, limit, upload, self.bodies)
        try:
            if declared and declared.isdigit() and int(declared) > limit:
                raise _BodyTooLarge(limit, upload=upload)
            await self.app(scope, capped.receive, answer.send)
        except _BodyTooLarge as exc:
            await answer.error(PayloadTooLarge(str(exc.detail)))
        except _TooManyBodies as exc:
            await answer.error(RateLimited(str(exc.detail)), [(b"retry-after", b"1")])
        except Exception:
            error_log.exception("unhandled error", extra={"request_id": ctx.request_id})
            await answer.error(GatewayError())
        finally:
            capped.release()
            self._answered(scope, ctx, answer.status, time.perf_counter() - started)

    def _answered(
        self, scope: Scope, ctx: context.RequestContext, status: int, seconds: float
    ) -> None:
        """The request is over: count it, tell the refusal limits, tally a refusal, keep its
        record, and log its one line."""
        template: str | None = getattr(scope.get("route"), "path", None)
        if self.metrics is not None:
            self._count(template or "unmatched", ctx.team or "", status, seconds)
            if ctx.stages:
                self._time_stages(ctx.stages, seconds)
        if self.refusals is not None:
            self.refusals.answered(status, ctx.team, ctx.subject)
        if self.tallies is not None:  # every refusal counted, the request kept for lookup
            self.tallies.refusals.answered(ctx, status)
            self.tallies.records.answered(ctx, scope.get("method", ""), template, status, seconds)
            self.tallies.key_uses.answered(ctx)
        incoming = scope_header(scope, b"x-request-id")
        client_id = incoming if incoming and _SAFE_REQUEST_ID.fullmatch(incoming) else None
        info_fields(
            access_log,
            "request",
            {
                "request_id": ctx.request_id,
                "client_x_request_id": client_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "route": template,
                "status": status,
                "error_code": ctx.error_code,
                "latency_ms": round(seconds * 1000, 2),
                "team": ctx.team,
                "key_id": ctx.key_id,
                "subject": ctx.subject,
                "task_id": ctx.task_id,
                "credits_reserved": ctx.credits,
                "upstream_request_id": ctx.upstream_request_id,
            },
        )

    def _count(self, template: str, team: str, status: int, seconds: float) -> None:
        self._requests(template, team, str(status)).inc()
        self._latency(template).observe(seconds)

    def _time_stages(self, stages: dict[str, float], seconds: float) -> None:
        """A create's waits by stage, and the rest as the gateway's own."""
        for stage, waited in stages.items():
            self._stages(stage).observe(waited)
        self._stages("gateway").observe(max(seconds - sum(stages.values()), 0.0))


class _Answer:
    """The response on its way out: every start carries this request's id (replacing any the
    app set), and its status is kept for the log line."""

    def __init__(self, send: Send, request_id: str) -> None:
        self._send, self._request_id = send, request_id
        self.status = 500  # what the log says if no response ever starts
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
            headers.append((b"x-request-id", self._request_id.encode()))
            message = {**message, "headers": headers}
        await self._send(message)

    async def error(
        self, error: GatewayError, extra_headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        """Answer the error, unless a response has begun: then it is too late to replace it."""
        if not self.started:
            await send_error(self.send, error, extra_headers)


class _CappedBody:
    """The request's ``receive``, counting body bytes as they arrive: a body with no
    Content-Length is cut off at its limit too, however large, and never buffered past it; and
    every byte counts against the process's ``HeldBodies`` until the request is answered."""

    def __init__(self, receive: Receive, limit: int, upload: bool, bodies: HeldBodies) -> None:
        self._receive, self._limit, self._upload, self._bodies = receive, limit, upload, bodies
        self._seen = 0

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            size = len(message.get("body", b""))
            if self._seen + size > self._limit:
                raise _BodyTooLarge(self._limit, upload=self._upload)
            if size and self._bodies.held + size > self._bodies.limit:
                raise _TooManyBodies()
            self._seen += size
            self._bodies.held += size
        return message

    def release(self) -> None:
        self._bodies.held -= self._seen
        self._seen = 0


async def send_error(
    send: Send, error: GatewayError, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """An error in the contract's envelope, straight from ASGI middleware."""
    body = json.dumps(
        error_envelope(error.code, error.message, context.current_request_id()),
        separators=(",", ":"),  # as every other answer
    ).encode()
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def route_path(scope: Scope) -> str:
    """The request's path below any root path it is served under (uvicorn --root-path)."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :]
    return path


def scope_header(scope: Scope, name: bytes) -> str | None:
    """A request header (the first, if repeated), from a map made once per request."""
    headers: dict[bytes, bytes] | None = scope.get(_HEADER_MAP)
    if headers is None:
        headers = {}
        for key, value in scope.get("headers", ()):
            headers.setdefault(key, value)
        scope[_HEADER_MAP] = headers
    value = headers.get(name)
    return None if value is None else value.decode("latin-1")


_HEADER_MAP = "gateway.headers"  # where scope_header keeps its map in the request's scope
