"""Minting and revoking browser tokens (``POST /v1/tokens``, ``POST /v1/tokens/revoke`` and the
admin route): a team's backend gives each end user a short-lived token instead of its key."""

from __future__ import annotations

from typing import Any

from app.auth.callers import Caller, CallerResolver
from app.auth.tokens import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, TokenSigner
from app.clock import Clock, iso_timestamp
from app.domain.teams import Team
from app.errors import Forbidden, GatewayError, RateLimited
from app.services.limits import TeamRate
from app.store.tokens import MAX_REVOCATIONS, TokenRevocationStore, TooManyRevocations


class TokensDisabled(GatewayError):
    code, status, default_message = (
        "forbidden",
        403,
        "Browser tokens are not enabled on this gateway: set GATEWAY_TOKEN_SECRET.",
    )


class TokenService:
    def __init__(
        self,
        signer: TokenSigner | None,
        revocations: TokenRevocationStore,
        callers: CallerResolver,
        clock: Clock,
        *,
        team_revocations: TeamRate,
    ) -> None:
        self._signer, self._revocations = signer, revocations
        self._callers, self._clock = callers, clock
        self._team_revocations = team_revocations

    async def mint(
        self,
        caller: Caller,
        *,
        subject: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        max_credits: int | None = None,
    ) -> dict[str, Any]:
        if caller.token is not None:
            raise Forbidden("A browser token may not mint tokens: use the team's key.")
        if self._signer is None:
            raise TokensDisabled()
        team = caller.team
        token, claims = self._signer.mint(
            team=team.id,
            generation=team.generation or "",
            subject=subject,
            key_id=caller.key_id,
            now=self._clock.now(),
            ttl_seconds=ttl_seconds,
            max_credits=max_credits,
        )
        return {
            "token": token,
            "token_id": claims.token_id,
            "subject": subject,
            "expires_at": iso_timestamp(claims.expires_at),
            "max_credits": max_credits,
        }

    async def revoke_as_team(self, caller: Caller, subject: str | None) -> dict[str, Any]:
        """``revoke`` asked with the team's key: at most its rate of revocations (each is a
        replicated Redis write), where an admin's are not limited."""
        self._team_revocations.check(caller.team.tenant)
        return await self.revoke(caller.team, subject)

    async def revoke(self, team: Team, subject: str | None) -> dict[str, Any]:
        """Every token of ``subject`` (None: of the team) issued until now stops working: at
        once for paid creates, within KEY_CACHE_SECONDS for reads on other replicas."""
        now = self._clock.now()
        try:
            await self._revocations.revoke(team.tenant, subject, now=now)
        except TooManyRevocations:
            raise RateLimited(
                f"Team {team.id!r} holds {MAX_REVOCATIONS} revocations of users already (each "
                "lasts a token's life, an hour at most): revoke all its tokens at once "
                '({"all": true}) instead, or retry later.',
                headers={"Retry-After": str(MAX_TTL_SECONDS)},
            ) from None
        self._callers.forget_revocations(team.tenant)
        return {"team": team.id, "subject": subject, "revoked_before": iso_timestamp(now)}
