"""The background settler: drives every task the gateway created to its end, so spend is settled
even if no client ever polls, and across restarts (the queues live in Redis). It also resolves
creates whose outcome was lost and that no client came back for.

Every replica runs one. Each tick it leases the due tasks of each team (``claim_due.lua``), so
N settlers share the work and no task is polled by two at once; a settler that dies just lets
its leases lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import datetime

from app.clock import Clock
from app.errors import GatewayError, StoreUnavailable
from app.services.forwarding import Resolver
from app.services.settlement import PollSchedule, Settlement
from app.store.settlement import SettleQueue
from app.store.tasks import TaskStore
from app.upstream.client import RivyaClient

log = logging.getLogger("app.settler")


@dataclass(frozen=True)
class SettlerConfig:
    schedule: PollSchedule
    lease_seconds: float = 30.0
    batch: int = 100
    concurrency: int = 16
    tick_seconds: float = 0.5
    give_up_after_seconds: float = 86_400.0


class Settler:
    def __init__(
        self,
        queue: SettleQueue,
        tasks: TaskStore,
        settlement: Settlement,
        resolver: Resolver,
        upstream: RivyaClient,
        clock: Clock,
        config: SettlerConfig,
    ) -> None:
        self._queue, self._tasks, self._settlement = queue, tasks, settlement
        self._resolver = resolver
        self._upstream, self._clock, self._config = upstream, clock, config
        self._limit = asyncio.Semaphore(config.concurrency)
        self._rng = random.Random()

    async def run_once(self) -> int:
        """Poll every task that is due now, and resolve creates left unknown; returns how many
        tasks and creates were handled."""
        now_ms = int(self._clock.now() * 1000)
        lease_ms = int(self._config.lease_seconds * 1000)
        polled = 0
        for team in await self._queue.teams():
            polled += await self._resolver.run_once(team)
            due = await self._queue.claim(
                team, now_ms=now_ms, lease_ms=lease_ms, limit=self._config.batch
            )
            await asyncio.gather(*(self._poll(team, task_id) for task_id in due))
            polled += len(due)
        return polled

    async def run_forever(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once()
            except StoreUnavailable:
                log.warning("settler paused: Redis unreachable")
            except Exception:
                log.exception("settler tick failed")
            # Real time: this only paces the loop; when tasks are due comes from the clock.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self._config.tick_seconds)

    async def _poll(self, team: str, task_id: str) -> None:
        async with self._limit:
            stored = await self._tasks.get(team, task_id)
            if stored is None:  # expired or never recorded: nothing left to settle
                await self._queue.drop(team, task_id)
                return
            now = self._clock.now()
            age = now - _epoch(stored.record.upstream.created_at, fallback=now)
            if age > self._config.give_up_after_seconds:
                held = await self._tasks.give_up(stored)
                if held >= 0:
                    log.error(
                        "gave up on a task Rivya never ended; its credits count as spent",
                        extra={"team": team, "task_id": task_id, "credits": held},
                    )
                return
            try:
                fresh = await self._upstream.get_generation(task_id)
            except GatewayError as exc:
                log.warning(
                    "settler poll failed",
                    extra={"team": team, "task_id": task_id, "reason": exc.code},
                )
                await self._reschedule(team, task_id, stored.record.upstream.created_at)
                return
            record = await self._settlement.observe(stored, fresh)
            if not record.upstream.is_terminal:
                await self._reschedule(team, task_id, record.upstream.created_at)

    async def _reschedule(self, team: str, task_id: str, created_at: str) -> None:
        now = self._clock.now()
        age = now - _epoch(created_at, fallback=now)
        delay = self._config.schedule.next_poll(age, self._rng)
        await self._queue.reschedule(team, task_id, at_ms=int((now + delay) * 1000))


def _epoch(timestamp: str, *, fallback: float) -> float:
    try:
        return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return fallback
