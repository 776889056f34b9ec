"""Budget alerts, delivered from the teams' outboxes at least once.

The script that moves a team's money writes the alert to the team's outbox in the same atomic
step (``store/lua/_alerts.lua``), once per budget and period:

- ``budget.threshold_crossed``: the credits the team holds and has spent in its budget's period
  reached a threshold (``BUDGET_ALERT_THRESHOLDS``), counted only where money really moved (a
  task attached to its reservation, a create charged as spent): an admission undone or refused
  crosses nothing;
- ``budget.create_refused``: the period's first create refused for the budget.

The deliveries (``services/deliveries.py``, which also send the teams' webhooks from the same
outbox) lease each event and hand it here: it is logged, and with ``ALERT_WEBHOOK_URL`` POSTed,
signed, retried with backoff up to ``ALERT_WEBHOOK_ATTEMPTS`` attempts, the same event id on
every one, so a receiver that saw an attempt time out on its side can drop the repeat. An event
leaves the outbox only once delivered or given up: a replica that dies mid-delivery loses
nothing (its lease lapses, and another sends it).

Signature: ``X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with
``ALERT_WEBHOOK_SECRET``; receivers recompute it and reject stale ``t``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import httpx

from app.clock import Clock, iso_timestamp
from app.domain.webhooks import Attempt, Outcome, RetryPolicy
from app.store.outbox import OutboxEntry

log = logging.getLogger("app.alerts")

RETRY_PAUSES = (1.0, 4.0, 15.0, 60.0, 120.0)  # seconds before attempts 2, 3, …


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    client: httpx.AsyncClient  # ops' own: it never carries the org key
    attempts: int


def alert_event(tenant: str, entry: OutboxEntry) -> dict[str, Any]:
    """The event an outbox entry stands for; its id is the same however often it is sent."""
    f = entry.fields
    refused = f.get("kind") == "refused"
    mark = "refused" if refused else f.get("threshold", "")
    event: dict[str, Any] = {
        "id": f"budget:{tenant}:{f.get('period_id')}:{f.get('budget')}:{mark}",
        "type": "budget.create_refused" if refused else "budget.threshold_crossed",
        "created_at": iso_timestamp(entry.written_ms / 1000),
        "team": tenant.partition("@")[0],
        "budget_period": f.get("period"),
        "period_id": f.get("period_id"),
        "budget_credits": int(f.get("budget", 0)),
        "used_credits": int(f.get("used", 0)),
        "refused": refused,
    }
    if refused:
        event["needed_credits"] = int(f.get("needed", 0))
    else:
        event["threshold_percent"] = int(f.get("threshold", 0))
    return event


class BudgetAlerts:
    """Ops' side of the outbox: each alert logged once, and with ``ALERT_WEBHOOK_URL`` POSTed,
    signed (``services/deliveries.py`` leases the entry and retries it)."""

    def __init__(self, clock: Clock, webhook: Webhook | None) -> None:
        self._clock, self._webhook = clock, webhook

    @property
    def retry_policy(self) -> RetryPolicy:
        attempts = self._webhook.attempts if self._webhook is not None else 1
        return RetryPolicy(RETRY_PAUSES, math.inf, jitter=0.0, max_attempts=attempts)

    async def send(self, tenant: str, entry: OutboxEntry) -> Attempt:
        event = alert_event(tenant, entry)
        if entry.attempts == 0:  # at least once, like the delivery
            log.warning("budget alert", extra={"alert": event})
        if self._webhook is None:
            return Attempt(Outcome.DELIVERED)
        return await self._post(self._webhook, event, entry.attempts + 1)

    async def _post(self, webhook: Webhook, event: dict[str, Any], attempt: int) -> Attempt:
        """Delivered once taken; refused for good on a 4xx other than 408 and 429 (sending it
        again changes nothing); else to be retried."""
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "rivya-gateway-alerts",
            "X-Gateway-Event-Id": event["id"],
            "X-Gateway-Signature": sign(webhook.secret, int(self._clock.now()), body),
        }
        where = {"alert_id": event["id"], "attempt": attempt}
        try:
            answer = await webhook.client.post(webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("budget alert not delivered", extra={**where, "error": type(exc).__name__})
            return Attempt(Outcome.RETRY, error=type(exc).__name__)
        if answer.is_success:
            return Attempt(Outcome.DELIVERED, answer.status_code)
        log.warning(
            "budget alert refused by its receiver", extra={**where, "status": answer.status_code}
        )
        if answer.status_code < 500 and answer.status_code not in (408, 429):
            log.error("budget alert dropped: its receiver refuses it", extra=where)
            return Attempt(Outcome.REFUSED, answer.status_code)
        return Attempt(Outcome.RETRY, answer.status_code)
