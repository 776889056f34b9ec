"""Budget alerts: a team crossing a threshold of its budget (``BUDGET_ALERT_THRESHOLDS``) is
reported once per crossing: a log event and, with ``ALERT_WEBHOOK_URL``, one signed POST.

Exactly-once across replicas is decided in ``admit.lua``: the admission that first reaches a
threshold marks it (per budget and period) in the same step that reserves, and only that
replica reports it. Delivery then retries with backoff (``ALERT_WEBHOOK_ATTEMPTS``); every
attempt carries the same event id, so a receiver that saw an attempt time out on its side can
drop the repeat. A replica that dies between the mark and the POST loses that alert; the log
and the budget metrics still show the crossing.

Signature: ``X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with
``ALERT_WEBHOOK_SECRET``; receivers recompute it and reject stale ``t``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from app.clock import Clock, iso_timestamp
from app.domain import BudgetPeriod, Team
from app.services.aftercare import Aftercare

log = logging.getLogger("app.alerts")

RETRY_PAUSES = (1.0, 4.0, 15.0, 60.0, 120.0)  # seconds before attempts 2, 3, …
DELIVERY_SECONDS = 600.0  # an undelivered alert is dropped after this (aftercare bound)


@dataclass(frozen=True)
class Crossing:
    team: Team
    budget_period: BudgetPeriod  # as the admission script enforced it, not a cached team's
    period_id: str
    threshold_percent: int
    budget_credits: int
    used_credits: int  # spent + reserved, with this create (or, refused, without it)
    refused: bool  # a create was refused for budget: as far as it goes, the budget is used up

    def event(self, now: float) -> dict[str, Any]:
        return {
            "id": f"budget:{self.team.space}:{self.period_id}:{self.budget_credits}:"
            f"{self.threshold_percent}",
            "type": "budget.threshold_crossed",
            "created_at": iso_timestamp(now),
            "team": self.team.id,
            "budget_period": self.budget_period,
            "period_id": self.period_id,
            "threshold_percent": self.threshold_percent,
            "budget_credits": self.budget_credits,
            "used_credits": self.used_credits,
            "refused": self.refused,
        }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    client: httpx.AsyncClient  # ops' own: it never carries the org key
    attempts: int


class BudgetAlerts:
    def __init__(self, aftercare: Aftercare, clock: Clock, webhook: Webhook | None) -> None:
        self._aftercare, self._clock, self._webhook = aftercare, clock, webhook

    def crossed(self, crossing: Crossing) -> None:
        event = crossing.event(self._clock.now())
        log.warning("budget threshold crossed", extra={"alert": event})
        if (webhook := self._webhook) is not None:
            self._aftercare.start(
                "deliver a budget alert",
                lambda: self._deliver(webhook, event),
                within_seconds=DELIVERY_SECONDS,
            )

    async def _deliver(self, webhook: Webhook, event: dict[str, Any]) -> bool:
        body = json.dumps(event, separators=(",", ":")).encode()
        for attempt in range(webhook.attempts):
            if attempt:
                await self._clock.sleep(RETRY_PAUSES[min(attempt - 1, len(RETRY_PAUSES) - 1)])
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "rivya-gateway-alerts",
                "X-Gateway-Event-Id": event["id"],
                "X-Gateway-Signature": sign(webhook.secret, int(self._clock.now()), body),
            }
            try:
                answer = await webhook.client.post(webhook.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning(
                    "budget alert not delivered",
                    extra={
                        "alert_id": event["id"],
                        "attempt": attempt + 1,
                        "error": type(exc).__name__,
                    },
                )
                continue
            if answer.is_success:
                return True
            log.warning(
                "budget alert refused by its receiver",
                extra={
                    "alert_id": event["id"],
                    "attempt": attempt + 1,
                    "status": answer.status_code,
                },
            )
            if answer.status_code < 500 and answer.status_code not in (408, 429):
                return False  # the receiver rejects it: sending it again changes nothing
        log.error("budget alert dropped after every attempt", extra={"alert_id": event["id"]})
        return False
