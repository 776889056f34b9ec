"""Browser tokens (CONTRACT §3, §4): a team's backend mints one per end user with its key, and
may revoke a user's tokens; ops may revoke a team's (``/admin``)."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.documented_errors import ADMIN_TEAM, KEY_ONLY, answers
from app.deps import AdminOnly, KeyCaller, TeamsDep, TokensDep
from app.errors import RateLimited, ValidationFailed
from app.schemas.tokens import TokenCreate, TokenOut, TokenRevoke, TokensRevoked

router = APIRouter(tags=["team API"])
admin_router = APIRouter(tags=["admin"])  # its tag alone: a generated client files it under admin


@router.post(
    "/v1/tokens",
    status_code=201,
    responses=answers(*KEY_ONLY, ValidationFailed),
    summary="Mint a browser token for one end user",
)
async def mint_token(body: TokenCreate, caller: KeyCaller, tokens: TokensDep) -> TokenOut:
    minted = await tokens.mint(
        caller, subject=body.subject, ttl_seconds=body.ttl_seconds, max_credits=body.max_credits
    )
    return TokenOut.model_validate(minted)


@router.post(
    "/v1/tokens/revoke",
    responses=answers(*KEY_ONLY, ValidationFailed, RateLimited),
    summary="Revoke the tokens of one end user (or all)",
)
async def revoke_tokens(body: TokenRevoke, caller: KeyCaller, tokens: TokensDep) -> TokensRevoked:
    revoked = await tokens.revoke_as_team(caller, body.subject)
    return TokensRevoked.model_validate(revoked)


@admin_router.post(
    "/admin/teams/{team_id}/tokens/revoke",
    dependencies=[AdminOnly],
    responses=answers(*ADMIN_TEAM),
    summary="Revoke a team's browser tokens (of one subject, or all)",
)
async def revoke_team_tokens(
    team_id: str, body: TokenRevoke, teams: TeamsDep, tokens: TokensDep
) -> TokensRevoked:
    revoked = await tokens.revoke(await teams.get(team_id), body.subject)
    return TokensRevoked.model_validate(revoked)
