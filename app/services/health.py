"""Readiness: whether this process can serve (Redis answers)."""

from __future__ import annotations

from redis.asyncio import Redis

from app.store.redis import STORE_FAILURES


class Health:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def checks(self) -> dict[str, str]:
        try:
            await self._redis.ping()
        except STORE_FAILURES:
            return {"redis": "unreachable"}
        return {"redis": "ok"}
