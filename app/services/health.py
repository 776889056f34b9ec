"""Readiness: whether this process can serve (Redis answers), and how it sees Rivya and Redis.

Besides reachability it reports what the money needs from Redis (docs/operations.md, "What
Redis must keep"): that its data is still the data the gateway wrote (a marker set once; a flushed,
restored or replaced Redis has lost it or holds another), and whether it is set to keep it
(append-only file, no eviction), where Redis lets us ask.
"""

from __future__ import annotations

import logging
import secrets

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from app.store.keyspace import KeySpace
from app.store.redis import STORE_FAILURES
from app.store.redis_causes import redis_cause
from app.upstream.resilience import CircuitBreaker

log = logging.getLogger("app.health")

# Eviction policies that never drop the gateway's keys (its keys carry TTLs: volatile-* would).
_SAFE_EVICTION = frozenset({"noeviction"})


class Health:
    def __init__(self, redis: Redis, keys: KeySpace, breaker: CircuitBreaker) -> None:
        self._redis, self._keys, self._breaker = redis, keys, breaker
        self._marker: str | None = None  # the data marker this process first saw
        self._data_lost = False

    async def failure(self) -> str | None:
        """None while Redis answers; else what stops it, named (``store/redis_causes.py``)."""
        try:
            await self._redis.ping()
        except STORE_FAILURES as exc:
            return redis_cause(exc)
        return None

    async def ready(self) -> bool:
        return await self.failure() is None

    async def report(self) -> dict[str, str]:
        """Redis decides readiness. The circuit to Rivya and Redis's durability are reported,
        not judged: a replica failing fast while Rivya is down is doing its job, and restarting
        it would not bring back lost data."""
        cause = await self.failure()
        if cause is not None:
            return {
                "redis": "unreachable",
                "redis_cause": cause,
                "rivya_circuit": self._breaker.state,
            }
        return {
            "redis": "ok",
            "redis_data": await self._data(),
            "redis_persistence": await self._persistence(),
            "rivya_circuit": self._breaker.state,
        }

    async def _data(self) -> str:
        """ "ok" while Redis holds the marker this process first saw; "lost" (for good, and
        logged once) when it is gone or another: budgets, reservations and claims went with it."""
        try:
            key = self._keys.data_marker()
            fresh = secrets.token_hex(8)
            seen = await self._redis.set(key, fresh, nx=True, get=True)
            current = fresh if seen is None else str(seen)
        except (ResponseError, *STORE_FAILURES):  # SET NX GET needs Redis 7
            return "unknown"
        if self._marker is None:
            self._marker = current
        elif current != self._marker and not self._data_lost:
            self._data_lost = True
            log.error(
                "Redis lost the gateway's data (flushed, restored or replaced): spend, "
                "reservations and claims before this moment are gone; reconcile with Rivya"
            )
        return "lost" if self._data_lost else "ok"

    async def _persistence(self) -> str:
        """ "ok" with an append-only file and no eviction; what is wrong otherwise; "unknown"
        where CONFIG is not allowed (managed Redis: check its settings there)."""
        try:
            aof = await self._redis.config_get("appendonly")
            policy = await self._redis.config_get("maxmemory-policy")
        except (ResponseError, *STORE_FAILURES):
            return "unknown"
        problems = []
        if aof.get("appendonly") != "yes":
            problems.append("appendonly is off")
        if policy.get("maxmemory-policy", "noeviction") not in _SAFE_EVICTION:
            problems.append(f"maxmemory-policy is {policy.get('maxmemory-policy')}")
        return "; ".join(problems) or "ok"
