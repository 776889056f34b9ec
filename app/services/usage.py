"""What a team has spent and may still spend (``GET /v1/usage``), and ops' spend report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from app.auth.tokens import BrowserToken
from app.catalog import FieldError
from app.clock import Clock, iso_timestamp
from app.domain.refusals import code_of
from app.domain.teams import BudgetPeriod, Team
from app.errors import ApiKeyInvalid, UpstreamUnavailable, ValidationFailed
from app.periods import REPORT_PERIOD_FORMS, parse_report_period, period_bounds, stamps_at
from app.store.results import ResultStore
from app.store.spend import PeriodSpend, SpendStore
from app.store.teams import TeamStore


class UsageService:
    def __init__(
        self,
        spend: SpendStore,
        teams: TeamStore,
        results: ResultStore,
        clock: Clock,
        *,
        org_balance: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._spend, self._teams, self._results, self._clock = spend, teams, results, clock
        self._org_balance = org_balance

    async def usage(self, caller_team: Team, key_id: str) -> dict[str, Any]:
        """The caller's team's usage, as stored now, and its key's own budget and spend; a key
        whose team was deleted (or whose id is another team's now) is told so, even while its
        replica still caches it."""
        team = await self._teams.get(caller_team.id)
        if team is None or team.generation != caller_team.generation:
            raise ApiKeyInvalid("This key's team no longer exists.")
        now = self._clock.now()
        spend = await self._spend.read(team.tenant, stamps_at(now).stamp(team.budget_period))
        [key] = await self._spend.keys(team.tenant, [key_id], stamps_at(now))
        start, end = period_bounds(team.budget_period, now)
        return {
            "team": team.id,
            "budget_period": team.budget_period,
            "period_start": _iso(start),
            "period_end": _iso(end),
            "budget_credits": team.budget_credits,
            "spent_credits": spend.spent,
            "reserved_credits": spend.reserved,
            "remaining_credits": _remaining(team.budget_credits, spend),
            "rate_limit_per_minute": team.rate_limit_per_minute,
            "burst": team.effective_burst,
            "max_in_flight": team.max_in_flight,
            "in_flight": spend.in_flight,
            "key": {
                "key_id": key_id,
                "budget_credits": key.budget.credits if key.budget else None,
                "budget_period": key.period,
                "spent_credits": key.spent,
                "reserved_credits": key.reserved,
                "remaining_credits": key.remaining,
            },
        }

    async def token_usage(self, caller_team: Team, token: BrowserToken) -> dict[str, Any]:
        """What a browser token may see: its own cap and spend, its subject's rate limit, and
        the team's limits it shares (not the team's budget or spend)."""
        team = await self._teams.get(caller_team.id)
        if team is None or team.generation != caller_team.generation:
            raise ApiKeyInvalid("This token's team no longer exists.")
        spent, reserved = await self._spend.token(team.tenant, token.token_id)
        remaining = None
        if token.max_credits is not None:
            remaining = max(token.max_credits - spent - reserved, 0)
        return {
            "team": team.id,
            "subject": token.subject,
            "token_id": token.token_id,
            "expires_at": iso_timestamp(token.expires_at),
            "max_credits": token.max_credits,
            "spent_credits": spent,
            "reserved_credits": reserved,
            "remaining_credits": remaining,
            "per_subject_rate_limit_per_minute": team.per_subject_rate_limit_per_minute,
            "rate_limit_per_minute": team.rate_limit_per_minute,
            "max_in_flight": team.max_in_flight,
        }

    async def credits(self, team: Team, key_id: str) -> int:
        """``GET /api/v1/credits``: what the caller may still spend: the least its team's
        budget and its key's allow this period. Without either, up to the organisation's
        balance, so that is Rivya's own figure."""
        usage = await self.usage(team, key_id)
        limits = [usage["remaining_credits"], usage["key"]["remaining_credits"]]
        remaining = [int(left) for left in limits if left is not None]
        if not remaining:
            if self._org_balance is None:
                raise UpstreamUnavailable("The organisation's balance is not available here.")
            return await self._org_balance()
        return min(remaining)

    async def report(self, period: str = "current") -> dict[str, Any]:
        """Per team: budget, spent, reserved, remaining and tasks by status; and totals."""
        requested: tuple[BudgetPeriod, str] | None = None
        if period != "current":
            requested = parse_report_period(period)
            if requested is None:
                raise ValidationFailed(
                    details=[FieldError("period", f"must be {REPORT_PERIOD_FORMS}")]
                )
        now = self._clock.now()
        rows = []
        teams = await self._teams.list()
        stored = await self._results.usage([team.tenant for team in teams])
        for team, (kept_bytes, kept_objects) in zip(teams, stored, strict=True):
            kind, stamp = requested or (
                team.budget_period,
                stamps_at(now).stamp(team.budget_period),
            )
            spend = await self._spend.read(team.tenant, stamp)
            # A budget only compares with a report of its own period.
            budget = team.budget_credits if kind == team.budget_period else None
            row = _row(team, kind, stamp, budget, spend)
            rows.append({**row, "results": {"bytes": kept_bytes, "objects": kept_objects}})
        totals = {
            key: sum(row[key] for row in rows)
            for key in ("spent_credits", "reserved_credits", "in_flight")
        }
        totals["tasks"] = {
            status: sum(row["tasks"][status] for row in rows)
            for status in ("created", "pending", "succeeded", "failed")
        }
        for breakdown in ("by_model", "refusals"):
            summed: dict[str, int] = {}
            for row in rows:
                for name, count in row[breakdown].items():
                    summed[name] = summed.get(name, 0) + count
            totals[breakdown] = summed
        totals["results"] = {
            unit: sum(row["results"][unit] for row in rows) for unit in ("bytes", "objects")
        }
        return {"period": period, "teams": rows, "totals": totals}


def _row(
    team: Team, kind: BudgetPeriod, stamp: str, budget: int | None, spend: PeriodSpend
) -> dict[str, Any]:
    return {
        "team": team.id,
        "name": team.name,
        "period": kind,
        "period_id": stamp,
        "budget_credits": budget,
        "spent_credits": spend.spent,
        "reserved_credits": spend.reserved,
        "remaining_credits": _remaining(budget, spend),
        "in_flight": spend.in_flight,
        "tasks": {
            "created": spend.tasks_created,
            "pending": spend.tasks_pending,
            "succeeded": spend.tasks_succeeded,
            "failed": spend.tasks_failed,
        },
        "by_model": spend.by_model,  # spent credits per model
        "refusals": _by_code(spend.refusals),
    }


def _by_code(refusals: dict[str, int]) -> dict[str, int]:
    """admit.lua's refusal reasons, summed under the error code each caller got."""
    codes: dict[str, int] = {}
    for reason, count in refusals.items():
        code = code_of(reason)
        codes[code] = codes.get(code, 0) + count
    return codes


def _remaining(budget: int | None, spend: PeriodSpend) -> int | None:
    return None if budget is None else max(budget - spend.spent - spend.reserved, 0)


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None
