"""The simulator's settings: one value, read from ``SIM_*`` environment variables at start."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_API_KEY = "rvya_sk_simulator_dev_key"


class SimulatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIM_", extra="ignore", frozen=True)

    api_key: SecretStr = SecretStr(DEV_API_KEY)
    initial_credits: int = Field(default=100_000, ge=0)
    # How long a task stays in each non-terminal status, in seconds of the injected clock.
    queued_seconds: float = Field(default=1.0, ge=0)
    processing_seconds: float = Field(default=4.0, ge=0)
    # Starting values of the matching fault switches (they can be changed at runtime).
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: int = Field(default=0, ge=0)
    # Base of result and file URLs; None derives it from the request that created the thing.
    public_base_url: str | None = None
    idempotency_window_seconds: float = Field(default=600.0, ge=0)
    seed: int | None = None
    image_size: int = Field(default=512, ge=16, le=4096)
    # Rivya takes only public HTTPS webhook targets; for local use (make run) plain http too.
    allow_insecure_webhooks: bool = False
