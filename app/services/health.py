"""Readiness: whether this process can serve (Redis answers), and how it sees Rivya."""

from __future__ import annotations

from redis.asyncio import Redis

from app.store.redis import STORE_FAILURES
from app.upstream.resilience import CircuitBreaker


class Health:
    def __init__(self, redis: Redis, breaker: CircuitBreaker) -> None:
        self._redis, self._breaker = redis, breaker

    async def ready(self) -> bool:
        try:
            await self._redis.ping()
        except STORE_FAILURES:
            return False
        return True

    async def report(self) -> dict[str, str]:
        """Redis decides readiness. The circuit to Rivya is reported, not judged: a replica
        failing fast while Rivya is down is doing its job, and restarting it would not help."""
        return {
            "redis": "ok" if await self.ready() else "unreachable",
            "rivya_circuit": self._breaker.state,
        }
