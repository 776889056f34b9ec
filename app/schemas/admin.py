"""The admin API's answers (OpenAPI is built from these): teams and keys listed, spend reports,
a team's ledger, tasks across teams, and the reconciliation with Rivya's balance.

Each forbids fields it does not name, so an answer that grows a field the document does not
show fails the tests (and the fuzzer) instead of surprising a client generated from it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.clock import Timestamp
from app.domain.teams import BudgetPeriod, Team
from app.schemas.tasks import TaskOut
from app.schemas.teams import KeyOut


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamList(Answer):
    data: list[Team]


class KeyList(Answer):
    data: list[KeyOut]


class TaskCounts(Answer):
    created: int
    pending: int
    succeeded: int
    failed: int


class StoredResults(Answer):
    bytes: int = Field(description="what the copies of results take in the object store")
    objects: int = Field(description="how many copies (each content once per team)")


class SpendFigures(Answer):
    spent_credits: int
    reserved_credits: int
    in_flight: int
    tasks: TaskCounts
    by_model: dict[str, int] = Field(description="Credits spent per model")
    refusals: dict[str, int] = Field(description="Creates refused, per error code")
    results: StoredResults = Field(description="the copies of results kept, now")


class TeamSpend(SpendFigures):
    team: str
    name: str | None
    period: BudgetPeriod
    period_id: str
    budget_credits: int | None = Field(description="null: no budget for this period")
    remaining_credits: int | None


class SpendReport(Answer):
    """``GET /admin/spend``."""

    period: str
    teams: list[TeamSpend]
    totals: SpendFigures


class TeamDays(Answer):
    """One team's figures per day, in the order of ``DailySpend.days``."""

    team: str
    spent: list[int]
    reserved: list[int]
    tasks_created: list[int]
    tasks_succeeded: list[int]
    tasks_failed: list[int]


class DailySpend(Answer):
    """``GET /admin/spend/daily`` as JSON (``format=csv``: the same, one line per team per day)."""

    days: list[str] = Field(description="UTC dates, oldest first")
    teams: list[TeamDays]
    totals: list[int] = Field(description="Credits spent per day, all teams together")


class LedgerEntryOut(Answer):
    id: str
    at: Timestamp
    event: str
    ref: str = Field(description="The reservation or task the credits belong to")
    task: str | None
    model: str
    reserved_change: int
    spent_change: int


class LedgerPage(Answer):
    """``GET /admin/teams/{team_id}/ledger``: newest first."""

    object: Literal["list"] = "list"
    team: str
    data: list[LedgerEntryOut]
    next_cursor: str | None


class TeamTask(TaskOut):
    model_config = ConfigDict(extra="forbid")

    team: str


class TeamTaskList(Answer):
    """``GET /admin/tasks``: newest first, across teams."""

    object: Literal["list"] = "list"
    data: list[TeamTask]
    next_cursor: str | None


class RivyaBalance(Answer):
    current_credits: int | None = Field(description="null when Rivya could not be asked")
    error: str | None
    circuit: str


class Baseline(Answer):
    rivya_credits: int
    set_at: Timestamp
    uncertain_credits: int = Field(
        description="credits the teams held when it was taken (Rivya may have refunded some "
        "before its balance was read)"
    )
    still_uncertain_credits: int = Field(
        description="what of those is held still: the drift may be off by this much; 0 once "
        "they have settled"
    )
    restored_at: Timestamp | None = Field(
        description="when a replica wrote the baseline back after Redis lost its data: the "
        "drift then counts the credits the lost books held"
    )


class SinceBaseline(Answer):
    rivya_spent: int
    gateway_spent: int
    gateway_reserved: int


class SuspectTask(Answer):
    team: str
    tenant: str
    ref: str
    task: str | None
    event: str
    model: str
    spent_change: int
    reserved_change: int
    at: Timestamp


class Reconciliation(Answer):
    """``GET /admin/upstream``: Rivya's balance against the books since the baseline."""

    rivya: RivyaBalance
    low_balance_credits: int | None
    balance_low: bool
    baseline: Baseline | None
    since_baseline: SinceBaseline | None
    drift_credits: int | None
    unexplained_credits: int | None
    suspect_tasks: list[SuspectTask]
    explanation: str | None


class RequestOut(Answer):
    """``GET /admin/requests/{request_id}``: what the gateway answered a request, and to whom."""

    request_id: str
    at: Timestamp = Field(description="when it was answered")
    method: str
    route: str | None = Field(description="the route's template; null: no route matched")
    status: int
    error_code: str | None = Field(description="the contract's code of the error, if one")
    team: str | None = Field(description="null: no team was identified (no or an unknown key)")
    key_id: str | None
    subject: str | None = Field(description="the end user a browser token names")
    task_id: str | None
    upstream_request_id: str | None = Field(description="Rivya's request id, when it answered")
    latency_ms: float
