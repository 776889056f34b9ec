"""Teams and their keys, as every layer shares them: what an admin may set, whose data is whose
(a team's tenant: its id and generation), and a stored key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.clock import Timestamp, epoch_of

TEAM_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
BudgetPeriod = Literal["day", "week", "month", "total"]
ORIGIN_PATTERN = r"^(\*|https?://[^/\s]+)$"


# The constraints of a team's settings, declared once: the team, its create and its patch
# (schemas/teams.py) share them, so the OpenAPI document and the checks cannot differ.
Name = Annotated[str, Field(max_length=200)]
Credits = Annotated[int, Field(ge=0)]
PerMinute = Annotated[int, Field(ge=1, le=100_000)]
RetentionDays = Annotated[int, Field(ge=1, le=3650)]


class TeamPolicy(BaseModel):
    """What an admin may set on a team (CONTRACT §7); every field optional on update."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    budget_credits: Credits | None = None
    budget_period: BudgetPeriod = "month"
    rate_limit_per_minute: PerMinute = 60
    burst: PerMinute | None = None
    max_in_flight: PerMinute = 20
    allowed_models: list[str] | None = None
    cors_origins: list[str] = Field(
        default_factory=list,
        # The schema states the pattern the check below applies (one constant, both places).
        json_schema_extra={"items": {"type": "string", "pattern": ORIGIN_PATTERN}},
    )
    per_subject_rate_limit_per_minute: PerMinute | None = None
    # Its results' copies are kept this many days (None: RESULT_RETENTION_DAYS).
    result_retention_days: RetentionDays | None = None

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not re.fullmatch(ORIGIN_PATTERN, origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return origins


class Team(TeamPolicy):
    id: str = Field(pattern=TEAM_ID_PATTERN)
    created_at: Timestamp
    updated_at: Timestamp
    # Set once when the team is created: a team made later with a deleted team's id is another
    # team, with its own data (see ``tenant``). None for teams created before generations.
    generation: str | None = Field(default=None, pattern=r"^[0-9a-f]{1,32}$")

    @property
    def tenant(self) -> str:
        """Whose data this is: the id and its generation (store/keyspace.py puts every key of a
        team under it), so nothing of a deleted team is seen by a new team of its id."""
        return tenant_of(self.id, self.generation)

    @property
    def effective_burst(self) -> int:
        return self.burst if self.burst is not None else self.rate_limit_per_minute

    def may_use(self, model_id: str) -> bool:
        return self.allowed_models is None or model_id in self.allowed_models


def tenant_of(team_id: str, generation: str | None) -> str:
    return f"{team_id}@{generation}" if generation else team_id


def team_id_of(tenant: str) -> str:
    """The team id a tenant belongs to."""
    return tenant.partition("@")[0]


class KeyBudget(BaseModel):
    """A key's own credit budget: what the key (and the browser tokens it mints) may spend in a
    period, beside its team's budget. Enforced by the admission script, which reads it from the
    team's key budgets hash as ``encode`` writes it."""

    credits: Credits
    period: BudgetPeriod = "month"

    def encode(self) -> str:
        return f"{self.credits}|{self.period}"

    @classmethod
    def decode(cls, text: str) -> KeyBudget:
        credits, _, period = text.partition("|")
        return cls.model_validate({"credits": int(credits), "period": period or "month"})


@dataclass(frozen=True)
class KeySpend:
    """A key's budget (None: only its team's applies) and what it has spent and holds in the
    budget's period now (the month's, without a budget)."""

    budget: KeyBudget | None
    spent: int
    reserved: int

    @property
    def period(self) -> BudgetPeriod:
        return self.budget.period if self.budget else "month"

    @property
    def remaining(self) -> int | None:
        if self.budget is None:
            return None
        return max(self.budget.credits - self.spent - self.reserved, 0)


class ApiKeyRecord(BaseModel):
    """A team key as stored: the secret itself is never kept, only its SHA-256."""

    key_id: str
    team: str
    generation: str | None = None  # of the team it was issued for: a later team's is not it
    name: str | None = None
    secret_hash: str
    created_at: Timestamp
    revoked_at: Timestamp | None = None
    expires_at: Timestamp | None = None  # None: it does not expire
    last_used_at: Timestamp | None = None  # to the minute or so: written at most once a minute

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= epoch_of(self.expires_at)

    @property
    def tenant(self) -> str:
        return tenant_of(self.team, self.generation)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class KeyStanding:
    """A key as an admin sees it: its record, and its budget and spend this period."""

    record: ApiKeyRecord
    spend: KeySpend

    @property
    def revoked(self) -> bool:
        return self.record.revoked
