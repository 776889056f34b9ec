"""The two create routes, served in front of FastAPI's router (issue 13: a create must cost
little more than a bare proxy hop).

``POST /v1/images`` and ``POST /api/v1/generations`` are most of the gateway's traffic, and
FastAPI's own layers (its middleware, routing and dependency solving) cost more CPU per create
than the whole policy does (bench/README.md). So ``FastRoutes`` (put in front of FastAPI's
stack by ``factory.create_app``) sends exactly those two (method, path) pairs here, inside the
gateway's own middleware (request id, body cap, access log, metrics, CORS), and everything else
to FastAPI as before.

Nothing about a create is decided here: auth is ``deps.resolve_team_caller`` and the routes'
handlers are ``api/images.py`` and ``api/compat.py``, the very functions FastAPI's routes for
those paths call, so the OpenAPI document, validation (the catalogue) and every answer stay one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.callers import Caller
from app.container import Services
from app.deps import WaitSeconds, resolve_team_caller
from app.errors import GatewayError, ValidationFailed, field_errors
from app.handlers import error_response, upstream_error_response
from app.middleware import route_path, scope_header
from app.upstream.failures import UpstreamFailure


@dataclass(frozen=True)
class CreateCall:
    """A create as its handler needs it, however it was routed."""

    caller: Caller
    services: Services
    body: bytes
    idempotency_key: str | None
    wait: float = 0


CreateHandler = Callable[[CreateCall], Awaitable[Response]]

_wait_seconds: TypeAdapter[float] = TypeAdapter(WaitSeconds)  # FastAPI's own declaration


@dataclass(frozen=True)
class FastRoute:
    route: APIRoute  # FastAPI's declaration of the same operation (its path labels metrics)
    handle: CreateHandler
    takes_wait: bool  # the query's ?wait= (POST /v1/images only)


class FastCreates:
    """ASGI: answers the fast routes; ``FastRoutes`` only sends it requests they match."""

    def __init__(self, routes: Mapping[str, FastRoute]) -> None:
        self._routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self._routes[route_path(scope)]
        scope["route"] = fast.route
        services: Services = scope["app"].state.services
        try:
            # In FastAPI's order: the credential first, then the query, then the body.
            client = scope.get("client")
            caller = await resolve_team_caller(
                services,
                scope_header(scope, b"authorization"),
                scope_header(scope, b"origin"),
                client[0] if client else None,
            )
            wait = _wait(scope) if fast.takes_wait else 0.0
            body = await _body(receive)
            if body is None:
                return  # the client went away mid-body: nobody to answer
            key = scope_header(scope, b"idempotency-key")
            call = CreateCall(caller, services, body, key, wait)
            response = await fast.handle(call)
        except GatewayError as error:
            response = error_response(error)
        except UpstreamFailure as failure:
            response = upstream_error_response(failure)
        await response(scope, receive, send)


def _wait(scope: Scope) -> float:
    values = [v for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k == "wait"]
    if not values:
        return 0.0
    try:
        return _wait_seconds.validate_python(values[-1])  # the last, as Starlette reads it
    except ValidationError as invalid:
        errors = [{**e, "loc": ("query", "wait")} for e in invalid.errors()]
        raise ValidationFailed(details=field_errors(errors)) from None


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FastRoutes:
    """ASGI: the fast routes' (method, path) pairs to ``fast``, everything else to ``rest``."""

    def __init__(self, fast: ASGIApp, rest: ASGIApp, paths: frozenset[str]) -> None:
        self._fast, self._rest, self._paths = fast, rest, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and route_path(scope) in self._paths
        ):
            await self._fast(scope, receive, send)
        else:
            await self._rest(scope, receive, send)
