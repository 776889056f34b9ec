"""Budget periods in UTC: which day, ISO week and month a moment falls in, and when each ends.

Spend is accounted in all of them at once (plus ``total``), so a team's budget can use any
period and ops can report on any day or month whatever the team's own period is. A reservation
remembers its period stamps, so it settles in the periods it was made in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from app.domain.teams import BudgetPeriod

PERIODS: tuple[BudgetPeriod, ...] = ("day", "week", "month", "total")


@dataclass(frozen=True)
class PeriodStamps:
    """The period ids a moment belongs to: ``day:2026-11-23``, ``week:2026-11-23`` (the week's
    Monday), ``month:2026-11``. The kind is part of the id: a Monday's day and week would
    otherwise share one."""

    day: str
    week: str
    month: str

    def stamp(self, period: BudgetPeriod) -> str:
        return "total" if period == "total" else getattr(self, period)

    def all(self) -> tuple[str, str, str, str]:
        """In the order of ``PERIODS``: day, week, month, total."""
        return (self.day, self.week, self.month, "total")

    def encode(self) -> str:
        return f"{self.day}|{self.week}|{self.month}"

    @classmethod
    def decode(cls, text: str) -> PeriodStamps:
        day, week, month = text.split("|")
        return cls(day, week, month)


def stamps_at(epoch_seconds: float) -> PeriodStamps:
    # Every create asks; the answer changes once a day (UTC days are 86,400 s long).
    return _stamps_of_day(int(epoch_seconds // 86_400))


@lru_cache(maxsize=8)
def _stamps_of_day(day_number: int) -> PeriodStamps:
    today = date(1970, 1, 1) + timedelta(days=day_number)
    monday = today - timedelta(days=today.weekday())
    return PeriodStamps(
        f"day:{today.isoformat()}", f"week:{monday.isoformat()}", f"month:{today:%Y-%m}"
    )


def period_bounds(
    period: BudgetPeriod, epoch_seconds: float
) -> tuple[datetime | None, datetime | None]:
    """Start and end (exclusive) of the period containing the moment; (None, None) for total."""
    today = datetime.fromtimestamp(epoch_seconds, tz=UTC).date()
    if period == "total":
        return None, None
    if period == "day":
        start = today
        end = today + timedelta(days=1)
    elif period == "week":
        start = today - timedelta(days=today.weekday())
        end = start + timedelta(days=7)
    else:
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return _midnight(start), _midnight(end)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# What a report's period may be, said once for the API's check, its document, the CLI's help
# and the error: each team's own current period, a day, an ISO week or a month.
REPORT_PERIOD_PATTERN = r"^(current|\d{4}-\d{2}(-\d{2})?|\d{4}-W\d{2})$"
REPORT_PERIOD_FORMS = "current, YYYY-MM-DD, YYYY-Www (an ISO week, e.g. 2026-W49) or YYYY-MM"


def parse_report_period(text: str) -> tuple[BudgetPeriod, str] | None:
    """``YYYY-MM-DD`` → that day's period id, ``YYYY-Www`` → that ISO week's (its Monday),
    ``YYYY-MM`` → that month's; None if none of these."""
    try:
        if len(text) == 10:
            return "day", f"day:{date.fromisoformat(text).isoformat()}"
        if len(text) == 8 and text[4:6] == "-W":
            monday = date.fromisocalendar(int(text[:4]), int(text[6:]), 1)
            return "week", f"week:{monday.isoformat()}"
        if len(text) == 7:
            return "month", f"month:{datetime.strptime(text, '%Y-%m'):%Y-%m}"
    except ValueError:
        return None
    return None
