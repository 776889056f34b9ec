"""Per-team webhooks, as every layer shares them: a webhook (where a team wants its events), its
signing secrets, the events it may take, how a delivery is signed (Standard Webhooks) and how
often a failed one is tried again.

A team registers webhooks in Rivya's shape (``/api/v1/webhooks``); the script that ends a task
writes one outbox entry per webhook that takes the event (``store/lua/_events.lua``), and the
deliveries (``services/deliveries.py``) send each at least once, the same id on every attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix Standard Webhooks gives secrets)
API_VERSION = "2026-05-11"  # the version Rivya's events carry


class EventType(StrEnum):
    SUCCEEDED = "generation.succeeded"
    FAILED = "generation.failed"
    TEST = "webhook.test"  # sent on demand (POST …/{id}/test), to every webhook asked


# The events a webhook may subscribe to, and what each means (GET /api/v1/webhook-events).
SUBSCRIBABLE = {
    EventType.SUCCEEDED: "A generation ended with its results (the generation object, with the "
    "gateway's result URLs).",
    EventType.FAILED: "A generation ended without results (final_credits 0).",
}


def new_secret() -> str:
    """A signing secret as Standard Webhooks has it: ``whsec_`` and 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_webhook_id() -> str:
    return "wh_" + secrets.token_hex(12)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` keyed by the secret's bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def event_id(tenant: str, task_id: str, event_type: str) -> str:
    """The id of a task's end: the same for every webhook and attempt, and if the end were ever
    written twice, so a receiver drops a repeat by it."""
    digest = hashlib.sha256(f"{tenant}|{task_id}|{event_type}".encode()).hexdigest()
    return "evt_" + digest[:24]


@dataclass(frozen=True)
class Webhook:
    """A team's webhook, stored as JSON in the team's webhooks hash (the scripts read ``id`` and
    ``event_types`` of it). ``previous_secret`` still signs until ``previous_until_ms``: during a
    rotation every delivery carries both signatures."""

    id: str
    name: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    created_ms: int
    updated_ms: int
    previous_secret: str | None = None
    previous_until_ms: int = 0
    # Where the team reached the gateway when it registered the webhook: the base of the result
    # links its events carry, unless GATEWAY_PUBLIC_URL says otherwise.
    link_base: str = ""
    # Filled in from the team's disabled hash (the deliveries stop a failing webhook).
    disabled_reason: str | None = field(default=None, compare=False)

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def signing_secrets(self, now_ms: int) -> list[str]:
        previous = self.previous_secret if now_ms < self.previous_until_ms else None
        return [self.secret] + ([previous] if previous else [])

    def signatures(self, message_id: str, timestamp: int, body: bytes, now_ms: int) -> str:
        """The ``webhook-signature`` header: one signature per secret live at ``now_ms``,
        space separated."""
        live = self.signing_secrets(now_ms)
        return " ".join(signature(s, message_id, timestamp, body) for s in live)

    def rotated(self, now_ms: int, overlap_ms: int) -> Webhook:
        return replace(
            self,
            secret=new_secret(),
            previous_secret=self.secret,
            previous_until_ms=now_ms + overlap_ms,
            updated_ms=now_ms,
        )

    def to_json(self) -> str:
        fields = {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "event_types": list(self.event_types),
            "secret": self.secret,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "previous_secret": self.previous_secret,
            "previous_until_ms": self.previous_until_ms,
            "link_base": self.link_base,
        }
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str, disabled_reason: str | None = None) -> Webhook:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            id=data["id"],
            name=data["name"],
            url=data["url"],
            event_types=tuple(data["event_types"]),
            secret=data["secret"],
            created_ms=int(data["created_ms"]),
            updated_ms=int(data["updated_ms"]),
            previous_secret=data.get("previous_secret"),
            previous_until_ms=int(data.get("previous_until_ms") or 0),
            link_base=data.get("link_base", ""),
            disabled_reason=disabled_reason,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed delivery is tried again: after each pause in turn (the last repeated),
    with up to ``jitter`` of it added at random, until ``window_seconds`` after the event was
    written or ``max_attempts`` were made; then it is given up."""

    pauses: tuple[float, ...]
    window_seconds: float
    jitter: float = 0.2
    max_attempts: int | None = None

    def pause_after(self, attempts: int, draw: float) -> float:
        """The pause after ``attempts`` failed attempts; ``draw`` in [0, 1)."""
        base = self.pauses[min(attempts - 1, len(self.pauses) - 1)]
        return base * (1 + self.jitter * draw)

    def gives_up(self, attempts: int, written_ms: int, next_attempt_ms: int) -> bool:
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return next_attempt_ms - written_ms > self.window_seconds * 1000


class Outcome(StrEnum):
    DELIVERED = "delivered"  # taken: no more attempts
    REFUSED = "refused"  # refused for good: sending again changes nothing
    RETRY = "retry"  # failed: try again later


@dataclass(frozen=True)
class Attempt:
    """How one attempt went, as the delivery log and the metrics tell it."""

    outcome: Outcome
    status_code: int | None = None
    error: str | None = None
    seconds: float = 0.0


# Exponential from 5 s, capped at an hour: eleven attempts in the first four hours, then
# hourly until the window ends (a day by default: WEBHOOK_RETRY_HOURS).
WEBHOOK_PAUSES = (5.0, 15.0, 45.0, 120.0, 300.0, 600.0, 1200.0, 2400.0, 3600.0)


@dataclass(frozen=True)
class DeliveryRecord:
    """One attempt, as the delivery log keeps it (``GET …/{id}/deliveries``)."""

    id: str  # the attempt's own id
    event_id: str
    event_type: str
    attempt: int
    at_ms: int
    outcome: str  # "delivered", "retrying", "failed" (given up), "dropped"
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> DeliveryRecord:
        return cls(**json.loads(raw))
