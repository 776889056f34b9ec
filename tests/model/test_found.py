"""What the model found, kept as ordinary tests: each is the shrunk sequence of steps that broke
an invariant, replayed on the same world (``test_books_model.py``)."""

from __future__ import annotations

from tests.model.test_books_model import BooksModel, Create


def test_a_task_recorded_after_a_lost_admission_reply_is_still_polled(redis_url: str) -> None:
    """An admission ran but its reply was lost (a Redis stall): its script had set the team's
    schedule marker, and the index write its caller was to make was lost with the reply. The
    next create's task trusted the marker, so no settler ever claimed the team: the task was
    never polled and its reservation held until the sweep (settlement delayed by up to
    SETTLER_SWEEP_SECONDS; in the model, forever). Now the process that lost the reply indexes
    the team at its next claim."""
    state = BooksModel(redis_url)
    try:
        state.set_up()
        state.redis_fails_once(fault="lose_reply", replica="r1", script="admit")
        state.create(Create("r1", "alpha", None, "a shoe", "gateway"))
        state.create(Create("r1", "alpha", None, "a shoe", "gateway"))
        alpha = state.tenant_now["alpha"]
        assert state.run(state.books(alpha)).in_flight == 1  # the second create's task
        state.time_passes(seconds=31)  # the task ends at Rivya; the settlers tick meanwhile
        assert state.run(state.books(alpha)).in_flight == 0
    finally:
        state.teardown()
