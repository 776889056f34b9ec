"""Money stays right when a create's outcomes arrive late, twice, or out of order."""

from __future__ import annotations

from app.domain.creates import Admitted, PendingCreate, Repeat
from app.domain.tasks import NotGivenUp, TaskRecord
from tests.store.conftest import Stores, rivya_task


async def test_a_task_recorded_already_ended_is_settled_at_once(stores: Stores) -> None:
    await stores.team(budget_credits=100, max_in_flight=1)
    admitted = await stores.admitted(crid="late")
    done = rivya_task("task_done", "succeeded", final=8)
    record = TaskRecord(team="alpha", upstream=done, client_request_id="late")
    await stores.tasks.record(record, admitted.create, first_poll_in=0, reserved=8)
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    assert (spend.tasks_succeeded, spend.tasks_created) == (1, 1)
    assert await stores.queue.pending("alpha") == 0  # nothing left to poll


async def test_a_task_that_turns_up_after_its_create_was_abandoned(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    admitted = await stores.admitted(crid="ghost")
    error = {"code": "upstream_timeout", "status": 504, "message": "unconfirmed"}
    assert await stores.admission.abandon(admitted.create, error) == 8
    stored = await stores.record(admitted)  # the resend's answer arrives after all
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 8, 1)  # one task, held once
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "succeeded", final=8))
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    replay = await stores.admit(crid="ghost")
    assert isinstance(replay, Repeat)
    assert (replay.kind, replay.task_id) == ("replay", stored.record.id)


async def test_a_late_release_cannot_undo_a_recorded_create(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    admitted = await stores.admitted(crid="raced")
    stored = await stores.record(admitted)
    assert await stores.admission.release(admitted.create, remember=None) == 0
    spend = await stores.spent()
    assert (spend.reserved, spend.in_flight) == (8, 1)
    replay = await stores.admit(crid="raced")
    assert isinstance(replay, Repeat)
    assert (replay.kind, replay.task_id) == ("replay", stored.record.id)


async def test_a_lost_create_too_old_to_resend_is_not_taken_over(stores: Stores) -> None:
    await stores.team()
    admitted = await stores.admitted(crid="old")
    await stores.admission.unlease(admitted.create)
    stores.clock.advance(300)  # the window (300 s) less the lease (60 s) has passed
    late = await stores.admit(crid="old")
    assert isinstance(late, Repeat)
    assert late.kind == "too_late"
    assert late.create is not None
    assert late.create.reservation_id == admitted.create.reservation_id


async def test_a_resent_body_is_byte_for_byte_the_first(stores: Stores) -> None:
    await stores.team()
    create = stores.pending(crid="exact")
    body = {"model": "m", "prompt": "p", "params": {"list": [], "big": 12345678901234567}}
    create = create.__class__(**{**vars(create), "body": body})
    await stores.admission.admit(create, fingerprint="fp")
    await stores.admission.unlease(create)
    taken = await stores.admission.lease("alpha", create.reservation_id, owner="me")
    assert isinstance(taken, PendingCreate)
    assert taken.body == body


async def test_giving_up_charges_what_was_held_and_the_real_end_corrects_it(
    stores: Stores,
) -> None:
    await stores.team(budget_credits=100, max_in_flight=1)
    stored = await stores.record(await stores.admitted())
    give_up = {"after_seconds": 60, "look_again_in": 3600}
    assert await stores.tasks.give_up(stored, **give_up) is NotGivenUp.NOT_OLD_ENOUGH
    stores.clock.advance(61)
    assert await stores.tasks.give_up(stored, **give_up) == 8
    assert await stores.tasks.give_up(stored, **give_up) is NotGivenUp.ENDED  # once
    assert await stores.queue.pending("alpha") == 1  # still looked at, rarely
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
    # Rivya reports the end after all: the task failed, so it costs nothing.
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "failed"))
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.tasks_failed) == (0, 0, 1)
    assert await stores.queue.pending("alpha") == 0


async def test_a_holder_that_lost_its_lease_can_neither_release_nor_hand_it_back(
    stores: Stores,
) -> None:
    await stores.team(budget_credits=100)
    first = await stores.admitted(crid="paused")
    stores.clock.advance(61)  # the first holder pauses past its 60 s lease
    takeover = await stores.admit(crid="paused")
    assert isinstance(takeover, Admitted)
    assert takeover.takeover
    # The paused holder wakes up and hears a definite refusal: it must not refund.
    assert await stores.admission.release(first.create, remember=None) == 0
    await stores.admission.unlease(first.create)  # nor free the new holder's lease
    again = await stores.admit(crid="paused")
    assert isinstance(again, Repeat)
    assert again.kind == "in_progress"
    spend = await stores.spent()
    assert (spend.reserved, spend.in_flight) == (8, 1)
