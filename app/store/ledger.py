"""Reading a team's spend ledger: the stream ``lua/_money.lua`` appends one entry to for every
money move, inside the script that makes it. Entries are never changed; the oldest go once a
team has more than ``LEDGER_MAX_ENTRIES_PER_TEAM``."""

from __future__ import annotations

from typing import Any, cast

from redis.asyncio import Redis

from app.domain.ledger import LedgerEntry
from app.store.keyspace import KeySpace
from app.store.redis import store_errors


class LedgerStore:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._keys = redis, keys

    async def page(
        self, tenant: str, *, before: str | None = None, since_ms: int | None = None, limit: int
    ) -> list[LedgerEntry]:
        """Up to ``limit`` entries, newest first, strictly older than the entry ``before``
        and no older than ``since_ms``."""
        high = f"({before}" if before else "+"
        low = str(since_ms) if since_ms is not None else "-"
        with store_errors():
            raw = await self._redis.xrevrange(self._keys.ledger(tenant), high, low, count=limit)
        return [_entry(entry_id, fields) for entry_id, fields in cast(list[Any], raw)]

    async def suspects(
        self, tenants: list[str], *, since_ms: int, limit: int
    ) -> list[tuple[str, LedgerEntry]]:
        """(tenant, entry) for each team's suspect entries since ``since_ms`` (Redis's clock,
        as the ids are), the oldest ``limit`` of each: the suspects are indexed apart from the
        ledger, so none is missed however many ordinary entries came after."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                pipe.xrange(self._keys.suspects(tenant), str(since_ms), "+", count=limit)
            rows = await pipe.execute()
        return [
            (tenant, _entry(i, f))
            for tenant, row in zip(tenants, rows, strict=True)
            for i, f in cast(list[Any], row)
        ]

    async def witness(self, tenants: list[str], *, since_ms: int) -> LedgerEntry | None:
        """A task the books say Rivya made, to ask Rivya about: the earliest recorded since
        ``since_ms`` (it spans the whole time since), else the latest one before."""
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for tenant in tenants:
                ledger = self._keys.ledger(tenant)
                pipe.xrange(ledger, str(since_ms), "+", count=WITNESS_SCAN)
                pipe.xrevrange(ledger, f"({since_ms}", "-", count=WITNESS_SCAN)
            rows = await pipe.execute()
        after = [_entry(i, f) for row in rows[::2] for i, f in cast(list[Any], row)]
        before = [_entry(i, f) for row in rows[1::2] for i, f in cast(list[Any], row)]
        since = [e for e in after if e.task]
        if since:
            return min(since, key=_order)
        earlier = [e for e in before if e.task]
        return max(earlier, key=_order) if earlier else None


WITNESS_SCAN = 20  # ledger entries read per team, each way, for a witness


def _order(entry: LedgerEntry) -> tuple[int, int]:
    ms, _, sequence = entry.id.partition("-")
    return int(ms), int(sequence or 0)


def _entry(entry_id: Any, fields: dict[Any, Any]) -> LedgerEntry:
    text = {str(k): str(v) for k, v in fields.items()}
    return LedgerEntry(
        id=str(entry_id),
        event=text.get("event", ""),
        ref=text.get("ref", ""),
        task=text.get("task") or None,
        model=text.get("model", "unknown"),
        reserved=int(text.get("reserved", 0)),
        spent=int(text.get("spent", 0)),
    )
