"""The idempotency claim inside admit.lua: repeats, conflicts, leases, expiry and abandonment."""

from __future__ import annotations

from app.domain.creates import Admitted, Repeat
from tests.store.conftest import Stores


async def test_a_repeat_never_reserves_twice(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    first = await stores.admitted(crid="order-1")
    repeat = await stores.admit(crid="order-1")
    assert isinstance(repeat, Repeat)
    assert repeat.kind == "in_progress"  # the first is still being forwarded (its lease holds)
    assert repeat.retry_after_ms > 0
    spend = await stores.spent()
    assert (spend.reserved, spend.in_flight) == (8, 1)

    stored = await stores.record(first)
    replay = await stores.admit(crid="order-1")
    assert isinstance(replay, Repeat)
    assert (replay.kind, replay.task_id) == ("replay", stored.record.id)
    assert (await stores.spent()).reserved == 8


async def test_a_different_request_with_the_same_key_is_a_conflict(stores: Stores) -> None:
    await stores.team()
    stored = await stores.record(await stores.admitted(crid="order-1"))
    conflict = await stores.admit(crid="order-1", fingerprint="another request")
    assert isinstance(conflict, Repeat)
    assert (conflict.kind, conflict.task_id) == ("conflict", stored.record.id)


async def test_keys_are_per_team(stores: Stores) -> None:
    await stores.team("alpha")
    await stores.team("beta")
    assert isinstance(await stores.admit("alpha", crid="shared"), Admitted)
    assert isinstance(await stores.admit("beta", crid="shared"), Admitted)


async def test_a_remembered_error_is_replayed_and_a_forgotten_one_runs_again(
    stores: Stores,
) -> None:
    await stores.team(budget_credits=100)
    refused = await stores.admitted(crid="bad")
    error = {"code": "validation_failed", "status": 400, "message": "no", "details": []}
    assert await stores.admission.release(refused.create, remember=error) == 8
    again = await stores.admit(crid="bad")
    assert isinstance(again, Repeat)
    assert (again.kind, again.error) == ("remembered", error)

    passing = await stores.admitted(crid="unlucky")
    await stores.admission.release(passing.create, remember=None)
    assert isinstance(await stores.admit(crid="unlucky"), Admitted)  # the retry runs again
    assert (await stores.spent()).reserved == 8


async def test_an_unknown_outcome_is_taken_over_with_the_same_upstream_key(
    stores: Stores,
) -> None:
    await stores.team(budget_credits=100)
    first = await stores.admitted(crid="lost")
    await stores.admission.unlease(first.create)  # its answer was lost
    takeover = await stores.admit(crid="lost")
    assert isinstance(takeover, Admitted)
    assert takeover.create.reservation_id == first.create.reservation_id
    assert takeover.create.upstream_key == first.create.upstream_key
    assert takeover.takeover
    assert takeover.rate is None  # not a new create: nothing more was admitted
    assert (await stores.spent()).reserved == 8
    # The taker holds the lease now: a third request waits.
    third = await stores.admit(crid="lost")
    assert isinstance(third, Repeat)
    assert third.kind == "in_progress"


async def test_a_lease_lapses_when_its_holder_dies(stores: Stores) -> None:
    await stores.team()
    first = await stores.admitted(crid="orphan")
    stores.clock.advance(61)  # past the 60 s lease of this fixture
    takeover = await stores.admit(crid="orphan")
    assert isinstance(takeover, Admitted)
    assert takeover.create.reservation_id == first.create.reservation_id


async def test_an_expired_claim_makes_a_new_create(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    stored = await stores.record(await stores.admitted(crid="old"))
    assert stored is not None
    stores.clock.advance(86_401)
    fresh = await stores.admit(crid="old")
    assert isinstance(fresh, Admitted)
    assert fresh.rate is not None


async def test_abandoning_counts_the_credits_as_spent(stores: Stores) -> None:
    await stores.team(budget_credits=100, max_in_flight=1)
    lost = await stores.admitted(crid="gone")
    error = {"code": "upstream_timeout", "status": 504, "message": "never confirmed"}
    assert await stores.admission.abandon(lost.create, error) == 8
    assert await stores.admission.abandon(lost.create, error) is None  # only once
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    replay = await stores.admit(crid="gone")
    assert isinstance(replay, Repeat)
    assert replay.kind == "remembered"
