"""The baseline the reconciliation counts from: Rivya's balance and the gateway's books at one
moment, taken so that they agree, kept through a Redis data loss, and replaced when the
upstream is no longer the one it was taken against.

Taken so that they agree: the books are read *before* the balance (a task the books hold was
made, and charged, at Rivya before the balance was read), at a moment when no create is
half-way (admitted, not yet answered) and nothing moves between that read and a second one
after the balance. Then the only credits it cannot place yet are the reservations it held (a
task Rivya may have failed, and refunded, before the balance was read), listed by id: the
uncertainty is what of them is still held, and ends as they settle. Settled, each is placed
by Rivya's own clock: a task Rivya ended before it read the balance (its ``updated_at`` before
the answer's ``Date``) had given its refund back in it. Its time is Redis's, the clock the
ledger's ids use.

A new upstream is found two ways, each replacing the baseline once (whichever replica gets
there first says so in the log): the fingerprint of ``RIVYA_BASE_URL`` and the org key changed
(another account), or Rivya answers "not found" for a task the books say it made (a restarted
simulator, an account reset), asked only when the drift is unexplained.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from app.clock import Clock
from app.store.ledger import LedgerStore
from app.store.reconciliation import Baseline, BaselineStore, InFlight, Settled
from app.store.settlement import SettleQueue
from app.store.spend import SpendStore
from app.upstream.failures import UpstreamFailure, Why

log = logging.getLogger("app.reconciliation")

QUIET_ATTEMPTS = 20  # reads of the books around the balance, looking for a moment that agrees
QUIET_PAUSE_SECONDS = 0.05
MAX_LISTED_UNCERTAIN = 20_000  # reservations a baseline lists; past that, it keeps only a sum
WITNESS_MAX_AGE_MS = 86_400_000  # a task older than this may be past Rivya's retention
PROBE_EVERY_SECONDS = 60.0  # how often a replica asks Rivya about a witness, at most


def upstream_fingerprint(base_url: str, api_key: str) -> str:
    """Which upstream account the gateway speaks to, without saying anything of the key."""
    material = f"{base_url.rstrip('/')}\x00{api_key}".encode()
    return hashlib.sha256(material).hexdigest()[:16]


@dataclass(frozen=True)
class Books:
    """The gateway's totals over every team, deleted ones included."""

    spent: int
    reserved: int


class Baselines:
    def __init__(
        self,
        store: BaselineStore,
        spend: SpendStore,
        ledger: LedgerStore,
        queue: SettleQueue,
        balance: Callable[[], Awaitable[tuple[int, float | None]]],
        task_exists: Callable[[str], Awaitable[bool | None]],
        clock: Clock,
        *,
        upstream: str,
    ) -> None:
        self._store, self._spend, self._ledger, self._queue = store, spend, ledger, queue
        self._balance, self._task_exists, self._clock = balance, task_exists, clock
        self._upstream = upstream
        self._known: Baseline | None = None  # the last baseline read or written here
        self._next_probe = 0.0

    async def books(self) -> Books:
        flows = await self._spend.flows(await self._queue.teams())
        return Books(sum(f.spent for f in flows), sum(f.reserved for f in flows))

    async def set(self) -> Baseline:
        """Take Rivya's balance and the gateway's books now as the baseline."""
        baseline = await self._take()
        await self._store.put(baseline)
        self._known = baseline
        return baseline

    async def first(self, *, wait_for_quiet: bool) -> bool:
        """At start: set a baseline if there is none (the first of racing replicas wins).
        With ``wait_for_quiet``, only while nothing is reserved (False: try again later).
        True once a baseline exists."""
        if await self.current() is not None:
            return True
        baseline = await self._take()
        if wait_for_quiet and baseline.uncertain_credits:
            return False
        await self._store.put(baseline, only_if_absent=True)
        self._known = await self._store.get()
        return True

    async def _take(self) -> Baseline:
        spaces = await self._queue.teams()
        for _ in range(QUIET_ATTEMPTS):
            before, books = await self._store.in_flight(spaces), await self.books()
            balance = await self._balance()  # fresh: never a cache older than the books
            after, books_after = await self._store.in_flight(spaces), await self.books()
            if not before.pending_creates and (before.held, books) == (after.held, books_after):
                break
            await asyncio.sleep(QUIET_PAUSE_SECONDS)  # real time: only paces the attempts
        return self._baseline(balance, books, before)

    def _baseline(self, balance: tuple[int, float | None], books: Books, at: InFlight) -> Baseline:
        credits, rivya_time = balance
        listed = at.held if len(at.held) <= MAX_LISTED_UNCERTAIN else ()
        return Baseline(
            rivya_credits=credits,
            gateway_spent=books.spent,
            gateway_reserved=books.reserved,
            set_at_ms=at.at_ms,
            uncertain_credits=books.reserved,
            uncertain=listed,
            upstream=self._upstream,
            rivya_time_ms=None if rivya_time is None else int(rivya_time * 1000),
        )

    async def settled(self, baseline: Baseline) -> Settled:
        """What became of the reservations the baseline held: what of them is held still (the
        drift may be off by that much: all of them, for a baseline too busy to list them), and
        what Rivya had refunded of the others before it read the baseline's balance."""
        if not baseline.uncertain:
            return Settled(still_held=baseline.uncertain_credits, refunded_before=0)
        return await self._store.settled(baseline.uncertain, rivya_time_ms=baseline.rivya_time_ms)

    async def current(self) -> Baseline | None:
        """The baseline in Redis, for the upstream the gateway speaks to now.

        Nobody deletes it (a new one replaces it), so one this process has seen and Redis no
        longer holds means Redis lost its data: it is written back, marked restored, so the
        drift goes on counting from it and shows the credits whose books were lost, instead of
        starting again from nothing and hiding them. One taken against another upstream is
        replaced."""
        baseline = await self._store.get()
        if baseline is None and self._known is not None:
            restored = replace(self._known, restored_at_ms=int(self._clock.now() * 1000))
            if await self._store.put(restored, only_if_absent=True):
                log.error(
                    "redis lost the reconciliation baseline: restored from memory; the drift "
                    "now counts the credits whose books were lost",
                    extra={"baseline_set_at_ms": restored.set_at_ms},
                )
            baseline = await self._store.get()  # another replica's copy, if it was first
        known = self._known
        if (
            baseline is not None
            and known is not None
            and baseline.restored_at_ms is not None
            and baseline.set_at_ms < known.set_at_ms
        ):
            # Another replica restored an older baseline than the latest this one has seen (an
            # admin's reset it had not read yet): the latest wins, marked restored too.
            baseline = replace(known, restored_at_ms=baseline.restored_at_ms)
            await self._store.put(baseline)
        if baseline is not None and baseline.upstream not in (None, self._upstream):
            baseline = await self._replace(baseline, "the upstream account changed")
        if baseline is not None:
            self._known = baseline
        return baseline

    async def forgotten(self, baseline: Baseline) -> Baseline | None:
        """Ask Rivya about a task the books say it made (at most every minute): if Rivya says
        it has no such task, the upstream is not the one the baseline was taken against, and
        the baseline is replaced (returned). None when nothing says so."""
        now = self._clock.now()
        if now < self._next_probe:
            return None
        self._next_probe = now + PROBE_EVERY_SECONDS
        witness = await self._ledger.witness(await self._queue.teams(), since_ms=baseline.set_at_ms)
        if witness is None or witness.task is None:
            return None
        if baseline.set_at_ms - witness.at_ms > WITNESS_MAX_AGE_MS:
            return None  # it may be past Rivya's (undocumented) retention: no proof either way
        if await self._task_exists(witness.task) is not False:
            return None
        return await self._replace(
            baseline, f"Rivya does not know task {witness.task}, which the books say it made"
        )

    async def _replace(self, old: Baseline, why: str) -> Baseline | None:
        fresh = await self._take()
        if await self._store.put(fresh, replacing=old):
            log.warning(
                "the upstream changed (another account, or a restarted simulator): a new "
                "reconciliation baseline",
                extra={"reason": why, "old_baseline_set_at_ms": old.set_at_ms},
            )
            self._known = fresh
            return fresh
        self._known = await self._store.get()  # another replica replaced it first
        return self._known


async def task_exists_at(get: Callable[[str], Awaitable[object]], task_id: str) -> bool | None:
    """Whether Rivya knows the task: False only on Rivya's own "not found" (an edge's bare 404
    proves nothing), None when it cannot say."""
    try:
        await get(task_id)
    except UpstreamFailure as failure:
        if failure.why is Why.NOT_FOUND and not failure.may_have_acted:
            return False
        return None
    return True
