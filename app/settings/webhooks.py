"""Per-team webhooks: which targets may be called, how a delivery is sent and retried, and
how much one team may ask of them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from app.domain.webhook_targets import TargetPolicy
from app.domain.webhooks import WEBHOOK_PAUSES, RetryPolicy


class WebhookSettings(BaseSettings):
    # Hosts (names or addresses, comma separated) a webhook may target over plain http and at
    # any address, loopback and private included: for receivers inside the org's network and
    # for local use. Any other target must be https and resolve to public addresses only.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # One delivery attempt, all told (resolving the name, connecting, sending, the answer).
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

    # Rivya's own (account-level) webhook, as a hint: where Rivya reaches this gateway's
    # POST /webhooks/rivya (https://gateway.example.com/webhooks/rivya); empty: no hints, tasks
    # are polled on the schedule alone. Registered with Rivya at start unless already there
    # (RIVYA_WEBHOOK_REGISTER), with RIVYA_WEBHOOK_TOKEN added to it when set (then required).
    rivya_webhook_url: str | None = None
    rivya_webhook_token: SecretStr | None = None
    rivya_webhook_token_file: Path | None = None
    rivya_webhook_register: bool = True
    # A task is polled on a hint at most once in this long (hints are deduplicated).
    rivya_hint_min_seconds: float = Field(default=1.0, ge=0.1, le=60)

    @property
    def rivya_webhook_target(self) -> str | None:
        """The URL registered with Rivya: RIVYA_WEBHOOK_URL, with the token when set."""
        if not self.rivya_webhook_url:
            return None
        if self.rivya_webhook_token is None:
            return self.rivya_webhook_url
        joiner = "&" if "?" in self.rivya_webhook_url else "?"
        token = quote(self.rivya_webhook_token.get_secret_value(), safe="")
        return f"{self.rivya_webhook_url}{joiner}token={token}"

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
