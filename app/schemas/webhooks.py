"""Webhooks in Rivya's shape (``/api/v1/webhooks``): what a team sends and is answered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.clock import iso_timestamp
from app.domain.webhooks import SUBSCRIBABLE, DeliveryRecord, Webhook

EVENT_TYPES = [str(t) for t in SUBSCRIBABLE]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=2048)
    event_types: list[str] = Field(
        default_factory=lambda: list(EVENT_TYPES), min_length=1, max_length=10
    )


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=100)
    url: str | None = Field(default=None, min_length=1, max_length=2048)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=10)
    # false stops deliveries; true restarts a webhook the gateway stopped (it kept failing).
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: str
    object: Literal["webhook"] = "webhook"
    name: str
    url: str
    event_types: list[str]
    enabled: bool
    status: Literal["enabled", "disabled"]
    # Why it is stopped: "failing" (an event failed for its whole retry window), "backlog"
    # (too many events waiting), "stopped by the team"; null while it is delivered to.
    disabled_reason: str | None
    created_at: str
    updated_at: str
    # Shown once: in the answer to its registration and to each rotation.
    secret: str | None = None

    @classmethod
    def of(cls, webhook: Webhook, *, with_secret: bool = False) -> WebhookOut:
        return cls(
            id=webhook.id,
            name=webhook.name,
            url=webhook.url,
            event_types=list(webhook.event_types),
            enabled=webhook.enabled,
            status="enabled" if webhook.enabled else "disabled",
            disabled_reason=webhook.disabled_reason,
            created_at=iso_timestamp(webhook.created_ms / 1000),
            updated_at=iso_timestamp(webhook.updated_ms / 1000),
            secret=webhook.secret if with_secret else None,
        )


class WebhookList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    event_id: str
    event_type: str
    attempt: int
    # delivered; retrying (failed, tried again later); failed (given up); dropped (its webhook
    # was stopped before it was sent)
    status: str
    response_status: int | None
    error: str | None
    duration_ms: int
    created_at: str

    @classmethod
    def of(cls, record: DeliveryRecord) -> DeliveryOut:
        return cls(
            id=record.id,
            event_id=record.event_id,
            event_type=record.event_type,
            attempt=record.attempt,
            status=record.outcome,
            response_status=record.status_code,
            error=record.error,
            duration_ms=record.duration_ms,
            created_at=iso_timestamp(record.at_ms / 1000),
        )


class DeliveryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DeliveryOut]


class EventTypeOut(BaseModel):
    type: str
    description: str


class EventTypeList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EventTypeOut]


class TestSent(BaseModel):
    object: Literal["webhook_test"] = "webhook_test"
    event_id: str
    webhook_id: str
