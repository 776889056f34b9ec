"""The baseline the reconciliation counts from: Rivya's balance and the gateway's books at one
moment, taken so that they agree, kept through a Redis data loss, and replaced when the
upstream is no longer the one it was taken against.

Taken so that they agree: the books are read *before* the balance (a task the books hold was
made, and charged, at Rivya before the balance was read), at a moment when no create is
half-way (admitted, not yet answered) and nothing moves between that read and a second one
after the balance (it tries for about a second). Then the only credits it cannot place yet are
the holds it had (store/baseline_holds.py: a task Rivya may have failed, and refunded, before
the balance was read; a create not yet answered, when no quiet moment came), listed: the
uncertainty is what of them is still held, and ends as they settle and are placed by Rivya's
own clock. Its time is Redis's, the clock the ledger's ids use.

A new upstream is found two ways, each replacing the baseline once (whichever replica gets
there first says so in the log): the fingerprint of ``RIVYA_BASE_URL`` and the org key changed
(another account), or Rivya answers "not found" for a task the books say it made (a restarted
simulator, an account reset), asked only when the drift is unexplained.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from app.clock import Clock
from app.domain.reconciliation import Baseline, InFlight, Placed
from app.store.baseline_holds import BaselineHolds
from app.store.ledger import LedgerStore
from app.store.reconciliation import BaselineStore
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
        holds: BaselineHolds,
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
        self._holds = holds
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
        if wait_for_quiet and (await self.books()).reserved:
            return False  # not quiet: Rivya is not asked (the start-up loop asks again soon)
        baseline = await self._take()
        if wait_for_quiet and baseline.uncertain_credits:
            return False
        await self._store.put(baseline, only_if_absent=True)
        self._known = await self._store.get()
        return True

    async def _take(self) -> Baseline:
        tenants = await self._queue.teams()
        for _ in range(QUIET_ATTEMPTS):
            before, books = await self._holds.in_flight(tenants), await self.books()
            balance = await self._balance()  # fresh: never a cache older than the books
            after, books_after = await self._holds.in_flight(tenants), await self.books()
            if not before.pending_creates and (before.holds, books) == (after.holds, books_after):
                break
            await asyncio.sleep(QUIET_PAUSE_SECONDS)  # real time: only paces the attempts
        return self._baseline(balance, books, before)

    def _baseline(self, balance: tuple[int, float | None], books: Books, at: InFlight) -> Baseline:
        credits, rivya_time = balance
        listed = len(at.holds) <= MAX_LISTED_UNCERTAIN
        return Baseline(
            rivya_credits=credits,
            gateway_spent=books.spent,
            gateway_reserved=books.reserved,
            set_at_ms=at.at_ms,
            uncertain_credits=books.reserved,
            uncertain=at.holds if listed else (),
            listed=listed,
            upstream=self._upstream,
            rivya_time_ms=None if rivya_time is None else int(rivya_time * 1000),
        )

    async def placed(self, baseline: Baseline) -> Placed:
        """What became of the holds the baseline could not place: what of them is uncertain
        still (the drift may be off by that much: all of them, for a baseline too busy to list
        them), and the drift the placed ones explain. What is newly placed is written to the
        baseline, so a task or claim that expires later changes nothing."""
        if not baseline.listed:
            return Placed(baseline.uncertain_credits, baseline.explained_credits, ())
        if not baseline.uncertain:
            return Placed(0, baseline.explained_credits, ())
        found = await self._holds.place(baseline.uncertain, rivya_time_ms=baseline.rivya_time_ms)
        if found.placed:
            placed = set(found.placed)
            kept = replace(
                baseline,
                uncertain=tuple(h for h in baseline.uncertain if h not in placed),
                explained_credits=baseline.explained_credits + found.explained,
            )
            # Replicas placing the same holds at once write the same baseline; a lost write
            # only means placing them again.
            await self._store.put(kept, replacing=baseline)
        return Placed(found.uncertain, baseline.explained_credits + found.explained, found.placed)

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
        # Only a task younger than a day (by the ledger's clock, Redis's): an older one may be
        # past Rivya's (undocumented) retention, and Rivya forgetting it would prove nothing.
        youngest_ms = int(time.time() * 1000) - WITNESS_MAX_AGE_MS
        since_ms = max(baseline.set_at_ms, youngest_ms)
        witness = await self._ledger.witness(await self._queue.teams(), since_ms=since_ms)
        if witness is None or witness.task is None or witness.at_ms < youngest_ms:
            return None
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
