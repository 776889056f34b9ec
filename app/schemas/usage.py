"""``GET /v1/usage``: a team's spend and limits, or a browser token's own."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.clock import Timestamp
from app.domain.teams import BudgetPeriod


class KeyUsage(BaseModel):
    """The calling key's own budget and spend (a budget beside its team's: the lesser limits)."""

    key_id: str
    budget_credits: int | None = Field(description="null: the key has no budget of its own")
    budget_period: BudgetPeriod = Field(description="without a budget, the month's figures")
    spent_credits: int
    reserved_credits: int
    remaining_credits: int | None = Field(description="null when the key has no budget")


class Usage(BaseModel):
    team: str
    budget_period: BudgetPeriod
    period_start: Timestamp | None = Field(description="UTC; null for a total budget")
    period_end: Timestamp | None = Field(description="UTC, exclusive; null for a total budget")
    budget_credits: int | None
    spent_credits: int
    reserved_credits: int
    remaining_credits: int | None = Field(description="null when the team has no budget")
    rate_limit_per_minute: int
    burst: int
    max_in_flight: int
    in_flight: int
    key: KeyUsage


class TokenUsage(BaseModel):
    """``GET /v1/usage`` for a browser token: its own cap and spend, and the team's limits it
    shares (not the team's budget or spend)."""

    team: str
    subject: str
    token_id: str
    expires_at: Timestamp
    max_credits: int | None
    spent_credits: int
    reserved_credits: int
    remaining_credits: int | None = Field(description="null when the token has no cap")
    per_subject_rate_limit_per_minute: int | None
    rate_limit_per_minute: int
    max_in_flight: int
