"""A team's outbox: events written by the script that decided them (budget alerts:
``lua/_alerts.lua``; a task's end for each webhook that takes it: ``lua/_events.lua``), leased,
sent and deleted by the deliveries (``services/deliveries.py``). An entry stays until it is
delivered or given up, and is leased while it is sent: a replica that dies mid-delivery leaves it
due again when its lease ends, and another sends it, with the same id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from app.clock import Clock, script_time
from app.store.contracts import schedule as c
from app.store.keyspace import KeySpace
from app.store.redis import store_errors
from app.store.schedule import DueTeams
from app.store.scripts import Scripts

TEST_INTERVAL_SECONDS = 10.0  # one test event a webhook in this long, at most


@dataclass(frozen=True)
class OutboxEntry:
    id: str  # the stream id: "<Redis time, ms>-<sequence>"
    fields: dict[str, str]
    attempts: int  # delivery attempts so far

    @property
    def written_ms(self) -> int:
        """When it was written, by the clock of the script that wrote it (else the stream's)."""
        return int(self.fields.get("at") or self.id.split("-", 1)[0])

    @property
    def webhook_id(self) -> str:
        """The webhook it is for; "" for a budget alert (ops' own)."""
        return self.fields.get("webhook", "") if self.fields.get("kind") == "webhook" else ""


class Outbox:
    def __init__(
        self, redis: Redis, keys: KeySpace, scripts: Scripts, clock: Clock, due: DueTeams
    ) -> None:
        self._redis, self._keys, self._scripts = redis, keys, scripts
        self._clock, self._due = clock, due

    async def lease(self, tenant: str, *, lease_seconds: float, limit: int) -> list[OutboxEntry]:
        """Lease up to ``limit`` of the team's due entries (``claim_outbox.lua``)."""
        if limit <= 0:
            return []
        k = self._keys
        with store_errors():
            rows = await self._scripts.claim_outbox(
                keys=c.OutboxKeys(
                    k.outbox(tenant), k.outbox_due(tenant), k.outbox_attempts(tenant)
                ),
                args=c.ClaimOutboxArgs(
                    time=script_time(self._clock), lease_ms=int(lease_seconds * 1000), limit=limit
                ),
            )
        return [OutboxEntry(str(id_), _pairs(fields), int(tried)) for id_, tried, fields in rows]

    async def done(self, tenant: str, entry: OutboxEntry) -> None:
        """The entry needs no more attempts: delivered, refused for good or given up."""
        k = self._keys
        with store_errors():
            await self._scripts.outbox_done(
                keys=c.OutboxDoneKeys(
                    k.outbox(tenant),
                    k.outbox_due(tenant),
                    k.outbox_attempts(tenant),
                    k.outbox_backlog(tenant),
                ),
                args=c.OutboxDoneArgs(entry_id=entry.id, webhook_id=entry.webhook_id),
            )

    async def retry_at(self, tenant: str, entry_id: str, *, attempts: int, at_ms: int) -> None:
        """Try the entry again at ``at_ms``, if it is still there (``outbox_retry.lua``)."""
        k = self._keys
        with self._due.scheduling(tenant), store_errors():
            index_at = await self._scripts.outbox_retry(
                keys=c.OutboxRetryKeys(
                    k.outbox(tenant),
                    k.outbox_due(tenant),
                    k.outbox_attempts(tenant),
                    k.scheduled(tenant),
                ),
                args=c.OutboxRetryArgs(
                    entry_id=entry_id, attempts=f"{attempts}|{at_ms}", time=script_time(self._clock)
                ),
            )
        await self._due.index_at(tenant, int(index_at))

    async def add_test(self, tenant: str, webhook_id: str, event_id: str) -> int:
        """Write a test event for one webhook, due now (``add_test_event.lua``): 1 written, -1
        its backlog is full, -2 it was tested less than ``TEST_INTERVAL_SECONDS`` ago."""
        k = self._keys
        with self._due.scheduling(tenant), store_errors():
            outcome, index_at = await self._scripts.add_test_event(
                keys=c.AddTestEventKeys(
                    k.outbox(tenant),
                    k.outbox_due(tenant),
                    k.outbox_backlog(tenant),
                    k.webhook_tested(tenant, webhook_id),
                    k.scheduled(tenant),
                ),
                args=c.AddTestEventArgs(
                    webhook_id=webhook_id,
                    event_id=event_id,
                    time=script_time(self._clock),
                    interval_ms=int(TEST_INTERVAL_SECONDS * 1000),
                ),
            )
        await self._due.index_at(tenant, int(index_at))
        return int(outcome)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat), 2)}
