"""What answered requests leave behind, written to Redis off their path: the refusals tallied
outside the admission script (``refusal_counts.py``) into the period's books, the request
records (``request_records.py``), and when keys were last used (``key_uses.py``). The lifespan
flushes them about once a second, and once more as it stops; a write Redis refuses is put back
for the next."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from app.clock import Clock
from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.periods import stamps_at
from app.services.key_uses import KeyUses
from app.services.refusal_counts import RefusalCounts
from app.services.request_records import RecordMode, RequestRecords
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

    @classmethod
    def made(cls, records: RecordMode, clock: Clock, metrics: Metrics) -> Tallies:
        return cls(RefusalCounts(metrics), RequestRecords(records, clock, metrics), KeyUses(clock))


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
        tallies = self._tallies
        # Counts are added, so a write that may have run is not repeated (a Redis stall loses
        # a second of counts rather than doubling them); records and last uses are set, and
        # setting them again is harmless.
        await write_tally(tallies.refusals, self._add_refusals, repeatable=False)
        await write_tally(tallies.records, self._log.write, repeatable=True)
        await write_tally(tallies.key_uses, self._keys.note_used, repeatable=True)

    async def _add_refusals(self, counts: dict[tuple[str, str], int]) -> None:
        stamps = stamps_at(self._clock.now())
        await self._spend.add_refusals(counts, stamps, ttl_seconds=SPEND_RETENTION_SECONDS)


T = TypeVar("T")


class _Tally(Protocol[T]):
    def drain(self) -> T: ...
    def put_back(self, pending: T) -> None: ...


async def write_tally(
    tally: _Tally[T], write: Callable[[T], Awaitable[None]], *, repeatable: bool
) -> None:
    """What ``tally`` holds, written; kept for the next flush if Redis did not take it (or,
    for a ``repeatable`` write, may not have)."""
    pending = tally.drain()
    if not pending:
        return
    try:
        await write(pending)
    except StoreUnavailable as failed:
        if repeatable or not failed.may_have_run:
            tally.put_back(pending)
