"""Store writes a request could not finish because Redis stopped answering, finished in the
background by the process that knows what to write.

A request that sent a create and then lost Redis must still record the task (or release a
refused create, or cancel an admission whose answer it never got): the truth is in its memory
only. It answers its caller at once and leaves the write here, retried until Redis answers or
the create's lease ends (after which other replicas' resolvers may act on the create). The
reconciliation starts its refresh of the scrape figures here too: work that outlives the scrape
that began it.

Named for what it holds, the writes left unfinished (it was ``aftercare.py``, which said when
they run rather than what they are). The logger keeps its old name, ``app.aftercare``, so that
log queries and alerts built on it still match.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from app.errors import StoreUnavailable

log = logging.getLogger("app.aftercare")
Result = TypeVar("Result")

FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 1.0


class UnfinishedWrites:
    def __init__(self) -> None:
        self._jobs: set[asyncio.Task[object]] = set()
        self._chores: set[asyncio.Task[object]] = set()

    def start(
        self,
        what: str,
        write: Callable[[], Awaitable[Result]],
        *,
        within_seconds: float,
        chore: bool = False,
    ) -> asyncio.Task[Result | None]:
        """Run ``write`` until Redis lets it finish, for at most ``within_seconds`` (real time:
        this waits for Redis to come back, not for anything a clock drives). The task's result
        is the write's, or None if it never got through. A ``chore`` is work the next start
        does again (set the reconciliation baseline, register a webhook): shutdown stops it at
        once, where it gives a write only this process can make a moment to finish."""
        job = asyncio.create_task(self._retry(what, write, within_seconds), name=what)
        for jobs in (self._jobs, self._chores) if chore else (self._jobs,):
            jobs.add(job)
            job.add_done_callback(jobs.discard)
        return job

    async def _retry(
        self, what: str, write: Callable[[], Awaitable[Result]], within_seconds: float
    ) -> Result | None:
        deadline = time.monotonic() + within_seconds
        delay = FIRST_DELAY_SECONDS
        while True:
            try:
                return await write()
            except StoreUnavailable:
                if time.monotonic() + delay > deadline:
                    log.error(
                        "gave up on a store write: Redis did not answer", extra={"what": what}
                    )
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_SECONDS)

    async def join(self) -> None:
        """Wait until every write started so far has finished or given up."""
        while self._jobs:
            await asyncio.wait(set(self._jobs))

    async def aclose(self, *, grace_seconds: float = 5.0) -> None:
        """On shutdown: stop the chores, give the writes in progress a moment, then stop
        them. (A chore asleep between its attempts had held every shutdown for the whole
        grace: over 5 s to stop a gateway on Redis Cluster, bench/README.md.)"""
        chores = set(self._chores)
        for chore in chores:
            chore.cancel()
        writes = self._jobs - chores
        running: set[asyncio.Task[object]] = set()
        if writes:
            _, running = await asyncio.wait(writes, timeout=grace_seconds)
        for job in running:
            job.cancel()
        for job in chores | running:
            with contextlib.suppress(asyncio.CancelledError):
                await job
        if running:
            log.error("store writes left unfinished at shutdown", extra={"count": len(running)})
