"""A team's outbox: events written by the script that decided them (``lua/_alerts.lua``), read
and deleted by whoever delivers them (services/alerts.py). An entry stays until it is
delivered or given up, so a process that dies mid-delivery loses nothing: the next settler
delivers it again, with the same id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from app.store.contracts import schedule as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.scripts import Scripts


@dataclass(frozen=True)
class OutboxEntry:
    id: str  # the stream id: "<Redis time, ms>-<sequence>"
    fields: dict[str, str]
    attempts: int  # delivery attempts so far
    next_attempt_ms: int  # 0: never tried, due at once

    @property
    def written_ms(self) -> int:
        return int(self.id.split("-", 1)[0])


class Outbox:
    def __init__(self, redis: Redis, keys: KeySpace, scripts: Scripts) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts

    async def entries(self, tenant: str, *, limit: int) -> list[OutboxEntry]:
        """The oldest ``limit`` entries, with their delivery attempts."""
        async with store_errors():
            raw = await self._redis.xrange(self._keys.outbox(tenant), count=limit)
            rows = cast(list[tuple[Any, dict[Any, Any]]], raw)
            ids = [str(entry_id) for entry_id, _ in rows]
            tried = await self._redis.hmget(self._keys.outbox_attempts(tenant), ids) if ids else []
        entries = []
        for (entry_id, fields), attempt in zip(rows, tried, strict=True):
            count, _, at = str(attempt or "0|0").partition("|")
            entries.append(
                OutboxEntry(
                    str(entry_id),
                    {str(k): str(v) for k, v in fields.items()},
                    int(count),
                    int(at or 0),
                )
            )
        return entries

    async def done(self, tenant: str, entry_id: str) -> None:
        # Attempts first: cut off between the two, the entry is delivered again (at least
        # once), and no attempt is left behind for an entry that is gone.
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            pipe.hdel(self._keys.outbox_attempts(tenant), entry_id)
            pipe.xdel(self._keys.outbox(tenant), entry_id)
            await pipe.execute()

    async def retry_at(self, tenant: str, entry_id: str, *, attempts: int, at_ms: int) -> None:
        """Try the entry again at ``at_ms``, if it is still there (``outbox_retry.lua``)."""
        async with store_errors():
            await self._scripts.outbox_retry(
                keys=c.OutboxKeys(
                    outbox=self._keys.outbox(tenant), attempts=self._keys.outbox_attempts(tenant)
                ),
                args=c.OutboxRetryArgs(entry_id=entry_id, attempts=f"{attempts}|{at_ms}"),
            )
