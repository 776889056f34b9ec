"""Revocation of browser tokens: a team-wide "not before" and one per subject, in one sorted set
per team (read whole, cached briefly by the caller resolver; checked again by admit.lua)."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis

from app.auth.tokens import LEEWAY_SECONDS, MAX_TTL_SECONDS
from app.store.keys import KeySpace
from app.store.redis import admin_write, store_errors
from app.store.scripts import Scripts

TEAM_WIDE = "*"


class TokenRevocationStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def revoke(self, space: str, subject: str | None, *, now: float) -> None:
        """Tokens of ``subject`` (None: every subject) issued up to ``now`` stop working. A
        script, acknowledged by a replica when writes wait for one: a failover cannot lose it."""
        async with admin_write("The tokens' revocation"):
            await self._scripts.revoke_tokens(
                keys=[self._keys.token_revocations(space)],
                args=[
                    subject or TEAM_WIDE,
                    repr(now),
                    # A revocation older than any token's life has nothing left to revoke.
                    repr(now - MAX_TTL_SECONDS - 2 * LEEWAY_SECONDS),
                    MAX_TTL_SECONDS + 60,
                ],
            )

    async def all(self, space: str) -> dict[str, float]:
        async with store_errors():
            rows = await self._redis.zrange(
                self._keys.token_revocations(space), 0, -1, withscores=True
            )
        # WITHSCORES answers (member, score) pairs.
        pairs = cast(list[tuple[str, float]], rows)
        return {str(member): float(score) for member, score in pairs}
