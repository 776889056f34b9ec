"""CORS for browser frontends (pure ASGI middleware, inside ``GatewayMiddleware``).

- A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) carries no credential, so
  it is answered for the origins some team allows (cached ``KEY_CACHE_SECONDS``), on the routes
  a browser token may use: 204 with the allowed methods and headers, ``Vary: Origin`` and a
  max-age; any other origin or route gets 403 and no CORS headers.
- Every other answer on those routes to a request with an ``Origin`` carries
  ``Access-Control-Allow-Origin`` when its caller's team allows that origin (``auth/origins.py``
  refuses the request otherwise, with 403 ``origin_not_allowed`` and no CORS headers), or,
  before any team is known (a 401: an expired token), when some team allows it, so the page
  can read why and mint anew.
- Any other route (``/metrics``, ``/readyz``, ``/openapi.json``, ``/admin``, the dashboard)
  never carries CORS headers: a page of another origin cannot read it.
- ``Access-Control-Allow-Credentials`` is never sent: credentials are bearer headers, not
  cookies, and never go with a wildcard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import context
from app.auth.origins import origin_allowed
from app.errors import Forbidden, GatewayError, OriginNotAllowed, StoreUnavailable
from app.middleware import scope_header, send_error
from app.refreshed import Refreshed

BROWSER_PATHS = ("/v1/images", "/v1/files", "/v1/usage", "/api/v1/generations", "/api/v1/files")
ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
EXPOSE_HEADERS = (
    "X-Request-ID, Retry-After, RateLimit, RateLimit-Policy, Idempotent-Replayed, Location"
)
MAX_AGE_SECONDS = 600


class KnownOrigins:
    """Every origin some team allows, read from Redis at most every ``seconds``."""

    def __init__(self, load: Callable[[], Awaitable[list[list[str]]]], seconds: float) -> None:
        async def every_origin() -> list[str]:
            return [origin for team in await load() for origin in team]

        self._origins = Refreshed(every_origin, seconds=max(seconds, 1.0))

    async def allows(self, origin: str) -> bool:
        try:
            origins = await self._origins.get()
        except StoreUnavailable:
            return False  # fail closed: no browser may call while the store is away
        return origin_allowed(origin, origins)


def browser_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in BROWSER_PATHS)


class CorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine of its own: a request from no page (a server's, every create of a
        # backend) goes straight through, with no frame of this middleware to resume at each
        # of its waits.
        origin = scope_header(scope, b"origin")
        if scope["type"] != "http" or origin is None:
            return self.app(scope, receive, send)
        return self._from_a_page(scope, receive, send, origin)

    async def _from_a_page(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        known: KnownOrigins = scope["app"].state.services.known_origins
        if scope["method"] == "OPTIONS" and scope_header(scope, b"access-control-request-method"):
            await self._preflight(scope, send, origin, known)
            return
        if not browser_path(str(scope.get("path", ""))):
            # Ops and admin routes (/metrics, /readyz, /admin, the dashboard, the docs) never
            # answer a page of another origin: only the browser routes carry CORS headers.
            await self.app(scope, receive, send)
            return
        some_team_allows = await known.allows(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                ctx = context.current()
                # The caller's team decided (auth/origins.py) when it is known; before that,
                # any team's allowing the origin lets the page read the error.
                allowed = ctx.origin_allowed if ctx and ctx.team else some_team_allows
                if allowed:
                    headers = list(message.get("headers", []))
                    headers += _cors_headers(origin)
                    headers.append((b"access-control-expose-headers", EXPOSE_HEADERS.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(scope: Scope, send: Send, origin: str, known: KnownOrigins) -> None:
        path = str(scope.get("path", ""))
        allowed = await known.allows(origin)
        if browser_path(path) and allowed:
            headers = [
                *_cors_headers(origin),
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        error: GatewayError = OriginNotAllowed(
            f"Origin {origin!r} may not call the gateway from a browser: an admin adds it to "
            "a team's cors_origins."
        )
        if allowed:  # the origin is fine; the route is not one a browser token may use
            error = Forbidden(
                f"{path!r} is not open to browsers: browser tokens reach the image, file and "
                "usage routes only."
            )
        await send_error(send, error, [(b"vary", b"Origin")])


def _cors_headers(origin: str) -> list[tuple[bytes, bytes]]:
    # The origin itself, never "*": it then varies by Origin, and caches must know.
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"vary", b"Origin"),
    ]
