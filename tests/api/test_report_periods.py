"""The periods a spend report may be asked for: a day, an ISO week (weekly budgets count by
them), a month; anything else is refused with the forms it may take."""

from __future__ import annotations

import pytest

from app.periods import REPORT_PERIOD_FORMS, parse_report_period, stamps_at
from tests.support import Gateway, admin_headers


@pytest.mark.parametrize(
    ("asked", "period"),
    [
        ("2026-12-05", ("day", "day:2026-12-05")),
        ("2026-W49", ("week", "week:2026-11-30")),  # ISO week 49 of 2026 begins on Monday 30 Nov
        ("2026-W01", ("week", "week:2025-12-29")),
        ("2026-12", ("month", "month:2026-12")),
        ("2026-W54", None),
        ("2026-13", None),
        ("26-12-05", None),
    ],
)
def test_report_periods(asked: str, period: tuple[str, str] | None) -> None:
    assert parse_report_period(asked) == period


def test_a_weeks_report_is_the_period_a_weekly_budget_counts() -> None:
    # Saturday 5 December 2026 belongs to the week whose budget stamp is its Monday's.
    assert stamps_at(1_796_428_800).week == "week:2026-11-30"
    assert parse_report_period("2026-W49") == ("week", stamps_at(1_796_428_800).week)


async def test_the_admin_api_takes_an_iso_week_and_names_the_forms(gateway: Gateway) -> None:
    week = await gateway.http.get("/admin/spend?period=2026-W49", headers=admin_headers())
    assert week.status_code == 200
    bad = await gateway.http.get("/admin/spend?period=last-week", headers=admin_headers())
    assert bad.status_code == 400
    assert bad.json()["error"]["details"][0]["message"] == f"must be {REPORT_PERIOD_FORMS}"
