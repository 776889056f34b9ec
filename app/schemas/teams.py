"""The admin API's teams and their API keys: a team created or patched, a key made or listed."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, Strict
from pydantic.json_schema import SkipJsonSchema

from app.clock import Timestamp
from app.domain.teams import (
    ORIGIN_PATTERN,
    TEAM_ID_PATTERN,
    BudgetPeriod,
    Credits,
    KeyBudget,
    KeyStanding,
    Name,
    PerMinute,
    RetentionDays,
    TeamPolicy,
)


class TeamCreate(TeamPolicy):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=TEAM_ID_PATTERN, description="A slug: a-z, 0-9 and '-'.")


class TeamPatch(BaseModel):
    """Every field optional; only the fields sent change (null clears a budget)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # null is meaningful only where the team's own field may be null; elsewhere the schema
    # offers no null (and the patch refuses one).
    name: Name | None = None
    budget_credits: Credits | None = None
    budget_period: BudgetPeriod | SkipJsonSchema[None] = None
    rate_limit_per_minute: PerMinute | SkipJsonSchema[None] = None
    burst: PerMinute | None = None
    max_in_flight: PerMinute | SkipJsonSchema[None] = None
    allowed_models: list[str] | None = None
    cors_origins: list[str] | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"items": {"type": "string", "pattern": ORIGIN_PATTERN}}
    )
    per_subject_rate_limit_per_minute: PerMinute | None = None
    result_retention_days: RetentionDays | None = None


class KeyBudgetFields(BaseModel):
    """A key's own credit budget, beside its team's: what the key, and the browser tokens it
    mints, may spend in a period. Enforced by the admission script (402 budget_exceeded).
    budget_credits null (or left out) takes the key's own budget away; budget_period left out
    keeps the key's current period (a new budget: the month)."""

    model_config = ConfigDict(extra="forbid")

    budget_credits: Annotated[Credits, Strict()] | None = Field(
        default=None, description="null: no budget of its own (only the team's applies)"
    )
    budget_period: BudgetPeriod | None = Field(
        default=None, description="left out: the key's current period, else month"
    )

    def key_budget(self, current: KeyBudget | None = None) -> KeyBudget | None:
        """The budget asked for, given the key's ``current`` one (its period is kept)."""
        if self.budget_credits is None:
            return None
        period = self.budget_period or (current.period if current else "month")
        return KeyBudget(credits=self.budget_credits, period=period)


class KeyCreate(KeyBudgetFields):
    name: str | None = Field(default=None, max_length=200)
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="When the key stops working (ISO-8601 with its offset, in the future); "
        "null: never. Enforced by the admission script on Redis's clock.",
    )


class KeyRevoke(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(
        max_length=200,
        description="The key to revoke: the key itself (rgw_…, as leaked), its id (key_…) or "
        "its prefix (rgw_<16 hex>). In a body, so that a leaked key never sits in a URL.",
    )


class KeyOut(BaseModel):
    key_id: str
    team: str
    name: str | None
    created_at: Timestamp
    revoked_at: Timestamp | None
    expires_at: Timestamp | None = Field(description="null: it does not expire")
    last_used_at: Timestamp | None = Field(
        description="when it was last used (to the minute); null: not since this was recorded"
    )
    budget_credits: int | None = Field(description="its own budget; null: only the team's")
    budget_period: BudgetPeriod = Field(
        description="its budget's period; without a budget, the month (the figures' period)"
    )
    spent_credits: int = Field(description="spent by the key (and its tokens) this period")
    reserved_credits: int = Field(description="held by its creates and tasks in flight")
    remaining_credits: int | None = Field(description="null when it has no budget of its own")

    @classmethod
    def of(cls, standing: KeyStanding) -> KeyOut:
        record, spend = standing.record, standing.spend
        return cls.model_validate(
            {
                **record.model_dump(exclude={"secret_hash"}),
                "budget_credits": spend.budget.credits if spend.budget else None,
                "budget_period": spend.period,
                "spent_credits": spend.spent,
                "reserved_credits": spend.reserved,
                "remaining_credits": spend.remaining,
            }
        )


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")
