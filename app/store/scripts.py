"""The Lua scripts in ``store/lua``, registered once per client.

redis-py's registered scripts run by EVALSHA and load themselves again on NOSCRIPT (after a
Redis restart or SCRIPT FLUSH), so callers never see that error. Every script is prefixed with
``lua/_clock.lua``: time comes from Redis, not from the replica that calls.
"""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

LUA_DIR = Path(__file__).with_name("lua")


class Scripts:
    def __init__(self, redis: Redis) -> None:
        self.put_team = self._register(redis, "put_team")
        self.admit = self._register(redis, "admit")
        self.release = self._register(redis, "release")
        self.record = self._register(redis, "record")
        self.observe = self._register(redis, "observe")
        self.claim_due = self._register(redis, "claim_due")
        self.lease_create = self._register(redis, "lease_create")
        self.abandon = self._register(redis, "abandon")
        self.give_up = self._register(redis, "give_up")
        self.cancel = self._register(redis, "cancel")
        self.reschedule = self._register(redis, "reschedule")
        self.claim_poll = self._register(redis, "claim_poll")
        self.admit_upload = self._register(redis, "admit_upload")
        self.settle_orphan = self._register(redis, "settle_orphan")

    @staticmethod
    def _register(redis: Redis, name: str) -> AsyncScript:
        prelude = (LUA_DIR / "_clock.lua").read_text(encoding="utf-8")
        body = (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
        return redis.register_script(prelude + body)
