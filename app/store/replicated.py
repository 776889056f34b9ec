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

On Redis Cluster, WAIT must reach the node that ran the script, so the pair goes to the node
that owns the script's first key (every key of a script shares its team's hash tag). A node
that answers MOVED, went away or has no master for the slot makes the client learn the slot map
again (one refresh at a time), and the script counts as refused (MOVED: it did not run) or as
"may have run" (the connection failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.cluster import PipelineCommand
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class ReplicaShortfall(RedisConnectionError):
    """Fewer replicas than required acknowledged a script's writes in time. A connection error
    to the store's error mapping (``store_errors``): the script may have run."""


class Reconnector:
    """After a failure that says the master may have moved: one per client, shared by its
    scripts. On Cluster it relearns the slot map, one refresh at a time; otherwise it drops the
    idle connections (so the next command asks the sentinels where the master is), at most
    once a second, so that a replica merely lagging does not turn every script into a fresh
    connection."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._relearning: asyncio.Task[None] | None = None
        self._next_reconnect = 0.0

    async def master_may_have_moved(self) -> None:
        if isinstance(self._redis, RedisCluster):
            self.relearn(self._redis)
        elif time.monotonic() >= self._next_reconnect:
            self._next_reconnect = time.monotonic() + 1.0
            await self._redis.connection_pool.disconnect(inuse_connections=False)

    def relearn(self, cluster: RedisCluster) -> None:
        if self._relearning is None or self._relearning.done():
            self._relearning = asyncio.create_task(self._relearn_once(cluster))

    @staticmethod
    async def _relearn_once(cluster: RedisCluster) -> None:
        # Whatever stops it (no node reachable: RedisClusterException), the next failure tries
        # again.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await cluster.nodes_manager.initialize()


class ReplicatedScript:
    """A Lua script run by EVALSHA and acknowledged by ``WAIT`` in one round trip; on NOSCRIPT
    (Redis restarted or flushed its scripts: nothing ran) it is loaded and run once more."""

    def __init__(
        self,
        redis: Redis,
        source: str,
        *,
        replicas: int,
        timeout_ms: int,
        reconnector: Reconnector,
    ) -> None:
        self._redis, self._source = redis, source
        self._replicas, self._timeout_ms = replicas, timeout_ms
        self._reconnector = reconnector
        # Redis names a script by its SHA-1: an identifier, not a security measure.
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        try:
            return await self._run(keys, args)
        except NoScriptError:
            await self._load(keys)
            return await self._run(keys, args)

    async def _load(self, keys: Sequence[Any]) -> None:
        if not isinstance(self._redis, RedisCluster):
            await self._redis.script_load(self._source)
            return
        # Into the node that will run it (a replica just promoted may never have seen it).
        load = [PipelineCommand(0, "SCRIPT", "LOAD", self._source)]
        await self._on_owning_node(self._redis, keys, load)
        if isinstance(load[0].result, Exception):
            raise load[0].result

    async def _run(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        if isinstance(self._redis, RedisCluster):
            commands = [
                PipelineCommand(0, "EVALSHA", self.sha, len(keys), *keys, *args),
                PipelineCommand(1, "WAIT", self._replicas, self._timeout_ms),
            ]
            await self._on_owning_node(self._redis, keys, commands)
            reply, acknowledged = commands[0].result, commands[1].result
            if isinstance(reply, AskError | ClusterDownError | TryAgainError):
                # MOVED or ASK (the slot is elsewhere now), or no master for it: it did not run.
                self._reconnector.relearn(self._redis)
                raise TryAgainError(f"the slot moved: {reply}") from reply
        else:
            pipe = self._redis.pipeline(transaction=False)
            pipe.evalsha(self.sha, len(keys), *keys, *args)
            pipe.execute_command("WAIT", self._replicas, self._timeout_ms)
            reply, acknowledged = await pipe.execute(raise_on_error=False)
        if isinstance(reply, Exception):
            raise reply  # NOSCRIPT, or a refusal (READONLY, NOREPLICAS...): nothing ran
        # WAIT itself may fail after the script ran: a master demoted while it waited answers
        # UNBLOCKED. Either way the writes are not known to be on a replica.
        if isinstance(acknowledged, Exception) or int(acknowledged) < self._replicas:
            await self._reconnector.master_may_have_moved()
            raise ReplicaShortfall(
                f"replicas acknowledging the write within {self._timeout_ms} ms: "
                f"{acknowledged} of {self._replicas}"
            )
        return reply

    async def _on_owning_node(
        self, cluster: RedisCluster, keys: Sequence[Any], commands: list[PipelineCommand]
    ) -> None:
        """Send ``commands`` in one write to the master owning the first key's slot; their
        results (or errors) are left in the commands."""
        try:
            await cluster.initialize()  # a no-op once the slot map is known
            node = cluster.get_node_from_key(str(keys[0]))
            if node is None:
                raise TryAgainError("no master serves this slot now")  # nothing was sent
            await node.execute_pipeline(commands)
        except (
            RedisConnectionError,
            RedisTimeoutError,
            OSError,
            RedisClusterException,
            TryAgainError,
        ):
            self._reconnector.relearn(cluster)  # the node may be gone, its slots elsewhere
            raise
