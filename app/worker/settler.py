"""The background settler: drives every task the gateway created to its end, so spend is settled
even if no client ever polls, and across restarts (the queues live in Redis). It also resolves
creates whose outcome was lost and that no client came back for.

Every replica runs one. Each tick it leases the due tasks of each team, so N settlers share the
work and no task is polled by two at once; a settler that dies just lets its leases lapse. The
work itself is the services' (settlement and the resolver); this module only paces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from app.errors import StoreUnavailable
from app.services.forwarding import Resolver
from app.services.settlement import Settlement

log = logging.getLogger("app.settler")


class Settler:
    def __init__(
        self, settlement: Settlement, resolver: Resolver, *, tick_seconds: float = 0.5
    ) -> None:
        self._settlement, self._resolver, self._tick = settlement, resolver, tick_seconds

    async def run_once(self) -> int:
        """Poll every task that is due now, and resolve creates left unknown; returns how many
        tasks and creates were handled."""
        handled = 0
        for team in await self._settlement.queued_teams():
            handled += await self._resolver.run_once(team)
            handled += await self._settlement.settle_due(team)
        return handled

    async def run_forever(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once()
            except StoreUnavailable:
                log.warning("settler paused: Redis unreachable")
            except Exception:
                log.exception("settler tick failed")
            # Real time: this only paces the loop; when tasks are due comes from Redis's clock.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self._tick)
