"""Following tasks to their end: every replica runs a settler that polls the tasks it (or any
replica) created until they end, as rivya-api.md advises: first after 2-3 s, then every 5-10 s,
jittered."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from app.domain.settlement import PollSchedule


class SettlementSettings(BaseSettings):
    settler_enabled: bool = True
    settler_first_poll_min_seconds: float = Field(default=2.0, ge=0)
    settler_first_poll_max_seconds: float = Field(default=3.0, ge=0)
    settler_poll_min_seconds: float = Field(default=5.0, gt=0)
    settler_poll_max_seconds: float = Field(default=10.0, gt=0)
    settler_slow_after_seconds: float = Field(default=300.0, gt=0)  # then poll 3x less often
    # Rivya's longest task is undocumented; past this a task that has not ended (or that Rivya
    # no longer knows) is charged what it held and stops holding an in-flight slot.
    settler_give_up_after_seconds: float = Field(default=86_400.0, gt=0)
    settler_tick_seconds: float = Field(default=0.5, gt=0)
    settler_lease_seconds: float = Field(default=30.0, gt=0)
    settler_batch: int = Field(default=100, ge=1)
    settler_concurrency: int = Field(default=16, ge=1)
    settler_teams_at_once: int = Field(default=8, ge=1)
    settler_sweep_seconds: float = Field(default=120.0, gt=0)

    @model_validator(mode="after")
    def _poll_ranges_in_order(self) -> Self:
        if self.settler_first_poll_min_seconds > self.settler_first_poll_max_seconds:
            raise ValueError(
                "SETTLER_FIRST_POLL_MIN_SECONDS exceeds SETTLER_FIRST_POLL_MAX_SECONDS"
            )
        if self.settler_poll_min_seconds > self.settler_poll_max_seconds:
            raise ValueError("SETTLER_POLL_MIN_SECONDS exceeds SETTLER_POLL_MAX_SECONDS")
        return self

    @property
    def poll_schedule(self) -> PollSchedule:
        return PollSchedule(
            first_min=self.settler_first_poll_min_seconds,
            first_max=self.settler_first_poll_max_seconds,
            every_min=self.settler_poll_min_seconds,
            every_max=self.settler_poll_max_seconds,
            slow_after=self.settler_slow_after_seconds,
        )
