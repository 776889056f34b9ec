"""The two create routes, served in front of FastAPI (issues 13 and 26: a create must cost
little more than a bare proxy hop).

``POST /v1/images`` and ``POST /api/v1/generations`` are most of the gateway's traffic, and
FastAPI's routing, dependency solving and its own middleware (server errors, telemetry, body
limit: five layers a message passes through) cost more CPU per create than the whole policy
does (bench/README.md). ``GatewayApp`` (``app/factory.py``) hands exactly those two (method,
path) pairs to the gateway's own middleware (request id, body cap, access log, metrics, CORS)
over ``CreateRoutes``, and everything else to FastAPI, whose stack has the same middleware.

Nothing about a create is decided here: auth is ``deps.resolve_team_caller`` and the handlers
are ``api/images.py``'s and ``api/compat.py``'s. FastAPI's declarations of the two routes only
document them (the OpenAPI document, from the same catalogue and dependencies); their bodies
never run, and say so if they ever do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.asgi_body import read_body
from app.auth.callers import Caller
from app.deps import WaitSeconds, resolve_team_caller, result_linker
from app.domain.tasks import ResultLink
from app.errors import GatewayError, ValidationFailed, field_errors
from app.handlers import error_response, upstream_error_response
from app.middleware import route_path, scope_header
from app.upstream.failures import UpstreamFailure
from app.wiring.services import Services


@dataclass(frozen=True)
class CreateCall:
    """A create as its handler needs it, however it was routed."""

    caller: Caller
    services: Services
    body: bytes
    idempotency_key: str | None
    link: ResultLink  # to the result files of the task it answers with
    wait: float = 0


CreateHandler = Callable[[CreateCall], Awaitable[Response]]

_wait_seconds: TypeAdapter[float] = TypeAdapter(WaitSeconds)  # FastAPI's own declaration


@dataclass(frozen=True)
class CreateRoute:
    route: APIRoute  # FastAPI's declaration of the same operation (its path labels metrics)
    handle: CreateHandler
    takes_wait: bool  # the query's ?wait= (POST /v1/images only)


CREATE_ROUTE = "gateway.create_route"  # where ``take`` notes a create's route in its scope


class CreateRoutes:
    """The ASGI app of the create routes: ``GatewayApp`` sends it only what ``take`` takes.
    Not a middleware, though it stands where one would: it has nothing to pass on."""

    def __init__(self, routes: Mapping[str, CreateRoute]) -> None:
        self._routes = dict(routes)

    def take(self, scope: Scope) -> bool:
        """Whether the request is a create; if so, its route is noted in its scope."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        fast = self._routes.get(route_path(scope))
        if fast is None:
            return False
        scope[CREATE_ROUTE], scope["route"] = fast, fast.route  # FastAPI's labels the metrics
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast: CreateRoute = scope[CREATE_ROUTE]
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
            body = await read_body(receive)
            if body is None:
                return  # the client went away mid-body: nobody to answer
            key = scope_header(scope, b"idempotency-key")
            link = result_linker(services, scope)
            call = CreateCall(caller, services, body, key, link, wait)
            response = await fast.handle(call)
        except GatewayError as error:
            response = error_response(error)
        except UpstreamFailure as failure:
            response = upstream_error_response(failure)
        await response(scope, receive, send)


def documented_only(path: str) -> RuntimeError:
    """What a declaration of a create route raises if it is ever run: ``CreateRoutes`` serves
    the path before FastAPI's router could."""
    return RuntimeError(f"POST {path} is served by api/create_routes.py, not by this route")


def _wait(scope: Scope) -> float:
    values = [v for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k == "wait"]
    if not values:
        return 0.0
    try:
        return _wait_seconds.validate_python(values[-1])  # the last, as Starlette reads it
    except ValidationError as invalid:
        errors = [{**e, "loc": ("query", "wait")} for e in invalid.errors()]
        raise ValidationFailed(details=field_errors(errors)) from None
