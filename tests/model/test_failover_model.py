"""The model of the books on a Sentinel set whose master fails over (issue 22).

Every step of ``test_books_model.py``, on a master with a replica and a sentinel, plus
one: the master fails over to its replica. Sometimes the replica had stopped receiving the
master's writes first (the network between them failed), before a create or while it was at
Rivya, so the promotion loses every write the master took since: an admission, a record, a
settler's pass. Each of those writes waited for the replica (``REDIS_WAIT_REPLICAS``, 1 on
Sentinel) and was refused short of it, so none was answered as done; the books must hold
after every step and close at the end, as on one node.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import rule, run_state_machine_as_test
from redis.asyncio import Redis

from tests.model.test_books_model import (
    ATTEMPTS,
    CREATE,
    BooksModel,
    Create,
    ci_profile,
    long_profile,
    model_seconds,
    report_explored,
)
from tests.support import RedisSentinelSet

# When the replica stops receiving writes, if it does: before the create, or while the create
# is at Rivya (its admission acknowledged, its record not).
CUT_OFF = st.sampled_from([None, "before the create", "while it is at Rivya"])


class FailoverBooksModel(BooksModel):
    def __init__(self, topology: RedisSentinelSet) -> None:
        self.topology = topology
        # A write the replica does not acknowledge within 1 s is refused, "may have run".
        super().__init__(topology.url, redis_wait_replicas=1, redis_wait_timeout_seconds=0.25)

    def reader(self) -> Redis:
        return Redis(port=self.topology.current_master_port(), decode_responses=True)

    async def fresh_store(self) -> None:
        self.topology.heal()  # whatever the last run left, the replica follows the master
        await self.redis.flushall()
        await self.redis.execute_command("WAIT", 1, 5000)  # type: ignore[no-untyped-call]

    @rule(cut_off=CUT_OFF, sent=CREATE, plans=ATTEMPTS, settles=st.booleans())
    def the_master_fails_over(
        self, cut_off: str | None, sent: Create, plans: list[str], settles: bool
    ) -> None:
        try:
            if cut_off == "before the create":
                self.topology.cut_off_replicas()
            elif cut_off is not None:
                self.world.upstream.meanwhile = self.topology.cut_off_replicas
            self._create_with(sent, *plans)
            self.world.upstream.meanwhile = None
            if settles:  # a settler's pass, whose writes are lost too if the replica is cut off
                self.settle(sent.replica, [])
        finally:
            self.world.upstream.meanwhile = None
            self.topology.fail_over()
            self.topology.heal()
            self.run(self._read_the_new_master())

    async def _read_the_new_master(self) -> None:
        await self.redis.aclose()
        self.redis = self.reader()


@pytest.fixture(scope="module")
def failing_over() -> Iterator[RedisSentinelSet]:
    """A Sentinel set of this module's own (its failovers leave the shared one as it was), with
    one sentinel: a failover is done once it has made it, where three sentinels take up to 2 s
    to agree on it (tests/api/test_redis_topologies.py fails over three)."""
    topology = RedisSentinelSet(sentinels=1)
    topology.start()
    yield topology
    topology.stop()


# Four runs: each is about 30 s of real Sentinel work (failovers), and CI must stay within its
# 15 minutes; `make model` explores as long as asked (MODEL_SECONDS).
CI = ci_profile(4, 15)


def test_the_books_hold_when_the_master_fails_over(failing_over: RedisSentinelSet) -> None:
    seconds = model_seconds()

    class OnThisSentinelSet(FailoverBooksModel):
        def __init__(self) -> None:
            super().__init__(failing_over)

    # A run with failovers takes seconds of real Sentinel work: small batches, so that the time
    # asked for is kept and the progress is reported as it goes.
    for profile in long_profile(seconds, batch=5) if seconds else iter([CI]):
        run_state_machine_as_test(OnThisSentinelSet, settings=profile)
        report_explored(OnThisSentinelSet, seconds)
