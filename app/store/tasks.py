"""Tasks the gateway created, in Redis: Rivya's latest answer plus the owning team.

A task's key embeds its team, so reading another team's task simply finds nothing: ownership
costs no extra lookup, and "not yours" is indistinguishable from "does not exist".
"""

from __future__ import annotations

from redis.asyncio import Redis

from app.domain import TaskRecord
from app.store.keys import KeySpace
from app.store.redis import hash_fields, store_errors, text_map
from app.store.scripts import Scripts
from app.upstream.wire import RivyaTask


class TaskStore:
    def __init__(
        self, redis: Redis, keys: KeySpace, scripts: Scripts, *, retention_seconds: int
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._retention = retention_seconds

    async def record(self, record: TaskRecord, *, created_ms: int) -> None:
        """Store a newly created task (one round trip)."""
        key = self._keys.task(record.team, record.id)
        fields = {
            "status": record.upstream.status,
            "upstream": record.upstream.model_dump_json(),
            "client_request_id": record.client_request_id or "",
            "key_id": record.key_id or "",
        }
        async with store_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=hash_fields(fields))
            pipe.expire(key, self._retention)
            pipe.zadd(self._keys.team_tasks(record.team), {record.id: created_ms})
            await pipe.execute()

    async def get(self, team_id: str, task_id: str) -> TaskRecord | None:
        async with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.task(team_id, task_id)))
        if not raw:
            return None
        return TaskRecord(
            team=team_id,
            upstream=RivyaTask.model_validate_json(raw["upstream"]),
            client_request_id=raw.get("client_request_id") or None,
            key_id=raw.get("key_id") or None,
        )

    async def advance(self, team_id: str, task: RivyaTask) -> bool:
        """Store Rivya's newer state of a task; False if ours was already as far along."""
        async with store_errors():
            written = await self._scripts.advance_task(
                keys=[self._keys.task(team_id, task.id)],
                args=[task.status, task.model_dump_json()],
            )
        return bool(written == 1)
