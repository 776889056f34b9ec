"""Revocation of browser tokens: a team-wide "not before" and one per subject, in one sorted set
per team, of at most ``MAX_REVOCATIONS`` subjects. A token is checked by its own subject's and
the team-wide entry only (cached briefly by the caller resolver; checked again by admit.lua)."""

from __future__ import annotations

from redis.asyncio import Redis

from app.domain.tokens import TOKEN_LEEWAY_SECONDS as LEEWAY_SECONDS
from app.domain.tokens import TOKEN_MAX_TTL_SECONDS as MAX_TTL_SECONDS
from app.store.contracts import admin as c
from app.store.keyspace import KeySpace
from app.store.redis import admin_write, store_errors
from app.store.scripts import Scripts

TEAM_WIDE = "*"
# Subjects a team may have revoked within a token's life at once (past that, a revocation of a
# subject is refused: revoke the team's tokens at once instead). About 30 bytes each.
MAX_REVOCATIONS = 10_000


class TooManyRevocations(Exception):
    """The team holds ``MAX_REVOCATIONS`` revocations of subjects already."""


class TokenRevocationStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def revoke(self, tenant: str, subject: str | None, *, now: float) -> None:
        """Tokens of ``subject`` (None: every subject) issued up to ``now`` stop working. A
        script, acknowledged by a replica when writes wait for one: a failover cannot lose it."""
        async with admin_write("The tokens' revocation"):
            stored = await self._scripts.revoke_tokens(
                keys=c.OneKey(self._keys.token_revocations(tenant)),
                args=c.RevokeTokensArgs(
                    subject=subject or TEAM_WIDE,
                    not_before_s=repr(now),
                    # A revocation older than any token's life has nothing left to revoke.
                    prune_before_s=repr(now - MAX_TTL_SECONDS - 2 * LEEWAY_SECONDS),
                    ttl_seconds=MAX_TTL_SECONDS + 60,
                    most=MAX_REVOCATIONS,
                ),
            )
        if not int(stored):
            raise TooManyRevocations()

    async def not_before(self, tenant: str, subject: str) -> float:
        """Tokens of ``subject`` issued at or before this time (s) are revoked (0: none): its
        own entry and the team-wide one, never the whole set."""
        with store_errors():
            scores = await self._redis.zmscore(
                self._keys.token_revocations(tenant), [TEAM_WIDE, subject]
            )
        return max((float(score) for score in scores if score is not None), default=0.0)
