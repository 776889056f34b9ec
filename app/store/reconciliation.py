"""The baseline the reconciliation with Rivya's balance counts from (one JSON string)."""

from __future__ import annotations

from redis.asyncio import Redis

from app.domain.reconciliation import Baseline
from app.store.contracts import admin as c
from app.store.keyspace import KeySpace
from app.store.redis import admin_write, store_errors
from app.store.scripts import Scripts


class BaselineStore:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def get(self) -> Baseline | None:
        with store_errors():
            raw = await self._redis.get(self._keys.reconciliation())
        return Baseline.from_json(raw) if raw else None

    async def put(
        self,
        baseline: Baseline,
        *,
        only_if_absent: bool = False,
        replacing: Baseline | None = None,
    ) -> bool:
        """Store the baseline; with ``only_if_absent`` only the first of racing replicas does;
        with ``replacing``, only if that one is still the stored one (of replicas replacing it
        at once, one does). A script, acknowledged by a replica when writes wait for one: a
        failover cannot take the reconciliation back to an older baseline."""
        mode, expected = ("nx", "") if only_if_absent else ("", "")
        if replacing is not None:
            mode, expected = "if", str(replacing.set_at_ms)
        async with admin_write("Setting the reconciliation baseline"):
            stored = await self._scripts.put_baseline(
                keys=c.OneKey(self._keys.reconciliation()),
                args=c.PutBaselineArgs(
                    baseline=baseline.to_json(), mode=mode, expected_set_at_ms=expected
                ),
            )
        return bool(stored)
