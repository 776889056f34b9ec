"""The baseline the reconciliation with Rivya's balance counts from (one JSON string)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from app.store.keys import KeySpace
from app.store.redis import store_errors


@dataclass(frozen=True)
class Baseline:
    """Rivya's balance and the gateway's books (summed over every team) at one moment."""

    rivya_credits: int
    gateway_spent: int
    gateway_reserved: int
    set_at_ms: int
    # Credits reserved when it was taken, which Rivya may or may not have held then: the drift
    # may be off by up to this much without anything being wrong.
    uncertain_credits: int = 0
    # Set when Redis lost its data and a replica that remembered this baseline wrote it back:
    # the drift from it then counts the credits whose books were lost.
    restored_at_ms: int | None = None


class BaselineStore:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def get(self) -> Baseline | None:
        async with store_errors():
            raw = await self._redis.get(self._keys.reconciliation())
        return Baseline(**json.loads(raw)) if raw else None

    async def put(self, baseline: Baseline, *, only_if_absent: bool = False) -> bool:
        """Store the baseline; with ``only_if_absent`` only the first of racing replicas does."""
        async with store_errors():
            stored = await self._redis.set(
                self._keys.reconciliation(), json.dumps(asdict(baseline)), nx=only_if_absent
            )
        return bool(stored)
