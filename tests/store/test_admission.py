"""admit.lua, record.lua, observe.lua and release.lua on their own, with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

from app.domain.creates import Admitted
from app.domain.refusals import OverBudget, TeamGone, TooFast, TooManyInFlight
from app.domain.tasks import Observed
from app.periods import stamps_at
from tests.store.conftest import Stores, rivya_task


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def test_budget_admits_up_to_the_last_credit_and_not_one_more(stores: Stores) -> None:
    await stores.team(budget_credits=20, rate_limit_per_minute=1000)
    first, second = await stores.admitted(), await stores.admitted()
    assert (first.budget_remaining, second.budget_remaining) == (12, 4)
    refused = await stores.admit()
    assert isinstance(refused, OverBudget)
    assert (refused.remaining, refused.budget) == (4, 20)
    exact = await stores.admitted(credits=4)  # a 4-credit model still fits exactly
    assert exact.budget_remaining == 0
    spend = await stores.spent()
    assert (spend.reserved, spend.spent, spend.in_flight) == (20, 0, 3)


async def test_settling_moves_reserved_to_spent_and_a_failure_refunds(stores: Stores) -> None:
    await stores.team(budget_credits=16, rate_limit_per_minute=1000)
    ok, bad = (
        await stores.record(await stores.admitted()),
        await stores.record(await stores.admitted()),
    )
    assert isinstance(await stores.admit(), OverBudget)

    settled = await stores.tasks.observe(ok, rivya_task(ok.record.id, "succeeded", final=8))
    failed = await stores.tasks.observe(bad, rivya_task(bad.record.id, "failed", final=0))
    assert settled is failed is Observed.SETTLED
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    assert (spend.tasks_created, spend.tasks_succeeded, spend.tasks_failed) == (2, 1, 1)
    assert (await stores.admitted()).budget_remaining == 0  # the refund is spendable again


async def test_settling_twice_is_a_no_op(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    stored = await stores.record(await stores.admitted())
    done = rivya_task(stored.record.id, "succeeded", final=8)
    assert await stores.tasks.observe(stored, done) is Observed.SETTLED
    assert await stores.tasks.observe(stored, done) is Observed.UNCHANGED
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.tasks_succeeded) == (8, 0, 1)


async def test_release_gives_back_once(stores: Stores) -> None:
    await stores.team(budget_credits=8)
    admitted = await stores.admitted()
    assert await stores.admission.release(admitted.create, remember=None) == 8
    assert await stores.admission.release(admitted.create, remember=None) == 0
    spend = await stores.spent()
    assert (spend.reserved, spend.in_flight) == (0, 0)
    assert (await stores.admitted()).budget_remaining == 0


async def test_rivyas_reserved_credits_replace_the_catalogues(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    stored = await stores.record(await stores.admitted(credits=8), reserved=10)
    assert (await stores.spent()).reserved == 10
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "succeeded", final=10))
    spend = await stores.spent()
    assert (spend.reserved, spend.spent) == (0, 10)


async def test_a_budget_change_applies_to_the_next_create(stores: Stores) -> None:
    team = await stores.team(budget_credits=8, rate_limit_per_minute=1000)
    await stores.admitted()
    assert isinstance(await stores.admit(), OverBudget)
    assert await stores.teams.replace(team.model_copy(update={"budget_credits": 16}))
    assert isinstance(await stores.admit(), Admitted)
    assert await stores.teams.replace(team.model_copy(update={"budget_credits": None}))
    unlimited = await stores.admitted()
    assert unlimited.budget_remaining is None


async def test_a_day_budget_resets_at_midnight_utc_and_settles_in_its_own_day(
    stores: Stores,
) -> None:
    await stores.team(budget_credits=8, budget_period="day", rate_limit_per_minute=1000)
    stores.clock.set(at("2026-11-30T23:59:59"))
    late = await stores.record(await stores.admitted())
    assert isinstance(await stores.admit(), OverBudget)

    stores.clock.set(at("2026-12-01T00:00:01"))
    fresh = await stores.admitted()  # a new day, a new budget
    assert fresh.budget_remaining == 0
    await stores.tasks.observe(late, rivya_task(late.record.id, "succeeded", final=8))

    yesterday = await stores.spent(stamp="day:2026-11-30")
    today = await stores.spent(stamp="day:2026-12-01")
    assert (yesterday.spent, yesterday.reserved) == (8, 0)
    assert (today.spent, today.reserved) == (0, 8)
    november, december = (
        await stores.spent(stamp="month:2026-11"),
        await stores.spent(stamp="month:2026-12"),
    )
    assert (november.spent, december.reserved) == (8, 8)
    assert (await stores.spent(stamp="total")).spent == 8


async def test_week_budgets_follow_iso_weeks(stores: Stores) -> None:
    await stores.team(budget_credits=8, budget_period="week", rate_limit_per_minute=1000)
    stores.clock.set(at("2026-11-29T12:00:00"))  # a Sunday
    await stores.admitted()
    assert isinstance(await stores.admit(), OverBudget)
    stores.clock.set(at("2026-11-30T00:00:00"))  # Monday: a new week
    assert stamps_at(stores.clock.now()).week == "week:2026-11-30"
    assert isinstance(await stores.admit(), Admitted)


async def test_a_total_budget_never_resets(stores: Stores) -> None:
    await stores.team(budget_credits=8, budget_period="total", rate_limit_per_minute=1000)
    await stores.admitted()
    stores.clock.advance(400 * 86_400)
    refused = await stores.admit()
    assert isinstance(refused, OverBudget)


async def test_burst_then_the_steady_rate(stores: Stores) -> None:
    await stores.team(rate_limit_per_minute=60, burst=3)
    rates = [(await stores.admitted(credits=0)).rate for _ in range(3)]
    assert [r.remaining if r else None for r in rates] == [2, 1, 0]
    assert rates[0] is not None
    assert (rates[0].burst, rates[0].window_seconds) == (3, 3)
    refused = await stores.admit(credits=0)
    assert isinstance(refused, TooFast)
    assert refused.rate.full_in_seconds == 1
    stores.clock.advance(0.999)
    assert isinstance(await stores.admit(credits=0), TooFast)
    stores.clock.advance(0.001)  # one create a second refills exactly on time
    assert isinstance(await stores.admit(credits=0), Admitted)
    assert isinstance(await stores.admit(credits=0), TooFast)


async def test_burst_defaults_to_the_per_minute_rate(stores: Stores) -> None:
    await stores.team(rate_limit_per_minute=6)
    for _ in range(6):
        await stores.admitted(credits=0)
    refused = await stores.admit(credits=0)
    assert isinstance(refused, TooFast)
    assert refused.rate.full_in_seconds == 10


async def test_in_flight_cap_counts_tasks_until_they_end(stores: Stores) -> None:
    await stores.team(max_in_flight=2, rate_limit_per_minute=1000)
    first = await stores.record(await stores.admitted())
    await stores.admitted()
    refused = await stores.admit()
    assert isinstance(refused, TooManyInFlight)
    assert (refused.in_flight, refused.most) == (2, 2)
    await stores.tasks.observe(first, rivya_task(first.record.id, "failed"))
    assert isinstance(await stores.admit(), Admitted)


async def test_a_refusal_consumes_nothing(stores: Stores) -> None:
    team = await stores.team(budget_credits=0, rate_limit_per_minute=1, burst=1)
    for _ in range(5):
        refused = await stores.admit()
        assert isinstance(refused, OverBudget)
    await stores.teams.replace(team.model_copy(update={"budget_credits": 8}))
    assert isinstance(await stores.admit(), Admitted)  # no rate token was spent by refusals
    spend = await stores.spent()
    assert (spend.reserved, spend.in_flight) == (8, 1)


async def test_a_deleted_team_is_refused(stores: Stores) -> None:
    refused = await stores.admit("ghost")
    assert isinstance(refused, TeamGone)
