"""Ops' reports: tasks across teams with a cursor, spend per day (JSON and CSV), and the spend
report's per-model and refusal figures; all equal to the books."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from app.clock import FakeClock
from tests.support import Gateway, admin_get, admin_headers, assert_books_close, bearer, settle_all


async def make_tasks(gw: Gateway, clock: FakeClock) -> dict[str, list[str]]:
    """Seven tasks in two teams, a second apart, two of them failed."""
    made: dict[str, list[str]] = {"alpha": [], "beta": []}
    keys = {
        team: await gw.team_with_key(team, rate_limit_per_minute=1000, budget_period="day")
        for team in made
    }
    gw.sim.set_faults(force_fail_next=2)
    for n in range(7):
        team = "alpha" if n % 3 else "beta"
        answer = await gw.http.post(
            "/v1/images", json={"prompt": f"p{n}"}, headers=bearer(keys[team])
        )
        assert answer.status_code == 202
        made[team].append(answer.json()["id"])
        clock.advance(1)
    return made


async def test_tasks_of_every_team_page_through_newest_first_each_once(
    gateway: Gateway, clock: FakeClock
) -> None:
    made = await make_tasks(gateway, clock)
    await settle_all(gateway, clock)
    everything: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await admin_get(gateway, "/admin/tasks", **params)
        assert len(page["data"]) <= 2
        everything += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [t["id"] for t in everything]
    assert sorted(ids) == sorted(made["alpha"] + made["beta"])  # each exactly once
    assert [t["created_at"] for t in everything] == sorted(
        (t["created_at"] for t in everything), reverse=True
    )
    assert {t["id"]: t["team"] for t in everything} == {
        task: team for team, tasks in made.items() for task in tasks
    }
    # Filters: one team, one status.
    beta = await admin_get(gateway, "/admin/tasks", team="beta")
    assert {t["id"] for t in beta["data"]} == set(made["beta"])
    failed = await admin_get(gateway, "/admin/tasks", status="failed")
    assert len(failed["data"]) == 2
    assert all(t["error"]["code"] == "generation_failed" for t in failed["data"])
    succeeded = await admin_get(gateway, "/admin/tasks", status="succeeded", limit=100)
    assert all(t["result"]["primary_url"] for t in succeeded["data"])
    assert len(succeeded["data"]) == 5
    # Mistakes are named, and cost nothing.
    unknown = await gateway.http.get("/admin/tasks?team=nobody", headers=admin_headers())
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    bad = await gateway.http.get("/admin/tasks?cursor=zzz&limit=0", headers=admin_headers())
    assert bad.status_code == 400
    assert {d["field"] for d in bad.json()["error"]["details"]} >= {"limit"}
    await assert_books_close(gateway, "alpha", "beta")


async def test_paging_across_teams_through_tasks_made_in_one_millisecond(
    gateway: Gateway, clock: FakeClock
) -> None:
    # The clock stands still: every task has the same creation time, ordered by id alone.
    made: dict[str, list[str]] = {}
    for team, count in (("alpha", 3), ("beta", 25)):
        key = await gateway.team_with_key(team, rate_limit_per_minute=1000, max_in_flight=100)
        answers = [
            await gateway.http.post("/v1/images", json={"prompt": "p"}, headers=bearer(key))
            for _ in range(count)
        ]
        made[team] = [a.json()["id"] for a in answers]
    seen: list[str] = []
    cursor = None
    for _ in range(100):  # each page must make progress: 28 tasks, one a page
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = await admin_get(gateway, "/admin/tasks", **params)
        seen += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made["alpha"] + made["beta"])  # each exactly once
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha", "beta")


async def test_daily_spend_as_json_and_csv_equals_the_books(
    gateway: Gateway, clock: FakeClock
) -> None:
    await make_tasks(gateway, clock)
    await settle_all(gateway, clock)
    today = datetime.fromtimestamp(clock.now(), tz=UTC).date()
    daily = await admin_get(gateway, "/admin/spend/daily", days=30)
    assert len(daily["days"]) == 30
    assert daily["days"][-1] == today.isoformat()
    assert daily["days"][0] == (today - timedelta(days=29)).isoformat()
    spend = await admin_get(gateway, "/admin/spend")
    per_team = {row["team"]: row for row in spend["teams"]}
    for row in daily["teams"]:
        assert row["spent"][-1] == per_team[row["team"]]["spent_credits"]
        assert sum(row["spent"][:-1]) == 0
    assert daily["totals"][-1] == spend["totals"]["spent_credits"] == 40  # 5 succeeded x 8

    export = await gateway.http.get(
        "/admin/spend/daily.csv", params={"days": 2}, headers=admin_headers()
    )
    # The form from before the CSV had its own route still answers the same CSV.
    earlier = await gateway.http.get(
        "/admin/spend/daily", params={"days": 2, "format": "csv"}, headers=admin_headers()
    )
    assert earlier.text == export.text
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 4  # two teams, two days
    todays = {r["team"]: r for r in rows if r["date"] == today.isoformat()}
    for team, row in todays.items():
        assert int(row["spent_credits"]) == per_team[team]["spent_credits"]
        assert int(row["tasks_failed"]) == per_team[team]["tasks"]["failed"]

    too_many = await gateway.http.get("/admin/spend/daily?days=0", headers=admin_headers())
    assert too_many.status_code == 400
    assert too_many.json()["error"]["code"] == "validation_failed"
    await assert_books_close(gateway, "alpha", "beta")


async def test_the_ledger_needs_the_admin_token_and_a_real_team(gateway: Gateway) -> None:
    await gateway.team_with_key("alpha")
    key = gateway.keys["alpha"]
    for path in ("/admin/teams/alpha/ledger", "/admin/tasks", "/admin/upstream"):
        refused = await gateway.http.get(path, headers=bearer(key))
        assert refused.status_code in (401, 403)
    missing = await gateway.http.get("/admin/teams/nobody/ledger", headers=admin_headers())
    assert missing.status_code == 404
    forged = await gateway.http.get(
        "/admin/teams/alpha/ledger?cursor=not-an-id", headers=admin_headers()
    )
    assert forged.status_code == 400
    assert gateway.upstream_requests() == []
