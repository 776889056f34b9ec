"""News of tasks' ends, across replicas, by Redis pub/sub: the replica whose settler (or reader)
saw a task end publishes its id, and every replica wakes its own waiters on it (a ``?wait``),
so a waiter hears of the end at once whichever replica saw it, rather than at its next look at
Redis (``WAIT_POLL_SECONDS``).

Best effort, on purpose: news is a speed-up, never the truth. A message lost (Redis down, a
replica reconnecting) leaves its waiters to their own looks at Redis. Redis Cluster's clients
here have no pub/sub: there, waiters look at Redis on their own only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from app.store.keyspace import KeySpace
from app.store.redis import STORE_FAILURES

log = logging.getLogger("app.task_news")

LISTEN_SECONDS = 1.0  # a subscriber checks whether to stop this often
RECONNECT_SECONDS = 1.0


class TaskNews:
    def __init__(self, redis: Redis, keys: KeySpace) -> None:
        self._redis, self._channel = redis, keys.task_news()
        self.available = not isinstance(redis, RedisCluster)

    async def publish(self, task_id: str) -> None:
        if not self.available:
            return
        with contextlib.suppress(*STORE_FAILURES):
            await self._redis.publish(self._channel, task_id)

    async def listen(self, wake: Callable[[str], None], stopping: asyncio.Event) -> None:
        """Wake ``wake(task_id)`` for each task's end told, until ``stopping``."""
        while self.available and not stopping.is_set():
            try:
                async with self._redis.pubsub() as subscription:
                    await subscription.subscribe(self._channel)
                    while not stopping.is_set():
                        message = await subscription.get_message(
                            ignore_subscribe_messages=True, timeout=LISTEN_SECONDS
                        )
                        if message is not None:
                            wake(str(message["data"]))
            except STORE_FAILURES:
                log.debug("task news: reconnecting")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RECONNECT_SECONDS)
