"""Uploaded files in Redis: Rivya's record of each, owned by the team that uploaded it.

Like tasks, a file's key embeds its team: another team's file is simply not there. Two indexes
per team find a file by its content (so an identical upload is not sent twice) and by its Rivya
URL (so a drop-in ``referenceMediaItems`` entry can be checked to be the team's own).
"""

from __future__ import annotations

import hashlib
import json

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.domain.files import FileRecord, content_scope
from app.store.contracts import creates as c
from app.store.keyspace import KeySpace
from app.store.redis import hash_fields, store_errors, text_map
from app.store.scripts import Scripts

# How long identical content is answered with the earlier upload. Rivya's file lifetime is
# undocumented: reuse stays short, and far inside the record's own retention, so a reused id
# never vanishes moments after it is handed out.
CONTENT_REUSE_SECONDS = 3600


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


class FileStore:
    def __init__(
        self,
        redis: Redis,
        keys: KeySpace,
        scripts: Scripts,
        clock: Clock,
        *,
        retention_seconds: int,
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._clock, self._retention = clock, retention_seconds

    async def admit_upload(
        self, team: str, *, per_minute: int, burst: int, subject: str | None = None
    ) -> int:
        """Take one upload of the team's rate (``admit_upload.lua``): 0 when admitted, else
        the milliseconds until one more would be."""
        with store_errors():
            wait_ms = await self._scripts.admit_upload(
                keys=c.AdmitUploadKeys(
                    team_rate=self._keys.upload_rate(team),
                    user_rate=self._keys.upload_rate(team, subject or ""),
                ),
                args=c.AdmitUploadArgs(
                    time=script_time(self._clock),
                    per_minute=per_minute,
                    burst=burst,
                    by_user="1" if subject is not None else "0",
                ),
            )
        return int(wait_ms)

    async def record(self, file: FileRecord) -> None:
        k, team = self._keys, file.team
        fields = {
            "data": json.dumps({key: value for key, value in vars(file).items() if key != "team"}),
        }
        async with store_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(k.file(team, file.id), mapping=hash_fields(fields))
            pipe.expire(k.file(team, file.id), self._retention)
            pipe.set(k.file_by_content(team, file.content_scope), file.id, ex=CONTENT_REUSE_SECONDS)
            pipe.set(k.file_by_url(team, url_digest(file.url)), file.id, ex=self._retention)
            await pipe.execute()

    async def get(self, team: str, file_id: str) -> FileRecord | None:
        with store_errors():
            raw = text_map(await self._redis.hgetall(self._keys.file(team, file_id)))
        if not raw:
            return None
        return FileRecord(team=team, **json.loads(raw["data"]))

    async def find_by_content(
        self, team: str, sha256: str, subject: str | None = None
    ) -> FileRecord | None:
        scope = content_scope(sha256, subject)
        with store_errors():
            file_id = await self._redis.get(self._keys.file_by_content(team, scope))
        return await self.get(team, str(file_id)) if file_id else None

    async def find_by_url(self, team: str, url: str) -> FileRecord | None:
        with store_errors():
            file_id = await self._redis.get(self._keys.file_by_url(team, url_digest(url)))
        return await self.get(team, str(file_id)) if file_id else None
