"""Delivering the teams' outboxes: each event to its team's webhook (``services/
webhook_sender.py``), or to ops (a budget alert: ``services/alerts.py``), at least once.

Every replica delivers. When its settler works a team it asks here to start that team's due
entries (``start_due``): each is leased in Redis (``claim_outbox.lua``) so one replica at a time
sends it, and sent in the background, so a slow receiver never holds the settler (at most
``at_once`` deliveries a replica, ``per_team`` of one team). A delivery that fails is due again
after a backoff with jitter, the same event id on every attempt, until its retry window ends:
then it is given up, and its webhook, which kept failing, is stopped (said in its delivery
log, the metrics and the dashboard; a team re-enables it with PATCH). A replica that dies
mid-delivery leaves the entry leased: due again when the lease ends, and another sends it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import secrets
from collections import defaultdict

from app.clock import Clock
from app.domain.webhooks import (
    Attempt,
    DeliveryRecord,
    EventType,
    Outcome,
    RetryPolicy,
    Webhook,
)
from app.errors import StoreUnavailable
from app.metrics import Metrics
from app.services.alerts import BudgetAlerts
from app.services.webhook_events import WebhookEvents
from app.services.webhook_sender import WebhookSender
from app.store.outbox import Outbox, OutboxEntry
from app.store.webhooks import WebhookStore

log = logging.getLogger("app.deliveries")

ONCE = RetryPolicy((0.0,), 0.0, max_attempts=1)


class Deliveries:
    def __init__(
        self,
        outbox: Outbox,
        webhooks: WebhookStore,
        events: WebhookEvents,
        sender: WebhookSender,
        alerts: BudgetAlerts,
        clock: Clock,
        metrics: Metrics,
        *,
        policy: RetryPolicy,
        lease_seconds: float,
        at_once: int,
        per_team: int,
    ) -> None:
        self._outbox, self._webhooks, self._events = outbox, webhooks, events
        self._sender, self._alerts, self._clock, self._metrics = sender, alerts, clock, metrics
        self._policy, self._lease = policy, lease_seconds
        self._at_once, self._per_team = at_once, per_team
        self._running: dict[str, set[asyncio.Task[None]]] = defaultdict(set)
        self._rng = random.Random()

    def in_flight(self) -> int:
        return sum(len(jobs) for jobs in self._running.values())

    async def start_due(self, tenant: str) -> int:
        """Lease the team's due entries, as many as there is room for, and start sending them;
        returns how many were started."""
        room = min(self._at_once - self.in_flight(), self._per_team - len(self._running[tenant]))
        entries = await self._outbox.lease(tenant, lease_seconds=self._lease, limit=room)
        for entry in entries:
            job = asyncio.create_task(self._deliver(tenant, entry))
            self._running[tenant].add(job)
            job.add_done_callback(functools.partial(self._finished, tenant))
        if not self._running[tenant]:
            del self._running[tenant]
        return len(entries)

    async def deliver_due(self, tenant: str) -> int:
        """Start the team's due entries and wait for them (a one-off pass)."""
        started = await self.start_due(tenant)
        await self.drain()
        return started

    async def drain(self) -> None:
        """Wait for every delivery in flight to end."""
        while jobs := [j for running in self._running.values() for j in running if not j.done()]:
            await asyncio.gather(*jobs, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop: deliveries in flight are cut off; their leases lapse and another sends them."""
        jobs = [job for running in self._running.values() for job in running]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    def _finished(self, tenant: str, job: asyncio.Task[None]) -> None:
        running = self._running.get(tenant)
        if running is not None:
            running.discard(job)
            if not running:
                del self._running[tenant]

    async def _deliver(self, tenant: str, entry: OutboxEntry) -> None:
        try:
            if entry.webhook_id:
                await self._to_webhook(tenant, entry)
            else:
                attempt = await self._alerts.send(tenant, entry)
                await self._conclude(tenant, entry, attempt, self._alerts.retry_policy)
        except StoreUnavailable:
            log.warning("delivery not concluded, Redis unavailable", extra={"tenant": tenant})
        except Exception:
            log.exception("delivery failed", extra={"tenant": tenant, "entry": entry.id})

    async def _to_webhook(self, tenant: str, entry: OutboxEntry) -> None:
        webhook = await self._webhooks.get(tenant, entry.webhook_id)
        if webhook is None or not webhook.enabled:
            # Deleted or stopped: its events go with it (logged while it exists).
            await self._outbox.done(tenant, entry)
            if webhook is not None:
                await self._log(tenant, webhook, entry, "dropped", Attempt(Outcome.REFUSED))
            return
        try:
            event = await self._events.event(tenant, entry, webhook)
        except StoreUnavailable:
            raise  # its lease lapses: tried again once Redis answers
        except Exception as exc:  # counted as a failed attempt: never leased forever unsent
            log.exception("webhook event not built", extra={"tenant": tenant, "entry": entry.id})
            event, attempt = {"id": ""}, Attempt(Outcome.RETRY, error=type(exc).__name__)
        else:
            attempt = await self._sender.send(webhook, event)
        # A test event is tried once: a receiver answers it or not, now.
        policy = ONCE if entry.fields.get("type") == EventType.TEST else self._policy
        outcome = await self._conclude(tenant, entry, attempt, policy)
        await self._log(tenant, webhook, entry, outcome, attempt, event_id=event["id"])
        if outcome == "failed" and policy is self._policy:
            await self._webhooks.stop(tenant, webhook.id, "failing")
            self._metrics.webhooks_stopped.labels(_team(tenant), "failing").inc()
            log.error(
                "webhook stopped: it failed every attempt of an event for its whole window",
                extra={"tenant": tenant, "webhook_id": webhook.id},
            )

    async def _conclude(
        self, tenant: str, entry: OutboxEntry, attempt: Attempt, policy: RetryPolicy
    ) -> str:
        """Remove the entry, or schedule its next attempt; returns what the log says of it."""
        attempts = entry.attempts + 1
        if attempt.outcome is not Outcome.RETRY:
            await self._outbox.done(tenant, entry)
            return "delivered" if attempt.outcome is Outcome.DELIVERED else "failed"
        pause = policy.pause_after(attempts, self._rng.random())
        at_ms = int((self._clock.now() + pause) * 1000)
        if policy.gives_up(attempts, entry.written_ms, at_ms):
            await self._outbox.done(tenant, entry)
            return "failed"
        await self._outbox.retry_at(tenant, entry.id, attempts=attempts, at_ms=at_ms)
        return "retrying"

    async def _log(
        self,
        tenant: str,
        webhook: Webhook,
        entry: OutboxEntry,
        outcome: str,
        attempt: Attempt,
        event_id: str = "",
    ) -> None:
        self._metrics.webhook_deliveries.labels(_team(tenant), outcome).inc()
        record = DeliveryRecord(
            id="dlv_" + secrets.token_hex(8),
            event_id=event_id,
            event_type=entry.fields.get("type", ""),
            attempt=entry.attempts + 1,
            at_ms=int(self._clock.now() * 1000),
            outcome=outcome,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=int(attempt.seconds * 1000),
        )
        await self._webhooks.log(tenant, webhook.id, record)


def _team(tenant: str) -> str:
    return tenant.partition("@")[0]
