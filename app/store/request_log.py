"""Request records in Redis: a hash per UTC hour and shard, kept ``retention_hours``; written
in batches (one pipeline), read by id (one pipeline over the hours kept)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from app.clock import Clock
from app.domain.requests import RequestRecord
from app.store.keyspace import KeySpace
from app.store.redis import store_errors

_HOUR = "%Y%m%d%H"


class RequestLogStore:
    def __init__(self, redis: Redis, keys: KeySpace, clock: Clock, *, retention_hours: int) -> None:
        self._redis, self._keys, self._clock = redis, keys, clock
        self.retention_hours = retention_hours

    async def write(self, records: list[RequestRecord]) -> None:
        grouped: dict[str, dict[str, str]] = defaultdict(dict)
        for record in records:
            hour = datetime.fromisoformat(record.at).strftime(_HOUR)
            key = self._keys.requests(hour, _shard(record.request_id))
            grouped[key][record.request_id] = json.dumps(record.as_dict(), separators=(",", ":"))
        ttl = (self.retention_hours + 1) * 3600  # an hour's hash lives its hour, then the retention
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for key, fields in grouped.items():
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                pipe.expire(key, ttl)
            await pipe.execute()

    async def find(self, request_id: str) -> RequestRecord | None:
        """The record of ``request_id``, if one is kept: the hours kept, newest first."""
        now = datetime.fromtimestamp(self._clock.now(), tz=UTC)
        hours = [
            (now - timedelta(hours=h)).strftime(_HOUR) for h in range(self.retention_hours + 1)
        ]
        shard = _shard(request_id)
        async with store_errors(), self._redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hget(self._keys.requests(hour, shard), request_id)
            found = await pipe.execute()
        raw = next((value for value in found if value), None)
        return RequestRecord(**json.loads(raw)) if raw else None


def _shard(request_id: str) -> str:
    last = request_id[-1:].lower()
    return last if last and last in "0123456789abcdef" else "x"
