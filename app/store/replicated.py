"""Scripts whose writes count only once a replica holds them.

Redis replicates asynchronously: a master answers a script before its replicas have its writes,
and a failover that promotes a replica loses whatever the replica had not received. For the
money, that is a reservation or a settlement the gateway acted on and then never had. So with
``REDIS_WAIT_REPLICAS`` > 0 every script is followed by ``WAIT replicas timeout`` **in the same
pipeline** (one round trip, as before): the answer counts only if enough replicas acknowledged
the writes. If they did not within the timeout, the script's writes may or may not survive a
failover, so its outcome is unknown: the caller gets the store's "may have run" failure, the
same as for an answer lost to a timeout, and the paths built for that (cancel, a retried
record, a retried settlement) make the books right. Redis's master may have moved: the idle
connections are dropped, so the next command asks the sentinels where the master is now.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError


class ReplicaShortfall(RedisConnectionError):
    """Fewer replicas than required acknowledged a script's writes in time. A connection error
    to the store's error mapping (``store_errors``): the script may have run."""


class ReplicatedScript:
    """A Lua script run by EVALSHA and acknowledged by ``WAIT`` in one round trip; on NOSCRIPT
    (Redis restarted or flushed its scripts: nothing ran) it is loaded and run once more."""

    def __init__(self, redis: Redis, source: str, *, replicas: int, timeout_ms: int) -> None:
        self._redis, self._source = redis, source
        self._replicas, self._timeout_ms = replicas, timeout_ms
        # Redis names a script by its SHA-1: an identifier, not a security measure.
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return await self._run(keys, args)
        except NoScriptError:
            await self._redis.script_load(self._source)
            return await self._run(keys, args)

    async def _run(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        pipe = self._redis.pipeline(transaction=False)
        pipe.evalsha(self.sha, len(keys), *keys, *args)
        pipe.execute_command("WAIT", self._replicas, self._timeout_ms)
        reply, acknowledged = await pipe.execute(raise_on_error=False)
        if isinstance(reply, Exception):
            raise reply  # NOSCRIPT, or a refusal (READONLY, NOREPLICAS...): nothing ran
        if isinstance(acknowledged, Exception):
            raise acknowledged
        if int(acknowledged) < self._replicas:
            # The master may have been demoted, or its replica lost: reconnect afresh.
            await self._redis.connection_pool.disconnect(inuse_connections=False)
            raise ReplicaShortfall(
                f"{acknowledged} of {self._replicas} replicas acknowledged the write within "
                f"{self._timeout_ms} ms"
            )
        return reply
