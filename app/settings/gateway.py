"""``Settings``: every part (``app/settings/*``) and what spans them."""

from __future__ import annotations

from typing import Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from app.domain.settlement import SettlePass
from app.settings.limits import LimitSettings
from app.settings.ops import OpsSettings
from app.settings.results import ResultSettings
from app.settings.secrets import SecretSettings
from app.settings.settlement import SettlementSettings
from app.settings.store import StoreSettings
from app.settings.upstream import UpstreamSettings
from app.settings.webhooks import WebhookSettings


class Settings(
    StoreSettings,
    UpstreamSettings,
    SecretSettings,
    SettlementSettings,
    LimitSettings,
    OpsSettings,
    ResultSettings,
    WebhookSettings,
):
    """Everything the gateway process needs, validated at start."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,  # a startup error must never print a secret
    )

    default_model: str | None = None  # None: the catalogue's default (flux-kontext-max)
    key_cache_seconds: float = Field(default=2.0, ge=0)
    wait_poll_seconds: float = Field(default=2.0, gt=0)

    # Idempotency (issue 4): how long a claim is kept, how long a repeat waits for the create
    # it repeats, and how many repeats of one team may wait at once in a process (more are
    # answered 409 request_in_progress at once).
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    idempotency_wait_seconds: float = Field(default=10.0, ge=0)
    idempotency_waiters_per_team: int = Field(default=8, ge=0)
    # How long a create whose admission answer was lost (Redis stalled past its timeout) waits
    # for its cancel to land before answering 503; the cancel goes on in the background.
    admission_cancel_wait_seconds: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _records_outlive_their_use(self) -> Self:
        if self.idempotency_ttl_seconds < self.rivya_idempotency_window_seconds:
            raise ValueError(
                "IDEMPOTENCY_TTL_SECONDS must be at least RIVYA_IDEMPOTENCY_WINDOW_SECONDS: a "
                "claim must outlive the resends of its create"
            )
        if self.task_retention_seconds <= self.settler_give_up_after_seconds:
            raise ValueError(
                "TASK_RETENTION_DAYS must be longer than SETTLER_GIVE_UP_AFTER_SECONDS: a task's "
                "record must outlive the settler's wait for its end"
            )
        return self

    @model_validator(mode="after")
    def _secrets_are_strong(self) -> Self:
        # A placeholder is shipped in the examples, so known to anyone: only a local demo
        # against the simulator (no money, nothing reachable from elsewhere) may use one.
        problem = self.weak_secret(placeholders_allowed=self.local_demo)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def upstream_call_seconds(self) -> float:
        """The longest one call to Rivya takes (a poll, or a create's resend): every attempt."""
        return max(self.settler_lease_seconds, self.create_lease_seconds)

    @property
    def settle_pass(self) -> SettlePass:
        return SettlePass(
            # A lease must outlast the longest poll: every attempt, the retry budget.
            lease_seconds=self.upstream_call_seconds,
            batch=self.settler_batch,
            concurrency=self.settler_concurrency,
            give_up_after_seconds=self.settler_give_up_after_seconds,
        )

    @property
    def secrets(self) -> list[str]:
        """Every secret value set: what the logs redact."""
        values = [self.org_key]
        for secret in (
            self.gateway_admin_token,
            self.gateway_token_secret,
            self.gateway_token_previous_secret,
            self.alert_webhook_secret,
            self.metrics_token,
            self.rivya_webhook_token,
        ):
            if secret is not None:
                values.append(secret.get_secret_value())
        if self.rivya_proxy_url is not None:  # the egress proxy's password, if it has one
            password = urlsplit(self.rivya_proxy_url.get_secret_value()).password or ""
            values += [password, unquote(password)]
        return values
