"""Ops' reports across teams: spend per day (JSON or CSV), a team's ledger, and tasks."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from app.catalog import FieldError
from app.clock import Clock, iso_timestamp
from app.domain.ledger import LedgerEntry
from app.domain.tasks import TaskFilter, TaskPosition, TaskRecord
from app.domain.teams import Team
from app.errors import NotFound, ValidationFailed
from app.services.listings import decode_cursor, encode_cursor, listing_bounds
from app.store.ledger import LedgerStore
from app.store.spend import SpendStore
from app.store.tasks import TaskStore
from app.store.teams import TeamStore

MAX_DAYS = 400  # day hashes are kept 400 days (store/admission.py)
MAX_LEDGER_PAGE = 1000
# The daily report's per-day lists, in the CSV's column order after date and team.
DAILY_FIELDS = ("spent", "reserved", "tasks_created", "tasks_succeeded", "tasks_failed")
CSV_COLUMNS = (
    "date",
    "team",
    "spent_credits",
    "reserved_credits",
    "tasks_created",
    "tasks_succeeded",
    "tasks_failed",
)


class Reports:
    def __init__(
        self,
        teams: TeamStore,
        spend: SpendStore,
        ledger: LedgerStore,
        tasks: TaskStore,
        clock: Clock,
    ) -> None:
        self._teams, self._spend, self._ledger = teams, spend, ledger
        self._tasks, self._clock = tasks, clock

    async def daily(self, days: int, team_id: str | None = None) -> dict[str, Any]:
        """Each team's spend per UTC day over the last ``days`` days (oldest first), and the
        totals per day."""
        if not 1 <= days <= MAX_DAYS:
            raise ValidationFailed(details=[FieldError("days", f"must be from 1 to {MAX_DAYS}")])
        teams = await self._chosen(team_id)
        today = datetime.fromtimestamp(self._clock.now(), tz=UTC).date()
        dates = [(today - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
        rows = await self._spend.days([t.tenant for t in teams], [f"day:{d}" for d in dates])
        return {
            "days": dates,
            "teams": [
                {"team": team.id, **{f: [getattr(day, f) for day in row] for f in DAILY_FIELDS}}
                for team, row in zip(teams, rows, strict=True)
            ],
            "totals": [sum(row[i].spent for row in rows) for i in range(len(dates))],
        }

    async def daily_csv(self, days: int, team_id: str | None = None) -> str:
        """The same, one line per team per day: spreadsheets and chargeback scripts."""
        report = await self.daily(days, team_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for row in report["teams"]:
            for i, date in enumerate(report["days"]):
                writer.writerow([date, row["team"], *(row[field][i] for field in DAILY_FIELDS)])
        return out.getvalue()

    async def ledger(
        self, team_id: str, *, before: str | None, since: str | None, limit: int
    ) -> dict[str, Any]:
        """A page of the team's ledger, newest first; ``next_cursor`` resumes after it."""
        before, since_ms = listing_bounds(
            limit=limit,
            cursor=before,
            since=since,
            decode=_ledger_cursor,
            max_limit=MAX_LEDGER_PAGE,
        )
        team = await self._team(team_id)
        entries = await self._ledger.page(
            team.tenant, before=before, since_ms=since_ms, limit=limit + 1
        )
        page = entries[:limit]
        return {
            "object": "list",
            "team": team.id,
            "data": [_ledger_row(entry) for entry in page],
            "next_cursor": page[-1].id if len(entries) > limit else None,
        }

    async def task(self, task_id: str) -> tuple[Team, TaskRecord]:
        """A task by its id, whichever team's it is (ops given a task id by a user)."""
        teams = await self._teams.list()
        found = await asyncio.gather(*(self._tasks.get(t.tenant, task_id) for t in teams))
        for team, stored in zip(teams, found, strict=True):
            if stored is not None:
                return team, stored.record
        raise NotFound(f"No task {task_id!r} of any team (tasks are kept TASK_RETENTION_DAYS).")

    async def tasks(
        self,
        *,
        team_id: str | None,
        status: str | None,
        since: str | None,
        limit: int,
        cursor: str | None,
        client_request_id: str | None = None,
    ) -> tuple[list[tuple[Team, TaskRecord]], str | None]:
        """Tasks of one team or of all, newest first, with a cursor. Across teams each team's
        index is read from the cursor on and the pages merged; a team whose scan stopped short
        bounds the page, so no task is ever skipped."""
        after, since_ms = listing_bounds(
            limit=limit, cursor=cursor, since=since, decode=decode_cursor
        )
        teams = await self._chosen(team_id)
        wanted = TaskFilter(status, client_request_id, since_ms)
        found: list[tuple[TaskPosition, Team, TaskRecord]] = []
        bound: TaskPosition | None = None  # nothing older than this is known complete
        pages = await asyncio.gather(
            *(self._tasks.list_page(t.tenant, wanted, after=after, limit=limit) for t in teams)
        )
        for team, page in zip(teams, pages, strict=True):
            found += [
                (position, team, record)
                for position, record in zip(page.positions, page.records, strict=True)
            ]
            if page.resume_after is not None and (bound is None or page.resume_after > bound):
                bound = page.resume_after
        found.sort(key=lambda item: item[0], reverse=True)
        if bound is not None:
            found = [item for item in found if item[0] >= bound]
        page_items = found[:limit]
        more = len(found) > limit or bound is not None
        resume = page_items[-1][0] if page_items else bound
        next_cursor = encode_cursor(resume) if more and resume is not None else None
        return [(team, record) for _, team, record in page_items], next_cursor

    async def _chosen(self, team_id: str | None) -> list[Team]:
        if team_id is not None:
            return [await self._team(team_id)]
        return await self._teams.list()

    async def _team(self, team_id: str) -> Team:
        team = await self._teams.get(team_id)
        if team is None:
            raise NotFound(f"No team {team_id!r}.")
        return team


def _ledger_cursor(text: str) -> str:
    """A ledger cursor is the id of the last entry seen: "<ms>-<sequence>"."""
    ms, _, seq = text.partition("-")
    if not (ms.isdigit() and seq.isdigit() and len(text) <= 40):
        raise ValidationFailed(
            details=[FieldError("cursor", "is not a cursor from a previous page's next_cursor")]
        )
    return text


def _ledger_row(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": iso_timestamp(entry.at_ms / 1000),
        "event": entry.event,
        "ref": entry.ref,
        "task": entry.task,
        "model": entry.model,
        "reserved_change": entry.reserved,
        "spent_change": entry.spent,
    }
