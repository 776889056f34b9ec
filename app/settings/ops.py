"""Running it: budget alerts, the org's balance, reconciliation, metrics, leaving, logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode


class OpsSettings(BaseSettings):
    # A team crossing one of these percentages of its budget (spent + reserved) in a period is
    # reported once: a log event and, with ALERT_WEBHOOK_URL, one signed POST.
    budget_alert_thresholds: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [80, 100]
    )
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_webhook_secret_file: Path | None = None
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    alert_webhook_attempts: int = Field(default=4, ge=1, le=10)
    # How long the org's Rivya balance (GET /api/v1/credits for a team without a budget, the
    # reconciliation's figures) is reused.
    org_balance_cache_seconds: float = Field(default=10.0, ge=0)
    # Below this many credits in the org's Rivya account, /admin/upstream, the dashboard, the
    # metrics and a log warning say the balance is low. None: no warning.
    org_balance_low_credits: int | None = Field(default=None, ge=0)
    # The first gateway to start on an empty Redis takes Rivya's balance as the reconciliation
    # baseline (later starts keep it; POST /admin/upstream/baseline resets it).
    reconciliation_baseline_at_start: bool = True
    metrics_cache_seconds: float = Field(default=5.0, ge=0)  # scrapes within it share one read

    # Leaving (app/lifecycle.py): on SIGTERM, /readyz answers 503 while the process still
    # serves for this long; then the requests in flight get up to the grace to finish.
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    shutdown_grace_seconds: float = Field(default=65.0, ge=0, le=3600)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Which answered requests are kept, by request id, for ops to look up
    # (services/request_records.py): errors and refusals; with the writes; every request; none.
    request_records: Literal["errors", "errors_and_writes", "all", "off"] = "errors"

    @field_validator("budget_alert_thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> Any:
        # "80,100" (or JSON's [80, 100]) in the environment.
        if isinstance(value, str):
            return [part for part in value.strip(" []").replace(" ", "").split(",") if part]
        return value

    @field_validator("budget_alert_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: list[int]) -> list[int]:
        if any(not 1 <= t <= 1000 for t in value):
            raise ValueError("each threshold is a percentage of the budget, 1 to 1000")
        return sorted(set(value))

    @model_validator(mode="after")
    def _alerts_are_signed(self) -> Self:
        if self.alert_webhook_url is not None:
            if urlsplit(self.alert_webhook_url).scheme not in {"http", "https"}:
                raise ValueError("ALERT_WEBHOOK_URL must be an http(s) URL")
            if self.alert_webhook_secret is None or len(self.alert_webhook_secret) < 16:
                raise ValueError(
                    "ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_SECRET (16+ characters): receivers "
                    "check each alert's signature with it"
                )
        return self
