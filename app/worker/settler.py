"""The background settler: drives every task the gateway created to its end, so spend is settled
even if no client ever polls, and across restarts (the queues live in Redis). It also resolves
creates whose outcome was lost and that no client came back for, and starts the delivery of the
teams' outboxes (webhook events, budget alerts: ``services/deliveries.py`` sends them in the
background, so a slow receiver never holds a settler's slot).

Every replica runs one. It reads only the index of due teams (store/schedule.py), so an idle
fleet costs a claim a tick however many teams were ever created. It claims the due teams (of N
settlers, one works a team at a time; a settler that dies lets its claims lapse) and works
them concurrently, at most ``teams_at_once`` at a time, each on its own: a team whose resends
hang holds its own slot and delays no other team. A pass starts nothing past half its claim,
so it ends before the claim does (``claim_seconds`` is twice the longest call). The work itself
is the services' (settlement, the resolver, the alerts); this module only paces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from app.domain.settlement import Claim
from app.errors import StoreUnavailable
from app.outages import Outage
from app.services.deliveries import Deliveries
from app.services.forwarding import Resolver
from app.services.results import ResultCustody
from app.services.settlement import Settlement
from app.store.redis_causes import redis_cause

log = logging.getLogger("app.settler")


class DueIndex(Protocol):
    """What the settler paces itself by: the index of due teams (``store/schedule.py``'s
    ``DueTeams``), by the one part of it the settler uses."""

    async def claim(self, *, lease_seconds: float, limit: int) -> list[Claim]: ...
    async def release(self, claim: Claim, next_ms: int | None) -> None: ...
    async def next_due(self, tenant: str) -> int | None: ...
    async def sweep(self, *, lease_seconds: float) -> int | None: ...


class Settler:
    def __init__(
        self,
        settlement: Settlement,
        resolver: Resolver,
        deliveries: Deliveries,
        due: DueIndex,
        *,
        results: ResultCustody | None = None,
        claim_seconds: float,
        tick_seconds: float = 0.5,
        teams_at_once: int = 8,
        sweep_seconds: float = 120.0,
    ) -> None:
        self._settlement, self._resolver, self.deliveries = settlement, resolver, deliveries
        self._results = results
        self.due, self._claim_seconds, self._tick = due, claim_seconds, tick_seconds
        self._teams_at_once, self._sweep_seconds = teams_at_once, sweep_seconds
        self._working: set[asyncio.Task[int]] = set()
        self._woken = asyncio.Event()  # work came due now (a hint): no wait for the tick
        # Redis's outages, said once (with their cause) however many ticks and teams meet them.
        self._paused = Outage(log, "settler paused, Redis unavailable")

    async def run_once(self, *, most: int = 10_000) -> int:
        """Work every team due now, to the end (a one-off pass; tests drive the settler so);
        returns how many tasks, creates and events were handled."""
        claims = await self.due.claim(lease_seconds=self._claim_seconds, limit=most)
        handled = sum(await asyncio.gather(*(self.work(claim) for claim in claims)))
        await self.deliveries.drain()  # a one-off pass ends with its deliveries
        return handled

    async def sweep(self) -> int | None:
        """Index every team that has work (at start, then every ``sweep_seconds``)."""
        indexed = await self.due.sweep(lease_seconds=self._sweep_seconds)
        if indexed:
            log.info("teams with work swept into the index", extra={"teams": indexed})
        return indexed

    async def run_forever(self, stopping: asyncio.Event) -> None:
        next_sweep = 0.0
        try:
            while not stopping.is_set():
                try:
                    if time.monotonic() >= next_sweep:
                        await self.sweep()
                        next_sweep = time.monotonic() + self._sweep_seconds
                    await self._claim_more()
                    self._paused.over()
                except StoreUnavailable as unavailable:
                    self._paused.failed(redis_cause(unavailable))
                except Exception:
                    log.exception("settler tick failed")
                # Real time: this only paces the loop; when work is due comes from Redis's clock.
                await self._pause(stopping)
        finally:
            for job in self._working:
                job.cancel()  # their claims lapse; another settler takes the teams over
            await asyncio.gather(*self._working, return_exceptions=True)
            await self.deliveries.aclose()  # their leases lapse; another replica sends them

    def wake(self) -> None:
        """Look for due teams now rather than at the next tick (a task was hinted due)."""
        self._woken.set()

    async def _pause(self, stopping: asyncio.Event) -> None:
        """Until the next tick, stopping, or a wake-up, whichever comes first."""
        waits = [asyncio.ensure_future(e.wait()) for e in (stopping, self._woken)]
        try:
            await asyncio.wait(waits, timeout=self._tick, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
            self._woken.clear()

    async def _claim_more(self) -> None:
        """Claim as many due teams as there are free slots, and start working each."""
        free = self._teams_at_once - len(self._working)
        if free <= 0:
            return
        for claim in await self.due.claim(lease_seconds=self._claim_seconds, limit=free):
            job = asyncio.create_task(self.work(claim))
            self._working.add(job)
            job.add_done_callback(self._working.discard)

    async def work(self, claim: Claim) -> int:
        """One team's due work, then its next due time in the index. Failures are logged and
        end the pass; the team comes due again (at its next time, or when the claim lapses)."""
        tenant, handled = claim.tenant, 0
        # Nothing new starts past half the claim, and what started ends within a lease (the
        # claim is two): the pass ends inside its claim, so no other settler takes the team.
        start_until = time.monotonic() + self._claim_seconds / 2
        try:
            handled += await self._resolver.run_once(tenant, start_until=start_until)
            handled += await self._settlement.settle_due(tenant, start_until=start_until)
            handled += await self.deliveries.start_due(tenant)
            if self._results is not None:
                handled += await self._results.expire(tenant)
        except StoreUnavailable as unavailable:
            self._paused.failed(redis_cause(unavailable))
        except Exception:
            log.exception("settling a team failed", extra={"tenant": tenant})
        with contextlib.suppress(StoreUnavailable):  # else the claim lapses: due again
            await self.due.release(claim, await self.due.next_due(tenant))
        return handled
