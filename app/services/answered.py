"""What answered requests leave behind, written to Redis off their path: the refusals tallied
outside the admission script (``refusal_counts.py``) into the period's books, the request
records (``request_records.py``), and when keys were last used (``key_uses.py``). The lifespan
flushes them about once a second, and once more as it stops; a write Redis refuses is put back
for the next."""

from __future__ import annotations

from dataclasses import dataclass

from app.clock import Clock
from app.errors import StoreUnavailable
from app.periods import stamps_at
from app.services.key_uses import KeyUses
from app.services.refusal_counts import RefusalCounts
from app.services.request_records import RequestRecords
from app.store.admission import SPEND_RETENTION_SECONDS
from app.store.api_keys import ApiKeyStore
from app.store.request_log import RequestLogStore
from app.store.spend import SpendStore

FLUSH_SECONDS = 1.0


@dataclass(frozen=True)
class Tallies:
    """What the middleware notes of each answered request, in memory, until flushed."""

    refusals: RefusalCounts
    records: RequestRecords
    key_uses: KeyUses


class AnsweredWriter:
    def __init__(
        self,
        tallies: Tallies,
        spend: SpendStore,
        request_log: RequestLogStore,
        api_keys: ApiKeyStore,
        clock: Clock,
    ) -> None:
        self._tallies = tallies
        self._spend, self._log, self._keys, self._clock = spend, request_log, api_keys, clock

    async def flush(self) -> None:
        refusals, records, key_uses = (
            self._tallies.refusals,
            self._tallies.records,
            self._tallies.key_uses,
        )
        counts = refusals.drain()
        if counts:
            try:
                stamps = stamps_at(self._clock.now())
                await self._spend.add_refusals(counts, stamps, ttl_seconds=SPEND_RETENTION_SECONDS)
            except StoreUnavailable:
                refusals.put_back(counts)
        kept = records.drain()
        if kept:
            try:
                await self._log.write(kept)
            except StoreUnavailable:
                records.put_back(kept)
        used = key_uses.drain()
        if used:
            try:
                await self._keys.note_used(used)
            except StoreUnavailable:
                key_uses.put_back(used)
