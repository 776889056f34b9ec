"""Who may call, and how often: team keys and browser tokens resolved to callers, the
origins some team allows, and the per-process bounds on failed and repeated calls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from app.auth.callers import CallerResolver
from app.auth.tokens import TokenSigner
from app.clock import Clock
from app.cors import KnownOrigins
from app.services.limits import AuthFailures, RefusedRequests, TeamRate
from app.services.tokens import TokenService
from app.settings import Settings
from app.wiring.stores import Stores


@dataclass(frozen=True)
class Access:
    callers: CallerResolver
    tokens: TokenService
    known_origins: KnownOrigins
    auth_failures: AuthFailures
    reads: TeamRate


def access(settings: Settings, stores: Stores, clock: Clock) -> Access:
    callers = CallerResolver(
        stores.api_keys,
        stores.teams,
        stores.revocations,
        clock,
        cache_seconds=settings.key_cache_seconds,
        signer=token_signer(settings),
    )
    tokens = TokenService(
        token_signer(settings),
        stores.revocations,
        callers,
        clock,
        team_revocations=TeamRate(
            clock,
            what="revocations",
            per_minute=settings.revocations_per_minute_per_team,
            burst=settings.revocation_burst_per_team,
        ),
    )
    return Access(
        callers=callers,
        tokens=tokens,
        known_origins=KnownOrigins(_every_teams_origins(stores), settings.key_cache_seconds),
        auth_failures=AuthFailures(
            clock, per_minute=settings.auth_failures_per_minute, burst=settings.auth_failure_burst
        ),
        reads=TeamRate(
            clock,
            what="reads",
            per_minute=settings.reads_per_minute_per_team,
            burst=settings.read_burst_per_team,
        ),
    )


def refused_requests(settings: Settings, clock: Clock) -> RefusedRequests:
    """Counted by the middleware (which sees every answer), checked by auth (which knows the
    caller first): one per app."""
    return RefusedRequests(
        clock,
        per_minute=settings.refused_requests_per_minute,
        burst=settings.refused_request_burst,
    )


def _every_teams_origins(stores: Stores) -> Callable[[], Awaitable[list[list[str]]]]:
    async def every_teams_origins() -> list[list[str]]:
        return [team.cors_origins for team in await stores.teams.list()]

    return every_teams_origins


def token_signer(settings: Settings) -> TokenSigner | None:
    secret, previous = settings.gateway_token_secret, settings.gateway_token_previous_secret
    if secret is None or not secret.get_secret_value():
        return None
    return TokenSigner(secret.get_secret_value(), previous.get_secret_value() if previous else None)
