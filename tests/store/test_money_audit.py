"""The money audit's findings, at the scripts: a refund needs proof, a cancelled admission never
runs, a lost create is resent only inside Rivya's window by the time Redis keeps."""

from __future__ import annotations

from redis import Redis as SyncRedis

from app.domain.creates import Admitted, TooLate
from app.domain.refusals import Cancelled
from app.domain.tasks import TaskRecord
from app.store.keyspace import KeySpace
from tests.store.conftest import Stores, rivya_task


async def test_a_second_task_recorded_for_one_create_is_charged_never_refunded(
    stores: Stores,
) -> None:
    # A resend outside Rivya's real dedupe window (or two concurrent resends) made two tasks for
    # one create: Rivya charges both, so the team is charged both.
    await stores.team(budget_credits=100)
    admitted = await stores.admitted(crid="twice")
    tasks = []
    for task_id in ("task_a", "task_b"):
        record = TaskRecord(
            team="alpha", upstream=rivya_task(task_id, "queued"), client_request_id="twice"
        )
        tasks.append(
            await stores.tasks.record(record, admitted.create, first_poll_in=2, reserved=8)
        )
    assert [(t.new, t.unreserved) for t in tasks] == [(True, False), (True, True)]
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 16, 2)  # never negative
    for task_id in ("task_a", "task_b"):
        stored = await stores.tasks.get("alpha", task_id)
        assert stored is not None
        await stores.tasks.observe(stored, rivya_task(task_id, "succeeded", final=8))
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (16, 0, 0)  # what Rivya charged


async def test_a_task_recorded_after_its_admission_was_lost_is_charged_as_new_spend(
    stores: Stores,
) -> None:
    # Redis lost the admission (a failover, a restore); the task Rivya made must still be paid.
    await stores.team(budget_credits=100)
    admitted = await stores.admitted()
    await stores.admission.cancel(admitted.create)  # stands in for the lost reservation
    stored = await stores.record(admitted)
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 8, 1)
    await stores.tasks.observe(stored, rivya_task(stored.record.id, "failed"))
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 0, 0)


async def test_only_a_recorded_abandonment_is_reversed_and_only_once(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    admitted = await stores.admitted(crid="ghost")
    error = {"code": "upstream_timeout", "status": 504, "message": "unconfirmed"}
    assert await stores.admission.abandon(admitted.create, error) == 8
    first = await stores.record(admitted)  # the late task consumes the abandonment's mark
    second = await stores.record(admitted)  # a second late task finds no mark: new spend
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 16, 2)
    for stored in (first, second):
        await stores.tasks.observe(stored, rivya_task(stored.record.id, "succeeded", final=8))
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (16, 0, 0)


async def test_a_cancel_that_lands_first_makes_the_admission_refuse_to_run(
    stores: Stores,
) -> None:
    # The request gave up waiting and cancelled; its admission, stuck behind a stall, runs after.
    await stores.team(budget_credits=100)
    create = stores.pending(crid="stalled")
    assert await stores.admission.cancel(create) == "void"
    late = await stores.admission.admit(create, fingerprint="fp")
    assert late == Cancelled()
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 0, 0)
    assert await stores.admission.pending("alpha") == []


async def test_a_cancel_after_the_admission_ran_gives_everything_back(stores: Stores) -> None:
    await stores.team(budget_credits=8, max_in_flight=1)
    admitted = await stores.admitted(crid="stalled")
    assert await stores.admission.cancel(admitted.create) == "cancelled"
    spend = await stores.spent()
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 0, 0)
    assert await stores.admission.pending("alpha") == []
    again = await stores.admitted(crid="stalled")  # the claim is forgotten: a retry runs anew
    assert again.create.reservation_id != admitted.create.reservation_id


async def test_a_cancel_never_undoes_a_create_someone_else_took_over(stores: Stores) -> None:
    await stores.team(budget_credits=100)
    admitted = await stores.admitted(crid="taken")
    await stores.admission.unlease(admitted.create)
    taken = await stores.admission.lease("alpha", admitted.create.reservation_id, owner="other")
    assert taken is not None
    assert await stores.admission.cancel(admitted.create) == "taken"
    spend = await stores.spent()
    assert (spend.reserved, spend.in_flight) == (8, 1)


async def test_the_resend_cut_off_is_judged_when_the_lease_is_taken(stores: Stores) -> None:
    # Window 300 s, lease 60 s: a lost create may be resent until it is 240 s old.
    await stores.team()
    admitted = await stores.admitted()
    await stores.admission.unlease(admitted.create)
    stores.clock.advance(239)
    fresh = await stores.admission.lease("alpha", admitted.create.reservation_id, owner="a")
    assert fresh is not None
    assert not isinstance(fresh, TooLate)
    await stores.admission.unlease(fresh)
    stores.clock.advance(2)
    late = await stores.admission.lease("alpha", admitted.create.reservation_id, owner="b")
    assert isinstance(late, TooLate)  # not taken: nobody may send it any more
    assert await stores.admission.abandon(late.create, {"code": "x", "status": 504}) == 8


async def test_a_retry_whose_takeover_answer_was_lost_never_claims_nothing_will_be_sent(
    stores: Stores,
) -> None:
    await stores.team(budget_period="total", rate_limit_per_minute=100)
    first = await stores.admitted(crid="X")  # sent, its answer lost
    await stores.admission.unlease(first.create)
    retry = stores.pending(crid="X")
    decision = await stores.admission.admit(retry, fingerprint="fp")
    assert isinstance(decision, Admitted)
    assert decision.takeover  # ...whose answer the retry never got
    assert await stores.admission.cancel(retry) == "other"  # not "void"
    # The takeover's lease went back at once: a resolver may resend the earlier create now.
    lease = await stores.admission.lease("alpha", first.reservation_id, owner="resolver")
    assert lease is not None


async def test_a_repeat_whose_in_progress_answer_was_lost_names_the_key(stores: Stores) -> None:
    await stores.team(budget_period="total", rate_limit_per_minute=100)
    await stores.admitted(crid="X")  # being forwarded right now
    repeat = stores.pending(crid="X")
    await stores.admission.admit(repeat, fingerprint="fp")
    assert await stores.admission.cancel(repeat) == "other"


async def test_a_task_recorded_again_after_its_record_vanished_is_no_orphan(
    stores: Stores, redis_url: str
) -> None:
    await stores.team(budget_period="total", rate_limit_per_minute=100)
    stored = await stores.record(await stores.admitted())
    task_id = stored.record.id
    redis = SyncRedis.from_url(redis_url)
    redis.delete(KeySpace("t").task("alpha", task_id))  # evicted
    redis.close()
    entry = await stores.tasks.reservation("alpha", task_id)
    assert entry is not None
    again = await stores.admitted()  # a resend finds the same task, and records it again
    task = TaskRecord(team="alpha", upstream=rivya_task(task_id, "queued"))
    await stores.tasks.record(task, again.create, first_poll_in=2.5, reserved=8)
    assert await stores.tasks.settle_orphan("alpha", task_id, entry, charge=None) is None
    spend = await stores.spent(stamp="total")
    assert (spend.spent, spend.reserved, spend.in_flight) == (0, 8, 1)  # one task, held once
    assert await stores.queue.pending("alpha") == 1
    restored = await stores.tasks.get("alpha", task_id)
    assert restored is not None
    await stores.tasks.observe(restored, rivya_task(task_id, "succeeded", final=8))
    spend = await stores.spent(stamp="total")
    assert (spend.spent, spend.reserved, spend.in_flight) == (8, 0, 0)
