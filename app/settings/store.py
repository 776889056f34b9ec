"""Reaching the store: enough for the admin CLI, which needs no org key."""

from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The CLI also reads what `make run` wrote about the instance it started (REDIS_URL, …): the
# Redis the running gateway uses wins over a .env of your own; the environment over both.
MAKE_RUN_ENV = Path(".run/env")

SECONDS_A_DAY = 86_400


class StoreSettings(BaseSettings):
    """What reaching the store takes: enough for the admin CLI, which needs no org key."""

    model_config = SettingsConfigDict(
        env_file=(".env", MAKE_RUN_ENV),  # the later file wins
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,  # a startup error must never print a secret
    )

    redis_url: str = "redis://localhost:6379/0"
    redis_key_prefix: str = Field(default="gw", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_max_connections: int = Field(default=200, ge=1)
    # A money or admin write counts once this many replicas hold it (WAIT, in the script's own
    # round trip: store/replicated.py), so a failover cannot lose it. None: 1 for redis+sentinel://
    # (a Sentinel set has a replica to promote), 0 otherwise (a Cluster may have no replicas:
    # set 1 when each master has one).
    redis_wait_replicas: int | None = Field(default=None, ge=0)
    # At least a millisecond: WAIT takes whole ms, and WAIT n 0 would wait for ever.
    redis_wait_timeout_seconds: float = Field(default=0.5, ge=0.001)
    catalog_path: Path | None = None  # None: the packaged app/models.yaml
    # Each team's spend ledger keeps about this many of its latest money moves (a Redis stream,
    # ~150 bytes an entry): at 100,000, a busy team's last few weeks in ~15 MB at most.
    ledger_max_entries_per_team: int = Field(default=100_000, ge=1000)
    # Undelivered events one webhook may have waiting in its team's outbox (~200 bytes each);
    # past it, the webhook is stopped (its receiver is not taking them) until a team re-enables it.
    webhook_max_backlog: int = Field(default=10_000, ge=10)
    task_retention_days: int = Field(default=30, ge=1)
    # How long a request's record (REQUEST_RECORDS) is kept for ops to look it up by its id.
    request_record_hours: int = Field(default=48, ge=1, le=720)

    @model_validator(mode="after")
    def _replication_waits_fit(self) -> Self:
        if not self.replicas_to_wait_for:
            return self
        if self.redis_wait_timeout_seconds >= self.redis_timeout_seconds:
            raise ValueError(
                "REDIS_WAIT_TIMEOUT_SECONDS must be shorter than REDIS_TIMEOUT_SECONDS: the "
                "replicas' acknowledgement comes in the same answer as the script's"
            )
        return self

    @property
    def replicas_to_wait_for(self) -> int:
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if urlsplit(self.redis_url).scheme == "redis+sentinel" else 0

    @property
    def task_retention_seconds(self) -> int:
        """How long a task's record (and a token's credits, and a file's) is kept."""
        return self.task_retention_days * SECONDS_A_DAY
