"""What answered requests leave behind, written to Redis off their path: the refusals tallied
outside the admission script (``refusal_counts.py``) into the period's books, and the request
records (``request_records.py``). The lifespan flushes both about once a second, and once more
as it stops; a write Redis refuses is put back for the next."""

from __future__ import annotations

from dataclasses import dataclass

from app.clock import Clock
from app.errors import StoreUnavailable
from app.periods import stamps_at
from app.services.refusal_counts import RefusalCounts
from app.services.request_records import RequestRecords
from app.store.admission import SPEND_RETENTION_SECONDS
from app.store.request_log import RequestLogStore
from app.store.spend import SpendStore

FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class Tallies:
    """What the middleware notes of each answered request, in memory, until flushed."""

    refusals: RefusalCounts
    records: RequestRecords


class AnsweredWriter:
    def __init__(
        self, tallies: Tallies, spend: SpendStore, request_log: RequestLogStore, clock: Clock
    ) -> None:
        self._refusals, self._records = tallies.refusals, tallies.records
        self._spend, self._log, self._clock = spend, request_log, clock

    async def flush(self) -> None:
        counts = self._refusals.drain()
        if counts:
            try:
                stamps = stamps_at(self._clock.now())
                await self._spend.add_refusals(counts, stamps, ttl_seconds=SPEND_RETENTION_SECONDS)
            except StoreUnavailable:
                self._refusals.put_back(counts)
        records = self._records.drain()
        if records:
            try:
                await self._log.write(records)
            except StoreUnavailable:
                self._records.put_back(records)
