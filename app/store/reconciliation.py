"""The baseline the reconciliation with Rivya's balance counts from (one JSON string)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from app.store.keys import KeySpace
from app.store.redis import admin_write, store_errors
from app.store.scripts import Scripts


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
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def get(self) -> Baseline | None:
        async with store_errors():
            raw = await self._redis.get(self._keys.reconciliation())
        return Baseline(**json.loads(raw)) if raw else None

    async def put(self, baseline: Baseline, *, only_if_absent: bool = False) -> bool:
        """Store the baseline; with ``only_if_absent`` only the first of racing replicas does. A
        script, acknowledged by a replica when writes wait for one: a failover cannot take the
        reconciliation back to an older baseline."""
        async with admin_write("Setting the reconciliation baseline"):
            stored = await self._scripts.put_baseline(
                keys=[self._keys.reconciliation()],
                args=[json.dumps(asdict(baseline)), "nx" if only_if_absent else ""],
            )
        return bool(stored)
