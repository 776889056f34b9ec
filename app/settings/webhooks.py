"""Per-team webhooks: which targets may be called, how a delivery is sent and retried, and
how much one team may ask of them."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from app.domain.webhook_targets import TargetPolicy
from app.domain.webhooks import WEBHOOK_PAUSES, RetryPolicy


class WebhookSettings(BaseSettings):
    # Hosts (names or addresses, comma separated) a webhook may target over plain http and at
    # any address, loopback and private included: for receivers inside the org's network and
    # for local use. Any other target must be https and resolve to public addresses only.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    webhooks_per_team: int = Field(default=10, ge=1, le=100)
    # A failed delivery is retried (backoff with jitter, from 5 s to hourly) for this long
    # after its first attempt; then it is given up and its webhook stopped.
    webhook_retry_hours: float = Field(default=24.0, gt=0, le=168)
    # Deliveries in flight at once, per replica, and per team within that.
    webhook_deliveries_at_once: int = Field(default=32, ge=1)
    webhook_deliveries_per_team: int = Field(default=8, ge=1)
    # After a rotation, the old secret also signs for this long (both signatures are sent).
    webhook_rotation_overlap_hours: float = Field(default=24.0, ge=0, le=720)

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        if isinstance(value, str):  # "a.internal,127.0.0.1" in the environment
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @property
    def webhook_retry_policy(self) -> RetryPolicy:
        return RetryPolicy(WEBHOOK_PAUSES, self.webhook_retry_hours * 3600)

    @property
    def webhook_target_policy(self) -> TargetPolicy:
        return TargetPolicy(frozenset(self.webhook_allowed_hosts))
